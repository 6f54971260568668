"""The fault catalogue (docs/ERRORS.md): one test per case.

Each test checks three things: the exception type; a message naming the argument and the
value received (and the fix where there is one); and that nothing changed: weights,
optimizer state (iterations and slots), minidl's random streams, ``model.history`` and
files on disk. The model under test has already taken optimizer steps, so its optimizer
state is not trivially empty.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import minidl
from minidl import Tensor, callbacks, layers, losses, optimizers, validation
from minidl.errors import (
    BackendUnavailableError,
    DTypeError,
    GraphError,
    MinidlError,
    NonFiniteError,
    NotCompiledError,
    ShapeError,
)

N, FEATURES, CLASSES = 100, 4, 3


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def make_model(loss="sparse_categorical_crossentropy", compile=True, trained=True,
               optimizer="adam", input_shape=(FEATURES,)):
    minidl.layers.clear_session()
    model = minidl.Sequential([
        layers.Dense(8, activation="relu", input_shape=input_shape),
        layers.Dense(CLASSES, activation="softmax"),
    ])
    if compile:
        model.compile(optimizer=optimizer, loss=loss)
        if trained:  # a few steps, so the optimizer has slots and iterations to protect
            x, y = data()
            if loss in ("categorical_crossentropy", "mse"):
                y = np.eye(CLASSES, dtype="float32")[y]
            model.fit(x[:20], y[:20], batch_size=10, epochs=1, verbose=0)
    return model


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, FEATURES)).astype("float32"), rng.integers(0, CLASSES, n)


class Snapshot:
    """Everything a failing call must leave alone."""

    def __init__(self, model, folder=None):
        self.model = model
        self.built = model.built
        self.weights = [w.copy() for w in model.get_weights()] if model.built else []
        self.dtypes = [w.dtype for w in model.weights]
        opt = model.optimizer
        self.optimizer = opt
        self.opt_state = opt.get_state() if opt is not None else None
        self.rng = minidl.random.get_state()
        self.history = model.history
        self.folder = folder
        self.files = _read_folder(folder) if folder else None

    def assert_unchanged(self):
        model = self.model
        assert model.built == self.built
        if self.built:
            now = model.get_weights()
            assert len(now) == len(self.weights)
            for a, b in zip(now, self.weights):
                np.testing.assert_array_equal(a, b)
            assert [w.dtype for w in model.weights] == self.dtypes
        else:
            assert model.weights == []
        assert model.optimizer is self.optimizer
        if self.opt_state is not None:
            state = model.optimizer.get_state()
            assert state["iterations"] == self.opt_state["iterations"]
            assert state["learning_rate"] == self.opt_state["learning_rate"]
            assert sorted(state["slots"]) == sorted(self.opt_state["slots"])
            for name, arrays in state["slots"].items():
                for a, b in zip(arrays, self.opt_state["slots"][name]):
                    np.testing.assert_array_equal(a, b)
        assert minidl.random.get_state() == self.rng
        assert model.history is self.history
        if self.folder:
            assert _read_folder(self.folder) == self.files


def _read_folder(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = f.read()
    return out


def expect(exc_type, parts, fn, model=None, folder=None):
    """``fn()`` raises ``exc_type`` whose message contains every string in ``parts``, and
    ``model`` (and the files in ``folder``) are left exactly as they were."""
    snap = Snapshot(model, folder) if model is not None else None
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in message: {message}"
    if snap is not None:
        snap.assert_unchanged()
    return info.value


# ---------------------------------------------------------------------------------------
# The error types
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("error, builtin", [
    (minidl.ShapeError, ValueError), (minidl.DTypeError, TypeError),
    (minidl.NotCompiledError, ValueError), (minidl.NonFiniteError, FloatingPointError),
    (minidl.CheckpointError, ValueError), (minidl.BackendUnavailableError, RuntimeError),
    (minidl.GraphError, RuntimeError),
])
def test_error_types_subclass_the_builtins_users_already_catch(error, builtin):
    assert issubclass(error, MinidlError) and issubclass(error, builtin)


# ---------------------------------------------------------------------------------------
# Model definition and compile
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("units, error", [(0, ValueError), (-3, ValueError),
                                          (2.5, TypeError), ("10", TypeError)])
def test_dense_units_must_be_a_positive_int(units, error):
    expect(error, ["units", repr(units) if isinstance(units, str) else str(units)],
           lambda: layers.Dense(units))


@pytest.mark.parametrize("rate", [1.5, -0.1, float("nan")])
def test_dropout_rate_outside_0_1_is_refused_nan_included(rate):
    expect(ValueError, ["rate", str(rate)], lambda: layers.Dropout(rate))


@pytest.mark.parametrize("make, valid", [
    (lambda: layers.Dense(3, activation="relu2"), "relu"),
    (lambda: layers.Dense(3, kernel_initializer="glorot"), "glorot_uniform"),
    (lambda: make_model(compile=False).compile(optimizer="adamm", loss="mse"), "adam"),
    (lambda: make_model(compile=False).compile(optimizer="adam", loss="msee"), "mse"),
    (lambda: make_model(compile=False).compile("adam", "mse", metrics=["acc2"]), "accuracy"),
])
def test_unknown_names_list_the_valid_ones(make, valid):
    error = expect(ValueError, [valid], make)
    assert "2" in str(error) or "glorot'" in str(error) or "adamm" in str(error) or (
        "msee" in str(error))


def test_a_failed_compile_leaves_the_compiled_model_as_it_was():
    model = make_model()
    expect(ValueError, ["'msee'"], lambda: model.compile("sgd", loss="msee"), model)
    assert isinstance(model.optimizer, optimizers.Adam)


@pytest.mark.parametrize("kwargs, name", [
    ({"learning_rate": 0}, "learning_rate"), ({"learning_rate": -1e-3}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"), ({"beta_1": 1.0}, "beta_1"),
    ({"beta_1": -0.1}, "beta_1"), ({"beta_2": 1.5}, "beta_2"), ({"epsilon": -1e-7}, "epsilon"),
])
def test_optimizer_hyperparameters_are_checked_in_the_constructor(kwargs, name):
    expect(ValueError, [name, f"{name}={float(kwargs[name])}"],
           lambda: optimizers.Adam(**kwargs))


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_training_before_compile_raises_not_compiled_a_value_error(call):
    model = make_model(compile=False)
    x, y = data()
    kwargs = {} if call == "train_on_batch" else {"verbose": 0}
    error = expect(NotCompiledError, [f"compile() before {call}()"],
                   lambda: getattr(model, call)(x, y, **kwargs), model)
    assert isinstance(error, ValueError)


def test_predict_before_compile_works():
    model = make_model(compile=False)
    out = model.predict(data()[0], verbose=0)
    assert out.shape == (N, CLASSES)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("call", ["summary", "count_params", "save_weights"])
def test_calls_that_need_the_input_size_say_how_to_give_it(call, tmp_path):
    model = minidl.Sequential([layers.Dense(3)])
    args = (str(tmp_path / "w.minidl"),) if call == "save_weights" else ()
    expect(ValueError, ["input_shape", "Input(shape=", "build(", "on a batch of data"],
           lambda: getattr(model, call)(*args), model, folder=tmp_path)


def test_predict_on_an_unbuilt_model_builds_it_from_the_data():
    model = minidl.Sequential([layers.Dense(3)])
    assert model.predict(np.ones((2, 5), "float32"), verbose=0).shape == (2, 3)
    assert model.layers[0].kernel.shape == (5, 3)


def test_adjacent_layers_that_cannot_connect_name_both_at_build():
    expect(ShapeError, ["'first'", "'second'", "(None, 4)", "(None, 5)"],
           lambda: minidl.Sequential([layers.Dense(4, input_shape=(3,), name="first"),
                                      layers.Dense(2, input_shape=(5,), name="second")]))
    built_for_5 = layers.Dense(2, name="reused")
    built_for_5(np.ones((1, 5), "float32"))
    expect(ShapeError, ["'reused'", "(None, 5)", "'head'", "(None, 4)"],
           lambda: minidl.Sequential([layers.Dense(4, input_shape=(3,), name="head"),
                                      built_for_5]))


def test_compiling_again_with_another_optimizer_starts_it_fresh():
    model = make_model()  # trained with Adam
    start = model.get_weights()
    model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    assert model.optimizer.iterations == 0 and model.optimizer.get_state()["slots"] == {}
    x, y = data()
    model.fit(x, y, batch_size=25, epochs=1, shuffle=False, verbose=0)
    # Reference: a new model with the same weights and a brand-new SGD, steps by hand.
    w = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in start]
    opt = torch.optim.SGD(w, lr=0.1, momentum=0.9)
    for lo in range(0, N, 25):
        xb = torch.tensor(x[lo:lo + 25], dtype=torch.float64)
        h = torch.relu(xb @ w[0] + w[1])
        loss = torch.nn.functional.cross_entropy(h @ w[2] + w[3], torch.tensor(y[lo:lo + 25]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for mine, ref in zip(model.get_weights(), w):
        np.testing.assert_allclose(mine, ref.detach().numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------
# Data given to fit / evaluate / predict
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_feature_size_mismatch_names_layer_expected_size_and_received_shape(call):
    model = make_model()
    x, y = data()
    args = (x[:, :3],) if call == "predict" else (x[:, :3], y)
    expect(ShapeError, ["'dense'", "(None, 4)", "(None, 3)"],
           lambda: getattr(model, call)(*args, verbose=0), model)


def test_a_1d_vector_gets_the_reshape_hint():
    model = make_model()
    expect(ShapeError, ["rank 2", "x.reshape(1, -1)"],
           lambda: model.predict(data()[0][0], verbose=0), model)
    unbuilt = minidl.Sequential([layers.Dense(3)])
    unbuilt.compile("adam", "mse")
    expect(ShapeError, ["x.reshape(1, -1)"],
           lambda: unbuilt.fit(np.ones(5, "float32"), np.ones(5), verbose=0), unbuilt)


def test_3d_data_into_an_mlp_says_the_expected_rank_and_suggests_flatten():
    model = make_model()
    x, y = data()
    expect(ShapeError, ["rank 2", "rank 3", "(100, 2, 2)", "Flatten()"],
           lambda: model.fit(x.reshape(N, 2, 2), y, verbose=0), model)


def test_x_and_y_of_different_lengths():
    model = make_model()
    x, y = data()
    expect(ShapeError, ["x has 100 samples but y has 90"],
           lambda: model.fit(x, y[:90], verbose=0), model)


@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_an_empty_dataset_is_refused_before_training(call):
    model = make_model()
    x, y = data()
    expect(ValueError, ["0 sample(s)", "shape=(0, 4)", "minimum of 1"],
           lambda: getattr(model, call)(x[:0], y[:0], verbose=0), model)


def test_predict_on_no_samples_returns_no_rows():
    # Nothing to train on is an error; nothing to predict is an empty answer (as NumPy).
    assert make_model().predict(data()[0][:0], verbose=0).shape == (0, CLASSES)


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-2, ValueError),
                                               (2.5, TypeError), (True, TypeError),
                                               ("32", TypeError)])
def test_batch_size_must_be_a_positive_int(batch_size, error):
    model = make_model()
    x, y = data()
    expect(error, ["batch_size", str(batch_size)],
           lambda: model.fit(x, y, batch_size=batch_size, verbose=0), model)


@pytest.mark.parametrize("epochs, error", [(-1, ValueError), (1.5, TypeError),
                                           ("2", TypeError), (None, TypeError)])
def test_epochs_must_be_a_non_negative_int(epochs, error):
    model = make_model()
    x, y = data()
    expect(error, ["epochs", str(epochs)],
           lambda: model.fit(x, y, epochs=epochs, verbose=0), model)


def test_epochs_zero_is_a_documented_no_op():
    model = make_model()
    snap = Snapshot(model)
    history = model.fit(*data(), epochs=0, verbose=0)
    assert history.history == {} and history.epoch == []
    snap.history = history  # the one thing that changes: model.history is the new History
    snap.assert_unchanged()


@pytest.mark.parametrize("validation_data, parts", [
    (lambda x, y: (x[:, :3], y), ["validation_data", "(None, 3)"]),
    (lambda x, y: (x, y[:7]), ["validation_data has 100 samples", "has 7"]),
    (lambda x, y: (x, np.r_[3, y[1:]]), ["label 3 at index 0", "validation_data"]),
    (lambda x, y: (x,), ["validation_data must be a tuple"]),
])
def test_validation_data_gets_the_same_checks_and_says_validation_data(validation_data, parts):
    model = make_model()
    x, y = data()
    expect(ValueError, parts,
           lambda: model.fit(x, y, validation_data=validation_data(x, y), verbose=0), model)


@pytest.mark.parametrize("where", ["x", "y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_the_data_is_reported_with_count_and_first_position(where, bad):
    model = make_model(loss="mse")
    x, y = data()
    y = np.eye(CLASSES, dtype="float32")[y]
    target = x if where == "x" else y
    target[42, 1] = bad
    target[57, 2] = bad
    expect(NonFiniteError, [f"{where} contains 2 NaN/Inf", "(42, 1)", str(bad), "CHECK_FINITE"],
           lambda: model.fit(x, y, verbose=0), model)


def test_a_value_that_overflows_the_model_dtype_is_reported_too():
    model = make_model()
    x, y = data()
    x = x.astype("float64")
    x[3, 0] = 1e300  # finite in float64, Inf in float32
    expect(NonFiniteError, ["(3, 0)", "1e+300", "overflows float32"],
           lambda: model.fit(x, y, verbose=0), model)


def test_the_finite_check_can_be_switched_off(monkeypatch):
    model = make_model()
    x = data()[0]
    x[1, 1] = np.nan
    monkeypatch.setattr(validation, "CHECK_FINITE", False)
    out = model.predict(x, verbose=0)
    assert np.isnan(out[1]).all() and np.isfinite(np.delete(out, 1, axis=0)).all()


@pytest.mark.parametrize("where", ["x", "y"])
@pytest.mark.parametrize("make, dtype_text", [
    (lambda a: a.astype(object), "object"),
    (lambda a: a.astype(str), "<U"),
    (lambda a: a.astype(complex), "complex128"),
])
def test_object_string_and_complex_arrays_are_refused(where, make, dtype_text):
    model = make_model()
    x, y = data()
    if where == "x":
        x = make(x)
    else:
        y = make(y)
    expect(DTypeError, [f"{where} must hold real numbers", dtype_text],
           lambda: model.fit(x, y, verbose=0), model)


def test_ragged_lists_are_refused():
    model = make_model()
    expect(DTypeError, ["x", "ragged"],
           lambda: model.fit([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], [0, 1], verbose=0), model)


def test_float64_data_is_cast_once_and_weights_keep_their_dtype():
    x, y = data()
    runs = []
    for x_in in (x, x.astype("float64")):
        minidl.random.set_seed(5)
        model = make_model(trained=False)
        model.fit(x_in, y, batch_size=20, epochs=2, verbose=0)
        assert [w.dtype for w in model.weights] == [np.float32] * 4
        runs.append(model.get_weights())
    for a, b in zip(*runs):  # the same as float32 data: cast to float32 before any math
        np.testing.assert_array_equal(a, b)


def test_float32_data_into_a_float64_model_keeps_float64_weights():
    minidl.config.set_floatx("float64")
    model = make_model(trained=False)
    x, y = data()
    model.fit(x, y, batch_size=50, epochs=1, verbose=0)
    assert [w.dtype for w in model.weights] == [np.float64] * 4
    assert model.predict(x, verbose=0).dtype == np.float64


@pytest.mark.parametrize("label", [5, -1])
def test_sparse_labels_outside_the_classes(label):
    model = make_model()
    x, y = data()
    y[42] = label
    y[50] = label
    expect(ValueError, [f"label {label} at index 42 is outside the valid range [0, 3)"],
           lambda: model.fit(x, y, verbose=0), model)


def test_float_labels_to_a_sparse_loss():
    model = make_model()
    x, y = data()
    expect(DTypeError, ["integer class labels", "float64"],
           lambda: model.fit(x, y + 0.5, verbose=0), model)


def test_one_hot_labels_to_a_sparse_loss():
    model = make_model()
    x, y = data()
    expect(ShapeError, ["integer labels with shape (100,)", "(100, 3)", "one-hot",
                        "categorical_crossentropy"],
           lambda: model.fit(x, np.eye(CLASSES)[y], verbose=0), model)


def test_one_hot_targets_of_the_wrong_width():
    model = make_model(loss="categorical_crossentropy")
    x, y = data()
    expect(ShapeError, ["(100, 4)", "(None, 3)"],
           lambda: model.fit(x, np.eye(4)[y % 4], verbose=0), model)


def test_elementwise_loss_targets_that_would_silently_broadcast():
    model = make_model(loss="mse")
    x, y = data()
    expect(ShapeError, ["(100, 1)", "(None, 3)"],
           lambda: model.fit(x, y[:, None].astype("float32"), verbose=0), model)


# ---------------------------------------------------------------------------------------
# Numerical faults
# ---------------------------------------------------------------------------------------


def _poisoned(batch):
    """Regression data whose batch ``batch`` (of 4, 25 samples each, unshuffled) has a
    target of 1e30: its squared error overflows float32, so that batch's loss is Inf."""
    x, _ = data()
    y = np.zeros((N, CLASSES), "float32")
    y[batch * 25 + 3, 0] = 1e30
    return x, y


