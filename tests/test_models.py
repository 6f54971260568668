"""Sequential: the Keras behaviours pinned by the Keras-face issue (item 7) each with their
own test, the rest of its API (evaluate/predict/train_on_batch/weights/saving/compile), the
float64 mode, the namespace, and the PyTorch-style loop on the same objects.

Where a test needs to know which samples a step saw, the labels are the sample ids and a
metric function records them (``Recorder``): the independent reference is then plain index
arithmetic (Keras's rules), never minidl's own output.
"""

import math
import re

import numpy as np
import pytest
from helpers import check_raises

import minidl
from minidl import Tensor, callbacks, layers, losses, optimizers
from minidl.errors import NotCompiledError, ShapeError


@pytest.fixture(autouse=True)
def _fresh_names():
    minidl.backend.clear_session()
    yield


def _linear_model(n_in=1, n_out=1, **dense_kwargs):
    return minidl.Sequential([layers.Input(shape=(n_in,)), layers.Dense(n_out, **dense_kwargs)])


class Recorder(callbacks.Callback):
    """Records what each batch of ``fit`` saw, using labels that are sample ids.

    ``metric`` goes to ``compile(metrics=[...])``: it stores ``(epoch, phase, y_true,
    y_pred)`` per batch, where the phase ("train" or "val") is set by the callback hooks
    around it; as a metric it is the mean of |y_true − y_pred| (History key ``seen``).
    """

    def __init__(self):
        super().__init__()
        self.epoch, self.phase, self.batches = None, None, []
        self.train_batch_ends = 0

        def seen(y_true, y_pred):
            y_true = np.asarray(y_true).copy()
            y_pred = np.asarray(y_pred).copy()
            self.batches.append((self.epoch, self.phase, y_true, y_pred))
            return np.abs(y_true - y_pred).ravel()

        self.metric = seen

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.phase = "train"

    def on_train_batch_end(self, batch, logs=None):
        self.train_batch_ends += 1
        self.phase = None

    def on_test_begin(self, logs=None):
        self.phase = "val"

    def on_test_end(self, logs=None):
        self.phase = None

    def ids(self, epoch, phase):
        """The sample ids of every batch of ``epoch`` in ``phase``, one array per batch."""
        return [y.ravel().astype(np.int64) for e, p, y, _ in self.batches
                if e == epoch and p == phase]


def _ids_data(n, features=1):
    """x of zeros (cheap) and y = the sample ids, as float32 columns."""
    return np.zeros((n, features), dtype="float32"), np.arange(n, dtype="float32")[:, None]


# ---- item 7: validation_split ------------------------------------------------------


def test_validation_split_takes_the_last_samples_before_shuffling():
    # Keras: the last n − floor(n·(1 − split)) samples validate: 60000 × 0.2 → 48000/12000.
    n, split = 60000, 0.2
    n_train = int(math.floor(n * (1 - split)))
    assert (n_train, n - n_train) == (48000, 12000)
    x, y = _ids_data(n)
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    history = model.fit(x, y, batch_size=4000, epochs=1, validation_split=split, shuffle=True,
                        verbose=0, callbacks=[recorder])

    train = np.concatenate(recorder.ids(0, "train"))
    np.testing.assert_array_equal(np.sort(train), np.arange(n_train))
    assert not np.array_equal(train, np.arange(n_train))  # the training part was shuffled
    val = np.concatenate(recorder.ids(0, "val"))
    np.testing.assert_array_equal(val, np.arange(n_train, n))  # in order: never shuffled
    # And val_loss is the loss on exactly those samples (the weights are the final ones).
    expected = model.evaluate(x[n_train:], y[n_train:], batch_size=n, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], expected, rtol=1e-6)


@pytest.mark.parametrize("n, split, n_val", [(10, 0.25, 3), (7, 0.5, 4), (100, 0.1, 10)])
def test_validation_split_rounds_like_keras(n, split, n_val):
    # n − floor(n·(1 − split)): 10 × 0.75 = 7.5 → 7 train, 3 validate.
    x, y = _ids_data(n)
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    model.fit(x, y, epochs=1, validation_split=split, verbose=0, callbacks=[recorder])
    np.testing.assert_array_equal(np.concatenate(recorder.ids(0, "val")),
                                  np.arange(n - n_val, n))


