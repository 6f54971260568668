"""The competitors of ``bench_mlp.py``, each run alone in a fresh process.

    python benchmarks/_workloads.py '{"competitor": "torch", "task": "train", ...}'

``bench_mlp.py`` starts one process per (round, competitor) with the thread-count environment
variables already set (or, for the "default" setting of ``--modes``, all removed), and reads
the JSON object this prints on its last line. A fresh process per measurement is what keeps
the comparison fair: BLAS and OpenMP read their thread counts when they load, the peak RSS
belongs to one competitor alone, and no library's warm caches help another.

Competitors:

- ``minidl``: the Keras API exactly as a user writes it (``Sequential``, ``compile``, ``fit``
  with ``verbose=0``); epochs are timed by a callback. JIT on or off is chosen by the
  ``MINIDL_JIT`` environment variable the parent sets.
- ``torch``: a standard PyTorch eager loop with default settings: ``nn.Sequential``,
  ``CrossEntropyLoss``, ``Adam(lr=1e-3)``, batches gathered by indexing shuffled tensors (no
  ``DataLoader``, whose per-sample collation would be unfair to PyTorch).
- ``floor``: only the matrix products of the same training step (or forward pass), in NumPy
  float32 on preallocated buffers: the time no engine on this BLAS can beat.

Tasks: ``train`` (seconds per epoch; test accuracy afterwards), ``predict`` (seconds per
pass over the test images), ``import`` (seconds to import one module). Spec keys used only by
``--modes``: ``threads`` null (leave PyTorch's threads alone), ``epoch_images`` (epochs over
the first N training images), ``budget_s`` (stop after the epoch that passes it, never before
the second) and ``probe_threads`` (report the thread counts the libraries chose).
"""

import json
import resource
import sys
import time

IMAGE_SIZE = 28 * 28
NUM_CLASSES = 10


# ---- data -------------------------------------------------------------------------------
def scale(images):
    """``images / 255`` as float32, without the float64 temporary that ``x / 255.0`` makes.

    The temporary would add 376 MB to every competitor's peak RSS for the training set.
    """
    import numpy as np

    out = images.astype(np.float32)
    out /= np.float32(255)
    return out


def load_mnist(spec):
    """MNIST scaled to [0, 1] in float32, cut to ``spec['n_train']`` / ``spec['n_test']``.

    minidl loads it as its users do (``minidl.datasets.mnist.load_data()``, which finds the
    file through ``MINIDL_DATA_DIR``); the others read the same file with ``np.load`` so that
    importing minidl does not count in their time or memory. Both are one ``np.load`` of the
    same archive.
    """
    import numpy as np

    if spec["competitor"] == "minidl":
        import minidl

        (x, y), (x_test, y_test) = minidl.datasets.mnist.load_data()
    else:
        with np.load(spec["data_path"], allow_pickle=False) as archive:
            x, y = archive["x_train"], archive["y_train"]
            x_test, y_test = archive["x_test"], archive["y_test"]
    n_train, n_test = spec.get("n_train"), spec.get("n_test")
    return scale(x[:n_train]), y[:n_train], scale(x_test[:n_test]), y_test[:n_test]