def _regression_model():
    minidl.layers.clear_session()
    model = minidl.Sequential([layers.Dense(CLASSES, input_shape=(FEATURES,))])
    model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    return model


def _weights_after_clean_batches(x, y, n_batches):
    """Reference: the same model trained on only the batches before the bad one."""
    minidl.random.set_seed(9)
    model = _regression_model()
    if n_batches:
        model.fit(x[:25 * n_batches], y[:25 * n_batches], batch_size=25, shuffle=False,
                  verbose=0)
    return model.get_weights()


def test_a_loss_that_becomes_inf_stops_fit_naming_epoch_and_batch():
    x, y = _poisoned(batch=2)
    expected = _weights_after_clean_batches(x, y, 2)
    minidl.random.set_seed(9)
    model = _regression_model()
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError) as info:
        model.fit(x, y, batch_size=25, epochs=2, shuffle=False, verbose=0)
    assert "epoch 1/2, batch 3/4" in str(info.value) and "inf" in str(info.value)
    assert (info.value.epoch, info.value.batch) == (0, 2)
    # Documented choice: the failing step is not applied.
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 2


def test_terminate_on_nan_stops_cleanly_with_the_same_weights(capsys):
    x, y = _poisoned(batch=1)
    expected = _weights_after_clean_batches(x, y, 1)
    minidl.random.set_seed(9)
    model = _regression_model()
    with np.errstate(over="ignore"):
        history = model.fit(x, y, batch_size=25, epochs=3, shuffle=False, verbose=0,
                            callbacks=[callbacks.TerminateOnNaN()])
    assert "Batch 1: Invalid loss" in capsys.readouterr().out
    assert history.epoch == [0] and np.isinf(history.history["loss"][0])
    for a, b in zip(model.get_weights(), expected):
        np.testing.assert_array_equal(a, b)