# ---- item 7: steps per epoch, batch sizes, shuffling -------------------------------


@pytest.mark.parametrize("n, steps", [(100, 4), (64, 2), (1, 1), (33, 2)])
def test_steps_per_epoch_is_ceil_n_over_batch_size_with_the_partial_batch_kept(n, steps):
    assert steps == math.ceil(n / 32)
    x, y = _ids_data(n)
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[recorder])  # batch_size → 32
    assert recorder.train_batch_ends == 2 * steps
    sizes = [len(ids) for ids in recorder.ids(0, "train")]
    assert sizes == [32] * (n // 32) + ([n % 32] if n % 32 else [])
    assert history.params["steps"] == steps


def test_training_part_is_reshuffled_every_epoch_and_validation_never():
    n, n_val = 40, 10
    x, y = _ids_data(n)
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    model.fit(x, y, batch_size=8, epochs=3, validation_split=n_val / n, verbose=0,
              callbacks=[recorder])
    orders = [np.concatenate(recorder.ids(e, "train")) for e in range(3)]
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(n - n_val))
        assert not np.array_equal(order, np.arange(n - n_val))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    for e in range(3):
        np.testing.assert_array_equal(np.concatenate(recorder.ids(e, "val")),
                                      np.arange(n - n_val, n))


def test_shuffle_false_keeps_the_order():
    x, y = _ids_data(20)
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0, callbacks=[recorder])
    for e in range(2):
        np.testing.assert_array_equal(np.concatenate(recorder.ids(e, "train")), np.arange(20))


def test_logged_values_are_epoch_means_weighted_by_batch_size():
    # Batches of 32, 32, 32 and 4: the epoch value is the mean over samples, not batches.
    x = np.random.default_rng(0).normal(size=(100, 1)).astype("float32")
    y = np.random.default_rng(1).normal(size=(100, 1)).astype("float32")
    recorder = Recorder()
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mae", metrics=[recorder.metric])
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[recorder])
    for e in range(2):
        # |y − y_pred| of each training batch, with the predictions the step itself made.
        errors = [np.abs(y_true - y_pred).ravel().astype(np.float64)
                  for ep, phase, y_true, y_pred in recorder.batches
                  if ep == e and phase == "train"]
        assert [len(b) for b in errors] == [32, 32, 32, 4]
        per_sample = np.concatenate(errors).mean()
        per_batch = np.mean([b.mean() for b in errors])
        assert not np.isclose(per_sample, per_batch, rtol=1e-4)  # the test can tell them apart
        np.testing.assert_allclose(history.history["seen"][e], per_sample, rtol=1e-6)
        np.testing.assert_allclose(history.history["loss"][e], per_sample, rtol=1e-6)