# ---- minidl -----------------------------------------------------------------------------
def minidl_model(keras, hidden, dropout):
    """The seeds' model shape: Flatten, ``Dense(units, relu)`` [+ Dropout] per hidden layer,
    ``Dense(10, softmax)``."""
    layers = [keras.layers.Flatten(input_shape=(28, 28))]
    for units in hidden:
        layers.append(keras.layers.Dense(units, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    return keras.Sequential(layers)


def epoch_subset(spec, x, y):
    """The first ``spec['epoch_images']`` training images (all if unset) as views.

    The whole set stays loaded, so the peak RSS is that of a full run.
    """
    n = spec.get("epoch_images")
    return (x[:n], y[:n]) if n else (x, y)


def out_of_time(spec, times):
    """True once ``times`` has two epochs (one measured) and used ``spec['budget_s']``.

    ``bench_mlp.py --modes`` sets the budget so that a thread setting whose epochs collapse
    on a busy machine (tens of milliseconds a step) still ends in bounded time.
    """
    budget = spec.get("budget_s")
    return budget is not None and len(times) >= 2 and sum(times) >= budget


def minidl_train(spec):
    import minidl as keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall time of every epoch of ``fit``, as a user would measure it."""

        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)
            if spec.get("probe_threads") and epoch == 0:
                # Inside fit, where minidl may have limited BLAS; after the epoch's time.
                # minidl has loaded threadpoolctl itself, so this adds nothing to its RSS.
                self.blas_in_fit = blas_threads()
            if out_of_time(spec, self.times):
                self.model.stop_training = True

    x, y, x_test, y_test = load_mnist(spec)
    x, y = epoch_subset(spec, x, y)
    keras.utils.set_random_seed(spec["seed"])
    model = minidl_model(keras, spec["hidden"], spec["dropout"])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x, y, batch_size=spec["batch_size"], epochs=spec["epochs"], verbose=0,
              callbacks=[timer])
    result = {"epoch_times": timer.times}
    if getattr(timer, "blas_in_fit", None) is not None:
        result["blas_in_fit"] = timer.blas_in_fit
    if spec.get("accuracy"):
        logs = model.evaluate(x_test, y_test, batch_size=1024, verbose=0, return_dict=True)
        result["accuracy"] = float(logs["accuracy"])
    return result


def minidl_predict(spec):
    import minidl as keras

    _, _, x_test, _ = load_mnist(spec)
    keras.utils.set_random_seed(spec["seed"])
    model = minidl_model(keras, spec["hidden"], spec["dropout"])

    def run():
        return model.predict(x_test, batch_size=spec["batch_size"], verbose=0)

    return {"predict_times": time_repeats(run, spec["reps"])}


# ---- PyTorch ----------------------------------------------------------------------------
def torch_model(nn, hidden, dropout):
    """The same model in PyTorch; the softmax lives in the loss (or in predict)."""
    layers, width = [nn.Flatten()], IMAGE_SIZE
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = units
    layers.append(nn.Linear(width, NUM_CLASSES))
    return nn.Sequential(*layers)


def torch_setup(spec):
    import torch

    # Same thread count as everyone (the environment variables are set too): PyTorch's
    # intra-op pool otherwise takes every core. ``threads`` None (bench_mlp.py --modes,
    # "default") leaves PyTorch to choose, as a user's script does.
    if spec["threads"] is not None:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    return torch


def torch_train(spec):
    import numpy as np

    torch = torch_setup(spec)
    from torch import nn

    x, y, x_test, y_test = load_mnist(spec)
    x, y = epoch_subset(spec, x, y)
    x, x_test = torch.from_numpy(x), torch.from_numpy(x_test)  # shares the memory
    y = torch.from_numpy(y.astype(np.int64))  # CrossEntropyLoss wants int64 class indices
    model = torch_model(nn, spec["hidden"], spec["dropout"])
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, batch_size = len(x), spec["batch_size"]
    times = []
    for _ in range(spec["epochs"]):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        total_loss = 0.0  # a standard loop tracks the loss, as fit() does
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
        times.append(time.perf_counter() - start)
        if out_of_time(spec, times):
            break
    result = {"epoch_times": times}
    if spec.get("accuracy"):
        model.eval()
        with torch.no_grad():
            predicted = model(x_test).argmax(dim=1).numpy()
        result["accuracy"] = float(np.mean(predicted == y_test))
    return result


def torch_predict(spec):
    torch = torch_setup(spec)
    from torch import nn

    _, _, x_test, _ = load_mnist(spec)
    x_test = torch.from_numpy(x_test)
    model = torch_model(nn, spec["hidden"], spec["dropout"]).eval()
    batch_size = spec["batch_size"]

    def run():
        # Keras's predict returns the softmax probabilities as one NumPy array: do the same.
        with torch.no_grad():
            parts = [torch.softmax(model(x_test[lo:lo + batch_size]), dim=1)
                     for lo in range(0, len(x_test), batch_size)]
            return torch.cat(parts).numpy()

    return {"predict_times": time_repeats(run, spec["reps"])}


# ---- the BLAS floor ---------------------------------------------------------------------
class MatmulFloor:
    """The matrix products of one dense-network step, on preallocated float32 buffers.

    For layers ``a_l = f(a_{l-1} @ W_l)`` the step's products are, forward, ``a_{l-1} @ W_l``
    for every layer and, backward, ``dW_l = a_{l-1}^T @ dz_l`` for every layer and
    ``da_{l-1} = dz_l @ W_l^T`` for every layer but the first (the input needs no gradient).
    Everything else a real step does (bias, activations, loss, optimizer, batch gathering)
    is left out, so this is a lower bound for any engine that uses the same BLAS.
    """

    def __init__(self, sizes, seed):
        import numpy as np

        self.np = np
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.weights = [rng.standard_normal((m, n), dtype=np.float32) * np.float32(0.05)
                        for m, n in zip(sizes[:-1], sizes[1:])]
        self.weight_grads = [np.empty_like(w) for w in self.weights]
        self._buffers = {}

    def buffers(self, batch):
        """Activations and their gradients for one batch size (the last batch may be short)."""
        if batch not in self._buffers:
            rng = self.np.random.default_rng(batch)
            acts = [self.np.empty((batch, n), self.np.float32) for n in self.sizes[1:]]
            grads = [rng.standard_normal((batch, n), dtype=self.np.float32)
                     for n in self.sizes[1:]]
            self._buffers[batch] = (acts, grads)
        return self._buffers[batch]

    def forward(self, xb):
        matmul = self.np.matmul
        acts, _ = self.buffers(len(xb))
        inputs = xb
        for w, out in zip(self.weights, acts):
            matmul(inputs, w, out=out)
            inputs = out
        return inputs

    def step(self, xb):
        matmul = self.np.matmul
        self.forward(xb)
        acts, grads = self.buffers(len(xb))
        layer_inputs = [xb, *acts[:-1]]
        for layer in reversed(range(len(self.weights))):
            matmul(layer_inputs[layer].T, grads[layer], out=self.weight_grads[layer])
            if layer > 0:
                matmul(grads[layer], self.weights[layer].T, out=grads[layer - 1])


def floor_sizes(spec):
    return [IMAGE_SIZE, *spec["hidden"], NUM_CLASSES]


def floor_train(spec):
    x, _, _, _ = load_mnist(spec)
    x = x.reshape(len(x), IMAGE_SIZE)  # a view: rows stay contiguous like a gathered batch
    floor = MatmulFloor(floor_sizes(spec), spec["seed"])
    n, batch_size = len(x), spec["batch_size"]
    times = []
    for _ in range(spec["epochs"]):
        start = time.perf_counter()
        for lo in range(0, n, batch_size):
            floor.step(x[lo:lo + batch_size])
        times.append(time.perf_counter() - start)
    return {"epoch_times": times}


def floor_predict(spec):
    _, _, x_test, _ = load_mnist(spec)
    x_test = x_test.reshape(len(x_test), IMAGE_SIZE)
    floor = MatmulFloor(floor_sizes(spec), spec["seed"])
    batch_size = spec["batch_size"]

    def run():
        for lo in range(0, len(x_test), batch_size):
            floor.forward(x_test[lo:lo + batch_size])

    return {"predict_times": time_repeats(run, spec["reps"])}


# ---- running one measurement ------------------------------------------------------------
def time_repeats(run, reps):
    """Seconds of each of ``reps`` calls of ``run``, after one untimed warm-up call."""
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def blas_threads():
    """The thread counts of the BLAS libraries loaded now (threadpoolctl), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return sorted({info["num_threads"] for info in threadpool_info()
                   if info.get("user_api") == "blas"})


def threads_seen(result):
    """The thread counts this process's libraries settled on, read after the measurement.

    ``torch``: ``torch.get_num_threads()`` where PyTorch is loaded; ``blas``: the thread
    counts of the BLAS libraries loaded, which is NumPy's for minidl; ``blas_in_fit``:
    minidl's, read inside ``fit`` at the end of the first epoch (moved out of ``result``).
    """
    seen = {}
    if "torch" in sys.modules:
        seen["torch"] = sys.modules["torch"].get_num_threads()
    blas = blas_threads()
    if blas is not None:
        seen["blas"] = blas
    if "blas_in_fit" in result:
        seen["blas_in_fit"] = result.pop("blas_in_fit")
    return seen


def import_time(spec):
    """Seconds to import ``spec['module']`` in this fresh interpreter (start-up excluded)."""
    import importlib

    start = time.perf_counter()
    importlib.import_module(spec["module"])
    seconds = time.perf_counter() - start
    # Also report whether minidl pulled in numba or torch at import (it should not).
    return {"import_s": seconds, "numba_loaded": "numba" in sys.modules,
            "torch_loaded": "torch" in sys.modules}


TASKS = {
    ("minidl", "train"): minidl_train,
    ("minidl", "predict"): minidl_predict,
    ("torch", "train"): torch_train,
    ("torch", "predict"): torch_predict,
    ("floor", "train"): floor_train,
    ("floor", "predict"): floor_predict,
}


def main(argv):
    spec = json.loads(argv[1])
    if spec["task"] == "import":
        result = import_time(spec)
    else:
        result = TASKS[spec["competitor"], spec["task"]](spec)
        # ru_maxrss is in KiB on Linux: the peak resident memory of this process so far.
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if spec.get("probe_threads"):  # after reading the peak RSS: the probe is not in it
            result["threads_seen"] = threads_seen(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