LOGITS = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [0.0, 0.0, -1e4]], dtype="float32")
LABELS = np.array([0, 1, 2])


def _softmax_ce_cases():
    onehot = np.eye(3, dtype="float32")[LABELS]
    return {
        "sparse, from_logits": lambda z: losses.SparseCategoricalCrossentropy(
            from_logits=True)(LABELS, z),
        "categorical, from_logits": lambda z: losses.CategoricalCrossentropy(
            from_logits=True)(onehot, z),
        "sparse after softmax": lambda z: losses.SparseCategoricalCrossentropy()(
            LABELS, minidl.activations.softmax(z)),
        "categorical after softmax": lambda z: losses.CategoricalCrossentropy()(
            onehot, minidl.activations.softmax(z)),
    }


def _torch_ce(logits, labels):
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(labels))
    loss.backward()
    return loss.item(), z.grad.numpy()


@pytest.mark.parametrize("case", list(_softmax_ce_cases()))
def test_logits_of_1e4_give_finite_loss_and_gradient_without_warnings(case):
    z = Tensor(LOGITS, requires_grad=True)
    # Overflow, 0/0 and log(0) would all raise here; underflow (exp(-2e4) -> 0, the right
    # answer) is the subject of the next test.
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = _softmax_ce_cases()[case](z)
        loss.backward()
    ref_loss, ref_grad = _torch_ce(LOGITS.astype("float64"), LABELS)
    np.testing.assert_allclose(loss.item(), ref_loss, rtol=1e-5)
    np.testing.assert_allclose(z.grad, ref_grad, atol=1e-6)