def test_fit_runs_the_test_hooks_around_validation_as_keras3():
    # Keras 3's fit validates through evaluate with its callbacks.
    events = []

    class Hooks(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch{epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append("train")

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            events.append("test")

        def on_test_end(self, logs=None):
            events.append("test_end")

        def on_epoch_end(self, epoch, logs=None):
            events.append("end")

    x, y = _ids_data(10)
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, validation_split=0.3, verbose=0,
              callbacks=[Hooks()])
    # 7 training samples: 2 steps of 4 and 3; 3 validation samples: 1 step.
    one_epoch = ["train", "train", "test_begin", "test", "test_end", "end"]
    assert events == ["epoch0", *one_epoch, "epoch1", *one_epoch]


# ---- item 7: verbose ---------------------------------------------------------------


def _fit_for_output(capsys, **kwargs):
    x = np.random.default_rng(0).normal(size=(100, 2)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = _linear_model(2)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    capsys.readouterr()
    history = model.fit(x, y, **kwargs)
    return history, capsys.readouterr().out


def test_verbose_0_prints_nothing(capsys):
    _, out = _fit_for_output(capsys, epochs=2, verbose=0, validation_split=0.2)
    assert out == ""


def test_verbose_1_prints_the_bar_with_epoch_lines_only_when_epochs_gt_1(capsys):
    _, out = _fit_for_output(capsys, epochs=2, verbose=1, validation_split=0.2)
    assert re.findall(r"^Epoch \d+/\d+$", out, re.M) == ["Epoch 1/2", "Epoch 2/2"]
    # The final state of each epoch's bar: steps, bar, time per step, the metrics, val_*.
    bars = re.findall(r"^3/3 ━+ .*$", out, re.M)
    assert len(bars) >= 2
    final = re.compile(r"3/3 ━+ \d+s \d+[mµu]?s/step - loss: \d+\.\d{4} - mae: \d+\.\d{4} "
                       r"- val_loss: \d+\.\d{4} - val_mae: \d+\.\d{4}")
    assert len(final.findall(out)) == 2, out

    _, out = _fit_for_output(capsys, epochs=1, verbose=1)
    assert "Epoch" not in out
    assert re.search(r"4/4 ━+ .*loss: \d+\.\d{4} - mae: \d+\.\d{4}", out)

    _, out = _fit_for_output(capsys, epochs=2)  # verbose="auto" is 1
    assert "Epoch 2/2" in out and "━" in out


def test_verbose_2_prints_one_line_per_epoch(capsys):
    _, out = _fit_for_output(capsys, epochs=3, verbose=2, validation_split=0.2)
    lines = out.strip().splitlines()
    assert len(lines) == 6
    line = re.compile(r"^3/3 - \d+s - \d+[mµu]?s/step - loss: \d+\.\d{4} - mae: \d+\.\d{4} - "
                      r"val_loss: \d+\.\d{4} - val_mae: \d+\.\d{4}$")
    for i in range(3):
        assert lines[2 * i] == f"Epoch {i + 1}/3"
        assert line.match(lines[2 * i + 1]), lines[2 * i + 1]
    assert "━" not in out


# ---- item 7: History ----------------------------------------------------------------


def test_history_keys_values_and_epochs(capsys):
    history, _ = _fit_for_output(capsys, epochs=3, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    for values in history.history.values():
        assert len(values) == 3
        assert all(type(v) is float for v in values)
    assert history.epoch == [0, 1, 2]
    assert history.model.history is history
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 3}


def test_metric_keys_are_the_strings_given():
    x, y = _ids_data(8)
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mean_absolute_error", "mse"])
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y))
    assert list(history.history) == ["loss", "mean_absolute_error", "mse", "val_loss",
                                     "val_mean_absolute_error", "val_mse"]


def test_model_history_is_the_latest_history():
    x, y = _ids_data(8)
    model = _linear_model()
    model.compile(optimizer="sgd", loss="mse")
    assert model.history is None
    first = model.fit(x, y, verbose=0)
    assert model.history is first
    second = model.fit(x, y, verbose=0)
    assert model.history is second and second is not first


# ---- item 7: Dropout only in fit's training steps ----------------------------------


def _dropout_model():
    # Dropout(0.5) then a sum of the features (a ones kernel): an output differs from the
    # plain sum exactly when dropout was active.
    model = minidl.Sequential([layers.Input(shape=(6,)), layers.Dropout(0.5),
                               layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    # A learning rate so small that the ones kernel does not move in float32.
    model.compile(optimizer=optimizers.SGD(learning_rate=1e-30), loss="mse")
    return model


def test_dropout_is_active_only_in_the_training_steps_of_fit():
    x = np.random.default_rng(0).uniform(1, 2, size=(40, 6)).astype("float32")
    plain = x.astype(np.float64).sum(axis=1, keepdims=True)
    y = np.arange(40, dtype="float32")[:, None]  # the sample ids
    loss = ((plain - y) ** 2).mean()
    model = _dropout_model()

    # predict and evaluate: deterministic, no dropout.
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, plain, rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), loss, rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x), plain, rtol=1e-6)
    np.testing.assert_allclose(model.test_on_batch(x, y), loss, rtol=1e-6)

    # fit: the training predictions had dropout, the validation ones did not.
    recorder = Recorder()
    model.compile(optimizer=optimizers.SGD(learning_rate=1e-30), loss="mse",
                  metrics=[recorder.metric])
    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, verbose=0,
                        callbacks=[recorder])
    np.testing.assert_array_equal(model.layers[1].kernel.to_numpy(), 1.0)
    # Each training prediction is 2 × the sum of a subset of its sample's features (inverted
    # dropout at rate 0.5); most differ from the plain sum.
    subsets = np.array([[(m >> i) & 1 for i in range(6)] for m in range(64)], dtype=np.float64)
    ids = np.concatenate(recorder.ids(0, "train"))
    train_pred = np.concatenate([p for _, phase, _, p in recorder.batches if phase == "train"])
    for i, pred in zip(ids, train_pred.ravel()):
        assert np.abs(2 * subsets @ x[i] - pred).min() < 1e-5
    assert np.mean(~np.isclose(train_pred.ravel(), plain[ids].ravel())) > 0.8
    val_pred = np.concatenate([p for _, phase, _, p in recorder.batches if phase == "val"])
    np.testing.assert_allclose(val_pred, plain[30:], rtol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"][0],
                               ((plain[30:] - y[30:]) ** 2).mean(), rtol=1e-6)

    # Called directly: training=True drops, each call a new mask; the default does not.
    a, b = model(x, training=True).to_numpy(), model(x, training=True).to_numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(model(x).to_numpy(), plain, rtol=1e-6)


