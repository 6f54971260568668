"""The keras.io MNIST convnet: minidl against PyTorch eager and the im2col GEMM floor.

    python benchmarks/bench_convnet.py [--threads 1] [--rounds 3] [--steps 40] [--quick]

The model (issue 10, W5/W6): Conv2D 32 3x3 ReLU -> MaxPool 2 -> Conv2D 64 3x3 ReLU ->
MaxPool 2 -> Flatten -> Dropout 0.5 -> Dense 10 softmax, Adam, cross-entropy.

- W5: training time per epoch at batch 128: ``--steps`` steps are timed (after a warm-up
  epoch of the same steps, which also compiles the kernels) and scaled to the 469 steps of
  an epoch over the 60,000 MNIST training images. minidl runs ``model.fit`` (its whole
  training loop: batching, shuffling, metrics); PyTorch a standard eager loop
  (``zero_grad``, forward, ``cross_entropy``, ``backward``, ``Adam.step``, NCHW tensors).
- W6: ``predict`` on the 10,000 test images at batch 128 (PyTorch: ``eval()`` and
  ``no_grad()``), seconds per pass.
- floor: only the matrix products of the im2col formulation of the same step in NumPy
  float32 (conv1 forward and kernel gradient; conv2 forward, kernel gradient and input
  gradient; the Dense layer's three) and of the prediction pass: what an im2col engine
  cannot go below.
- peak RSS (``ru_maxrss``) of each process, data included.

Fairness: every measurement is a fresh process whose ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` are ``--threads``
(PyTorch also gets ``torch.set_num_threads``); the competitors run round-robin, the order
rotated every round, and the table reports medians. The table is printed in Markdown; the
script writes no file.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPETITORS = ("minidl", "torch", "floor")
EPOCH_STEPS = 469  # ceil(60,000 / 128)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


# ---- data --------------------------------------------------------------------------------


def load_mnist(n_train):
    """(x_train, y_train, x_test, y_test) as float32 NHWC images in [0, 1] and int labels;
    MNIST from MINIDL_DATA_DIR when there, else random images of the same shapes."""
    import numpy as np

    path = Path(os.environ.get("MINIDL_DATA_DIR", "")) / "mnist.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x_train"][:n_train], data["y_train"][:n_train]
            xt, yt = data["x_test"], data["y_test"]
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n_train)
        xt, yt = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10,
                                                                                      10000)
    scale = np.float32(1 / 255)
    return (x[..., None] * scale, y.astype(np.int64), xt[..., None] * scale,
            yt.astype(np.int64))


# ---- the three workers (each runs in its own process) --------------------------------------


def work_minidl(steps, batch):
    sys.path.insert(0, str(REPO_ROOT))
    import minidl as keras
    from minidl import layers

    x, y, xt, _ = load_mnist(steps * batch)
    y = keras.utils.to_categorical(y, 10)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: compiles the kernels
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    step = (time.perf_counter() - start) / steps
    model.predict(xt[:batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.predict(xt, batch_size=batch, verbose=0)
    return step, time.perf_counter() - start


def work_torch(steps, batch, threads):
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y, xt, _ = load_mnist(steps * batch)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    xt = torch.from_numpy(np.ascontiguousarray(xt.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(y)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()

    epoch()  # warm-up
    start = time.perf_counter()
    epoch()
    step = (time.perf_counter() - start) / steps
    model.eval()
    with torch.no_grad():
        model(xt[:batch])
        start = time.perf_counter()
        for i in range(0, len(xt), batch):
            model(xt[i:i + batch]).numpy()
    return step, time.perf_counter() - start


def work_floor(steps, batch):
    """Only the im2col formulation's matrix products, on arrays of the real shapes."""
    import numpy as np

    rng = np.random.default_rng(0)

    def f32(*shape):
        return rng.random(shape, dtype=np.float32)

    def products(n, train):
        m1, m2 = n * 26 * 26, n * 11 * 11
        cols1, w1, cols2, w2 = f32(m1, 9), f32(9, 32), f32(m2, 288), f32(288, 64)
        flat, w3 = f32(n, 1600), f32(1600, 10)

        def run():
            z1 = cols1 @ w1
            z2 = cols2 @ w2
            z3 = flat @ w3
            if train:  # kernel gradients of all three; input gradients of conv2 and Dense
                cols1.T @ z1
                cols2.T @ z2
                z2 @ w2.T
                flat.T @ z3
                z3 @ w3.T
        return run

    step_fn = products(batch, True)
    step_fn()
    start = time.perf_counter()
    for _ in range(steps):
        step_fn()
    step = (time.perf_counter() - start) / steps
    predict_fn = products(batch, False)
    predict_fn()
    start = time.perf_counter()
    for _ in range(-(-10000 // batch)):
        predict_fn()
    return step, time.perf_counter() - start


def worker(name, steps, batch, threads):
    if name == "minidl":
        step, predict = work_minidl(steps, batch)
    elif name == "torch":
        step, predict = work_torch(steps, batch, threads)
    else:
        step, predict = work_floor(steps, batch)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "predict": predict, "rss_mb": rss_mb}))


# ---- the driver --------------------------------------------------------------------------


def run_one(name, args):
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARIABLES})
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, __file__, "--worker", name, "--steps", str(args.steps),
               "--batch", str(args.batch), "--threads", str(args.threads)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(results, args):
    med = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
           for name, runs in results.items()}
    torch_ = med["torch"]
    lines = [
        f"Keras.io MNIST convnet, {args.threads} thread(s), batch {args.batch}, "
        f"median of {args.rounds} interleaved round(s), {args.steps} timed steps scaled to "
        f"{EPOCH_STEPS} a epoch.",
        "",
        "| | minidl | PyTorch eager | GEMM floor (im2col) |",
        "|---|---|---|---|",
    ]
    row = "| W5 train, ms a step | " + " | ".join(
        f"{med[n]['step'] * 1e3:.1f}" for n in COMPETITORS) + " |"
    lines.append(row)
    lines.append("| W5 train, s an epoch (469 steps) | " + " | ".join(
        f"{med[n]['step'] * EPOCH_STEPS:.1f}" for n in COMPETITORS) + " |")
    lines.append("| W6 predict 10k, s | " + " | ".join(
        f"{med[n]['predict']:.2f}" for n in COMPETITORS) + " |")
    lines.append("| peak RSS, MB | " + " | ".join(
        f"{med[n]['rss_mb']:.0f}" for n in COMPETITORS) + " |")
    lines += [
        "",
        f"W5 minidl / PyTorch: {med['minidl']['step'] / torch_['step']:.2f}x "
        f"(target <= 1.0x); minidl / floor: {med['minidl']['step'] / med['floor']['step']:.2f}x",
        f"W6 minidl / PyTorch: {med['minidl']['predict'] / torch_['predict']:.2f}x "
        f"(target <= 1.0x); minidl / floor: "
        f"{med['minidl']['predict'] / med['floor']['predict']:.2f}x",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="1 round of 5 steps (smoke test)")
    parser.add_argument("--worker", choices=COMPETITORS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 5
    if args.worker:
        return worker(args.worker, args.steps, args.batch, args.threads)
    results = {name: [] for name in COMPETITORS}
    for r in range(args.rounds):
        order = COMPETITORS[r % 3:] + COMPETITORS[:r % 3]
        for name in order:
            results[name].append(run_one(name, args))
            print(f"round {r + 1}: {name} {results[name][-1]}", file=sys.stderr)
    print(table(results, args))


if __name__ == "__main__":
    main()