@pytest.mark.parametrize("case", list(_softmax_ce_cases()))
def test_logits_of_1e4_pass_even_under_errstate_all_raise(case):
    z = Tensor(LOGITS, requires_grad=True)
    with np.errstate(all="raise"):
        _softmax_ce_cases()[case](z).backward()


def test_probabilities_of_exactly_0_and_1_give_a_finite_loss_and_gradient():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype="float32")
    y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype="float32")
    probs = Tensor(p, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = losses.CategoricalCrossentropy()(y, probs)
        loss.backward()
    # Keras clips probabilities to [eps, 1 - eps] with eps = 1e-7: -log(eps) for the wrong
    # row, -log(1 - eps) for the right one, averaged.
    eps = np.float32(1e-7)
    np.testing.assert_allclose(loss.item(), (-np.log(eps) - np.log1p(-eps)) / 2, rtol=1e-5)
    assert np.isfinite(probs.grad).all()
    binary = Tensor(np.array([[1.0], [0.0]], "float32"), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        bce = losses.BinaryCrossentropy()(np.array([[0.0], [1.0]], "float32"), binary)
        bce.backward()
    assert np.isfinite(bce.item()) and np.isfinite(binary.grad).all()


@pytest.mark.parametrize("from_logits", [True, False])
def test_sigmoid_and_binary_crossentropy_at_1e4(from_logits):
    z = Tensor(np.array([[1e4], [-1e4], [1e4]], "float32"), requires_grad=True)
    y = np.array([[0.0], [1.0], [1.0]], "float32")
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = minidl.activations.sigmoid(z)
        assert s.data.tolist() == [[1.0], [0.0], [1.0]]
        loss = losses.BinaryCrossentropy(from_logits=from_logits)(y, z if from_logits else s)
        loss.backward()
    ref = torch.tensor([[1e4], [-1e4], [1e4]], dtype=torch.float64, requires_grad=True)
    ref_loss = torch.nn.functional.binary_cross_entropy_with_logits(ref, torch.tensor(
        y, dtype=torch.float64))
    ref_loss.backward()
    # From logits: exact log-sum-exp; from probabilities: Keras's path also recovers the
    # logits of a sigmoid output (minidl keeps them on the tensor), so both match torch.
    np.testing.assert_allclose(loss.item(), ref_loss.item(), rtol=1e-6)
    np.testing.assert_allclose(z.grad, ref.grad.numpy(), atol=1e-7)


def test_adam_after_many_zero_gradients_then_a_tiny_one():
    w = Tensor(np.ones(3, "float32"), requires_grad=True)
    opt = optimizers.Adam(learning_rate=1e-3)
    for _ in range(500):
        w.grad = np.zeros(3, "float32")
        opt.step([w])
    np.testing.assert_array_equal(w.data, 1.0)  # zero gradients move nothing
    with np.errstate(all="raise"):
        w.grad = np.full(3, 1e-8, "float32")
        opt.step([w])
    # Hand computation (Keras's Adam, float64): only the last step has a gradient.
    t, g, b1, b2, eps = 501, 1e-8, 0.9, 0.999, 1e-7
    m, v = (1 - b1) * g, (1 - b2) * g * g
    lr_t = 1e-3 * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    np.testing.assert_allclose(w.data, 1.0 - lr_t * m / (np.sqrt(v) + eps), rtol=1e-6)
    assert np.isfinite(w.data).all()


def test_dropout_rate_1_gives_zeros_and_zero_gradient():
    x = Tensor(np.ones((4, 5), "float32"), requires_grad=True)
    with np.errstate(all="raise"):
        out = layers.Dropout(1.0)(x, training=True)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, 0.0)
    np.testing.assert_array_equal(x.grad, 0.0)


# ---------------------------------------------------------------------------------------
# Autograd misuse
# ---------------------------------------------------------------------------------------


def test_a_saved_tensor_changed_in_place_before_backward():
    w = Tensor(np.ones(3, "float32"), requires_grad=True)
    other = Tensor(np.ones(3, "float32"), requires_grad=True)
    loss = (w * other).sum()
    w.assign(np.zeros(3, "float32"))
    expect(GraphError, ["Mul", "modified in place", "version 0 -> 1"], loss.backward)
    assert w.grad is None and other.grad is None


def test_backward_twice_through_a_freed_graph():
    x = Tensor(np.ones(3, "float32"), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    before = x.grad.copy()
    expect(GraphError, ["second time", "retain_graph=True"], loss.backward)
    np.testing.assert_array_equal(x.grad, before)
    kept = (x * x).sum()
    kept.backward(retain_graph=True)
    kept.backward()  # supported when asked for: gradients accumulate
    np.testing.assert_array_equal(x.grad, before + 2 * 2 * x.data)


def test_backward_on_a_non_scalar_without_a_gradient():
    x = Tensor(np.ones((3, 2), "float32"), requires_grad=True)
    expect(GraphError, ["grad can be implicitly created only for scalar outputs; got shape "
                        "(3, 2)"], (x * 2).backward)
    assert x.grad is None


def test_an_explicit_gradient_of_the_wrong_shape():
    x = Tensor(np.ones((3, 2), "float32"), requires_grad=True)
    expect(ShapeError, ["(2, 3)", "(3, 2)"], lambda: (x * 2).backward(np.ones((2, 3))))
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad():
    w = Tensor(np.ones(2, "float32"), requires_grad=True)
    w.grad = np.full(2, 7.0, "float32")
    expect(GraphError, ["does not require grad", "requires_grad=True"],
           Tensor(np.ones(3)).backward)
    np.testing.assert_array_equal(w.grad, 7.0)


# ---------------------------------------------------------------------------------------
# Persistence and devices (more in test_saving.py)
# ---------------------------------------------------------------------------------------


def test_saving_into_a_missing_folder(tmp_path):
    model = make_model()
    target = tmp_path / "no_such_folder" / "model.minidl"
    expect(FileNotFoundError, ["no_such_folder", "does not exist", "os.makedirs"],
           lambda: model.save(target), model, folder=tmp_path)


def test_a_save_interrupted_halfway_keeps_the_previous_file(tmp_path, monkeypatch):
    from minidl import saving

    model = make_model()
    path = tmp_path / "model.minidl"
    model.save(path)
    model.fit(*data(), epochs=1, verbose=0)  # the next save would write other bytes

    def explode(arrays):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(saving, "_npz_bytes", explode)
    expect(RuntimeError, ["interrupted"], lambda: model.save(path), model, folder=tmp_path)


@pytest.mark.parametrize("content, reason", [
    (b"", "not a minidl file"), (b"hello", "not a minidl file"),
])
def test_an_unreadable_file_is_a_checkpoint_error_naming_path_and_reason(tmp_path, content,
                                                                         reason):
    path = tmp_path / "bad.minidl"
    path.write_bytes(content)
    model = make_model()
    expect(minidl.CheckpointError, [str(path), reason], lambda: model.load_weights(path),
           model, folder=tmp_path)


def test_save_load_predict_is_bitwise_identical(tmp_path):
    model = make_model()
    model.save(tmp_path / "m.minidl")
    loaded = minidl.load_model(tmp_path / "m.minidl")
    x = data(seed=3)[0]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.skipif("gpu" in minidl.backend._backends, reason="a GPU backend is loaded")
def test_gpu_without_cupy_is_backend_unavailable_and_import_never_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    model = make_model()
    expect(BackendUnavailableError, ["CuPy", "not installed", "pip install"],
           lambda: model.to("gpu"), model)
    expect(BackendUnavailableError, ["CuPy"], lambda: Tensor([1.0]).to("gpu"))
    blocker = "import sys; sys.modules['cupy'] = None; import minidl; print('ok')"
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.skipif("gpu" in minidl.backend._backends, reason="a GPU backend is loaded")
def test_gpu_with_cupy_but_no_device_says_why(monkeypatch):
    import types

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(
        __version__="13.0.0",
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    expect(BackendUnavailableError, ["no CUDA device is usable", "cudaErrorNoDevice"],
           lambda: minidl.backend.get_backend("gpu"))
    assert "gpu" not in minidl.backend._backends


def test_a_host_array_and_a_device_array_in_one_op():
    sys.path.insert(0, os.path.dirname(__file__))
    import standin_device

    standin_device.install()
    on_device = Tensor([1.0, 2.0]).to("standin")
    # TypeError from the array itself (as CuPy), or minidl's DeviceMismatchError (a
    # ValueError) from get_array_module: either way both devices are named.
    expect((TypeError, ValueError), ["'standin'", "'cpu'"],
           lambda: on_device + Tensor(np.ones(2, "float32")))


# ---------------------------------------------------------------------------------------
# Reproducibility (the full runs are in test_determinism.py)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), ("1", TypeError),
                                         (True, TypeError), (-1, ValueError)])
def test_seeds_must_be_ints(seed, error):
    state = minidl.random.get_state()
    expect(error, ["seed", str(seed)], lambda: minidl.utils.set_random_seed(seed))
    assert minidl.random.get_state() == state


def test_no_warning_escapes_a_normal_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model().fit(*data(), epochs=1, verbose=0)


def test_sample_weights_reach_only_weighted_metrics():
    """Keras 3: `metrics=` are unweighted; `weighted_metrics=` get sample_weight (a name that
    clashes with a plain metric gets the `weighted_` prefix)."""
    x = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    y = np.array([[0.0], [0.0], [0.0], [0.0]], np.float32)
    w = np.array([1.0, 0.0, 0.0, 0.0])
    model = minidl.Sequential([minidl.layers.Dense(1, input_shape=(1,), use_bias=False,
                                                   kernel_initializer="ones")])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    logs = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0, return_dict=True)
    assert logs["mae"] == pytest.approx(1.5)  # mean |x|: unweighted
    assert logs["weighted_mae"] == pytest.approx(0.0)  # only sample 0 counts, and |0| = 0