# ---- item 7: summary ---------------------------------------------------------------


def _seed_model():
    # seed 004's model: Flatten → Dense(128, relu) → Dropout(0.2) → Dense(10, softmax)
    return minidl.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def test_summary_before_the_model_knows_its_input_raises_a_clear_error():
    model = minidl.Sequential([layers.Dense(4), layers.Dense(1)])
    error = check_raises(ValueError, "input shape", model.summary)
    assert "input_shape" in str(error) and "Input(shape" in str(error)
    assert "build" in str(error)


def test_summary_prints_kerass_table_and_footers(capsys):
    model = _seed_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "sequential"'
    assert re.search(r"┃ Layer \(type\) +┃ Output Shape +┃ +Param # ┃", text)
    # (28·28 + 1)·128 = 100,480 and (128 + 1)·10 = 1,290 parameters.
    assert re.search(r"│ flatten \(Flatten\) +│ \(None, 784\) +│ +0 │", text)
    assert re.search(r"│ dense \(Dense\) +│ \(None, 128\) +│ +100,480 │", text)
    assert re.search(r"│ dropout \(Dropout\) +│ \(None, 128\) +│ +0 │", text)
    assert re.search(r"│ dense_1 \(Dense\) +│ \(None, 10\) +│ +1,290 │", text)
    # 101,770 float32 numbers = 407,080 bytes = 397.54 KB.
    assert " Total params: 101,770 (397.54 KB)" in lines
    assert " Trainable params: 101,770 (397.54 KB)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines
    assert "Optimizer params" not in text
    # Without print_fn it goes to stdout.
    capsys.readouterr()
    model.summary()
    assert capsys.readouterr().out.strip() == text.strip()


def test_summary_after_fit_counts_the_optimizer_as_keras3():
    model = _seed_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(size=(4, 28, 28)).astype("float32")
    model.train_on_batch(x, np.array([1, 2, 3, 4]))
    lines = []
    model.summary(print_fn=lines.append)
    # Adam: 2 slots per weight + the iteration counter (int64) + the learning rate.
    n_opt = 2 * 101_770 + 2
    opt_bytes = 2 * 101_770 * 4 + 8 + 4
    assert n_opt == 203_542 and f"{opt_bytes / 1024:.2f}" == "795.09"
    assert " Optimizer params: 203,542 (795.09 KB)" in lines
    # Keras 3 counts the optimizer in the total: 305,312 numbers, 1,221,252 bytes.
    assert f"{(101_770 * 4 + opt_bytes) / 1024**2:.2f}" == "1.16"
    assert " Total params: 305,312 (1.16 MB)" in lines
    assert " Trainable params: 101,770 (397.54 KB)" in lines


def test_summary_counts_non_trainable_params():
    model = minidl.Sequential([layers.Input(shape=(128,)), layers.Dense(10, trainable=False)])
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 1,290 (5.04 KB)" in lines  # 5160 bytes
    assert " Trainable params: 0 (0.00 B)" in lines
    assert " Non-trainable params: 1,290 (5.04 KB)" in lines