def test_class_weight_weighs_training_batches_only():
    """Keras: class_weight applies to the training samples, never to validation."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (rng.random(40) > 0.5).astype(np.int64)

    def val_loss(class_weight):
        minidl.utils.set_random_seed(0)
        model = minidl.Sequential([minidl.layers.Dense(2, activation="softmax",
                                                       input_shape=(3,))])
        optimizer = minidl.optimizers.SGD(learning_rate=0.1)
        optimizer.learning_rate = 0.0  # allowed once built (schedules reach 0): no movement
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=1, validation_split=0.5, class_weight=class_weight,
                            verbose=0)
        unweighted = model.evaluate(x[20:], y[20:], verbose=0)
        return history.history["val_loss"][0], unweighted

    (plain, reference), (weighted, _) = val_loss(None), val_loss({1: 10.0})
    assert plain == pytest.approx(reference, rel=1e-6)
    assert weighted == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"validation_freq": None}, "validation_freq"),
    ({"validation_freq": 0}, "validation_freq"),
    ({"validation_batch_size": 0}, "validation_batch_size"),
])
def test_validation_arguments_are_checked(kwargs, match):
    model = minidl.Sequential([minidl.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    before = model.get_weights()
    with pytest.raises((TypeError, ValueError), match=match):
        model.fit(np.ones((4, 2)), np.ones(4), validation_split=0.5, verbose=0, **kwargs)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_parameters_of_an_unbuilt_model_and_empty_steps_are_refused():
    model = minidl.Sequential([minidl.layers.Dense(4), minidl.layers.Dense(2)])
    with pytest.raises(ValueError, match="input shape"):
        model.parameters()
    with pytest.raises(ValueError, match="empty list"):
        minidl.optimizers.Adam().step([])


def test_a_functional_model_without_outputs_gets_a_clear_error():
    with pytest.raises(ValueError, match=r"Model\(outputs=...\) expects symbolic tensors"):
        minidl.Model(inputs=minidl.Input(shape=(3,)), outputs=None)


def test_compile_without_a_loss_allows_predict_but_not_fit():
    """Keras: compile(loss=None) is allowed (predict works); training needs a loss."""
    model = minidl.Sequential([minidl.layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="adam")
    assert model.predict(np.ones((4, 3)), verbose=0).shape == (4, 2)
    before = model.get_weights()
    with pytest.raises(ValueError, match="compiled with loss=None"):
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