# ---- item 7: initial_epoch ---------------------------------------------------------


def test_initial_epoch_runs_the_remaining_epochs(capsys):
    history, out = _fit_for_output(capsys, epochs=3, initial_epoch=1, verbose=1)
    assert history.epoch == [1, 2]
    assert all(len(v) == 2 for v in history.history.values())
    assert re.findall(r"^Epoch \d+/\d+$", out, re.M) == ["Epoch 2/3", "Epoch 3/3"]
    history, out = _fit_for_output(capsys, epochs=2, initial_epoch=2, verbose=1)
    assert history.epoch == [] and history.history == {} and out == ""


# ---- evaluate / predict / *_on_batch -----------------------------------------------


def _data(n=12, n_in=3, n_out=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, n_in)).astype("float32"),
            rng.normal(size=(n, n_out)).astype("float32"))


def test_evaluate_return_forms():
    x, y = _data()
    model = _linear_model(3, 2)
    model.compile(optimizer="sgd", loss="mse")
    pred = model.predict(x, verbose=0).astype(np.float64)
    mse, mae = ((pred - y) ** 2).mean(), np.abs(pred - y).mean()
    loss = model.evaluate(x, y, verbose=0)
    assert type(loss) is float
    np.testing.assert_allclose(loss, mse, rtol=1e-6)

    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])
    result = model.evaluate(x, y, batch_size=5, verbose=0)  # batches 5, 5, 2
    assert isinstance(result, list) and len(result) == 3
    np.testing.assert_allclose(result, [mse, mae, mse], rtol=1e-6)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(result) == ["loss", "mae", "mse"]
    np.testing.assert_allclose(list(result.values()), [mse, mae, mse], rtol=1e-6)
    assert model.metrics_names == ["loss", "mae", "mse"]


def test_predict_returns_numpy_in_batches():
    x, _ = _data(n=10)
    model = _linear_model(3, 2)
    calls = []
    counter = callbacks.LambdaCallback(on_predict_batch_end=lambda batch, logs: calls.append(batch))
    out = model.predict(x, batch_size=3, verbose=0, callbacks=[counter])
    assert type(out) is np.ndarray and out.dtype == np.float32 and out.shape == (10, 2)
    assert calls == [0, 1, 2, 3]  # ceil(10 / 3) batches
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    # Not bitwise: BLAS may pick another kernel (summation order) for 3 rows than for 10.
    np.testing.assert_allclose(model.predict(x, batch_size=10, verbose=0), out, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), out, rtol=1e-6, atol=1e-7)


def test_train_on_batch_and_test_on_batch():
    x, y = _data()
    model = _linear_model(3, 2)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    pred = x @ kernel + bias
    mse, mae = ((pred - y) ** 2).mean(), np.abs(pred - y).mean()

    np.testing.assert_allclose(model.test_on_batch(x, y), [mse, mae], rtol=1e-6)
    np.testing.assert_array_equal(model.get_weights()[0], kernel.astype("float32"))

    result = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose([result["loss"], result["mae"]], [mse, mae], rtol=1e-6)
    # One SGD step: w − lr · ∂mse/∂w, with ∂mse/∂pred = 2(pred − y)/size.
    residual = 2 * (pred - y) / y.size
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, kernel - 0.1 * x.T @ residual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_bias, bias - 0.1 * residual.sum(0), rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations == 1


def test_mse_with_n_labels_and_n_by_1_outputs_is_elementwise():
    # Labels (N,) against predictions (N, 1): Keras expands the labels; a (N, N) broadcast
    # would be a silently wrong loss.
    x = np.arange(5, dtype="float32")[:, None]
    y = np.array([1.0, -2.0, 0.5, 3.0, 0.0], dtype="float32")
    model = _linear_model(kernel_initializer="ones", bias_initializer="zeros")
    model.compile(optimizer="sgd", loss="mse")
    elementwise = ((x[:, 0] - y) ** 2).mean()
    broadcast = ((x - y[None, :]) ** 2).mean()
    assert not np.isclose(elementwise, broadcast)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), elementwise, rtol=1e-6)
    history = model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], elementwise, rtol=1e-6)


# ---- weights -----------------------------------------------------------------------


def test_get_weights_set_weights_round_trip_and_checks():
    x, _ = _data()
    a = minidl.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="relu"),
                           layers.Dense(2)])
    b = minidl.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="relu"),
                           layers.Dense(2)])
    assert not np.array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    b.set_weights(weights)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    weights[0][...] = 9.0  # copies: the model is unchanged
    assert not (a.get_weights()[0] == 9.0).any()

    before = b.get_weights()
    check_raises(ShapeError, "4 weights.*3 arrays", b.set_weights, before[:3])
    bad = [before[0], before[1], np.zeros((2, 4)), before[3]]
    check_raises(ShapeError, r"\(4, 2\).*\(2, 4\)", b.set_weights, bad)
    for old, new in zip(before, b.get_weights()):
        np.testing.assert_array_equal(old, new)


# ---- saving ------------------------------------------------------------------------


def test_save_load_model_round_trip(tmp_path):
    x, y = _data()
    model = minidl.Sequential([layers.Input(shape=(3,)), layers.Dense(5, activation="tanh"),
                               layers.Dropout(0.3), layers.Dense(2)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    path = tmp_path / "model.minidl"
    model.save(path)
    loaded = minidl.models.load_model(path)

    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert type(loaded.optimizer) is optimizers.Adam
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    assert loaded.loss == "mse" and loaded.metrics_names == ["loss", "mae"]
    # The optimizer state came back too: resuming fit from the same seed (epoch e's shuffle
    # and Dropout masks derive from the seed, the layer and e) is the same, bitwise.
    for resumed in (model, loaded):
        minidl.utils.set_random_seed(5)
        resumed.fit(x, y, batch_size=4, epochs=3, initial_epoch=2, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)

    not_compiled = minidl.models.load_model(path, compile=False)
    assert not not_compiled.compiled


def test_save_weights_load_weights(tmp_path):
    x, _ = _data()
    a = _linear_model(3, 2)
    b = _linear_model(3, 2)
    path = tmp_path / "w.weights.npz"
    a.save_weights(path)
    b.load_weights(path)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    c = _linear_model(3, 4)
    before = c.get_weights()
    with pytest.raises(ValueError):
        c.load_weights(path)
    for old, new in zip(before, c.get_weights()):
        np.testing.assert_array_equal(old, new)


# ---- compile -----------------------------------------------------------------------


def test_compile_defaults_to_rmsprop():
    model = _linear_model()
    model.compile(loss="mse")
    assert type(model.optimizer) is optimizers.RMSprop
    assert model.optimizer.learning_rate == pytest.approx(0.001)  # Keras's default


@pytest.mark.parametrize(
    "kwargs, bad, valid",
    [
        ({"optimizer": "adamx", "loss": "mse"}, "adamx", "adam"),
        ({"optimizer": "sgd", "loss": "mean_sq_error"}, "mean_sq_error", "mean_squared_error"),
        ({"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]}, "acuracy", "accuracy"),
    ],
)
def test_unknown_strings_in_compile_raise_value_error_listing_valid_names(kwargs, bad, valid):
    model = _linear_model()
    error = check_raises(ValueError, re.escape(repr(bad)), model.compile, **kwargs)
    assert valid in str(error)
    assert not model.compiled


def test_unknown_activation_and_initializer_strings_list_valid_names():
    error = check_raises(ValueError, "'rellu'", layers.Dense, 2, activation="rellu")
    assert "relu" in str(error) and "softmax" in str(error)
    error = check_raises(ValueError, "'he'", layers.Dense, 2, kernel_initializer="he")
    assert "he_normal" in str(error)


def test_fit_and_evaluate_before_compile_raise_not_compiled_error():
    x, y = _data()
    model = _linear_model(3, 2)
    check_raises(NotCompiledError, r"compile\(\) before fit\(\)", model.fit, x, y)
    check_raises(ValueError, r"compile\(\) before evaluate\(\)", model.evaluate, x, y)
    assert model.predict(x, verbose=0).shape == (12, 2)  # predict needs no compile


# ---- dtypes ------------------------------------------------------------------------


def test_set_floatx_float64_runs_the_whole_model_in_float64():
    minidl.config.set_floatx("float64")
    assert minidl.config.floatx() == "float64"
    x, y = _data()
    model = minidl.Sequential([layers.Input(shape=(3,)), layers.Dense(4, activation="relu"),
                               layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # float32 data is cast
    assert all(w.dtype == np.float64 for w in model.get_weights())
    slots = model.optimizer.get_state()["slots"]
    assert slots and all(a.dtype == np.float64 for arrays in slots.values() for a in arrays)
    assert model.predict(x, verbose=0).dtype == np.float64
    assert model(x).dtype == np.float64


def test_float64_data_into_a_float32_model_keeps_float32_weights():
    x, y = (a.astype(np.float64) for a in _data())
    model = _linear_model(3, 2)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(x, verbose=0).dtype == np.float32


# ---- namespace ---------------------------------------------------------------------


def test_keras_namespace():
    import minidl as keras

    assert keras.Sequential is keras.models.Sequential
    assert isinstance(keras.Input(shape=(3,)), keras.layers.InputLayer)
    for name in ("Dense", "Dropout", "Flatten", "Activation", "ReLU", "LeakyReLU", "Softmax",
                 "InputLayer", "Input"):
        assert hasattr(keras.layers, name), name
    assert callable(keras.models.load_model)
    assert callable(keras.datasets.mnist.load_data)
    assert callable(keras.utils.to_categorical) and callable(keras.utils.set_random_seed)
    assert callable(keras.config.set_floatx) and keras.config.floatx() == "float32"
    for module, name in [(keras.optimizers, "Adam"), (keras.losses, "MeanSquaredError"),
                         (keras.metrics, "Accuracy"), (keras.activations, "relu"),
                         (keras.initializers, "GlorotUniform"), (keras.callbacks, "History")]:
        assert hasattr(module, name), (module.__name__, name)

    from minidl.layers import Dense, Dropout, Flatten
    from minidl.models import Sequential, load_model

    assert Dense is keras.layers.Dense and Dropout and Flatten and load_model
    model = Sequential([Flatten(input_shape=(2, 2)), Dense(3), Dropout(0.1)])
    assert model.output_shape == (None, 3)


# ---- PyTorch style -----------------------------------------------------------------


def test_parameters_and_zero_grad():
    x, y = _data()
    model = minidl.Sequential([layers.Input(shape=(3,)), layers.Dense(4, trainable=False),
                               layers.Dense(2)])
    params = model.parameters()
    assert params == model.trainable_weights and len(params) == 2
    assert all(isinstance(p, Tensor) and p.requires_grad for p in params)
    loss = losses.MeanSquaredError()(y, model(x, training=True))
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in params)
    model.zero_grad()
    assert all(w.grad is None for w in model.weights)


@pytest.mark.parametrize("make_optimizer", [
    lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9),
    lambda: optimizers.Adam(learning_rate=0.01),
], ids=["sgd_momentum", "adam"])
def test_pytorch_style_loop_equals_fits_update_bitwise(make_optimizer):
    x, y = _data(n=16, n_in=5, n_out=3)

    def make_model():
        minidl.utils.set_random_seed(3)
        return minidl.Sequential([layers.Input(shape=(5,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="softmax")])

    keras_model, torch_style = make_model(), make_model()
    for a, b in zip(keras_model.get_weights(), torch_style.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same seed draws the same weights
    labels = np.argmax(y, axis=1)

    keras_model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy")
    keras_model.fit(x, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)

    optimizer = make_optimizer()
    loss_fn = losses.SparseCategoricalCrossentropy()
    for _ in range(2):
        torch_style.zero_grad()
        loss = loss_fn(labels, torch_style(x, training=True))
        loss.backward()
        optimizer.step(torch_style.parameters())
    for a, b in zip(keras_model.get_weights(), torch_style.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_input_shape_and_get_layer():
    model = minidl.Sequential([minidl.layers.Dense(4, input_shape=(3,), name="first"),
                               minidl.layers.Dense(2, name="second")])
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    assert model.get_layer("second") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match="No such layer: 'third'"):
        model.get_layer("third")
    with pytest.raises(ValueError, match="input shape"):
        _ = minidl.Sequential([minidl.layers.Dense(2)]).input_shape
