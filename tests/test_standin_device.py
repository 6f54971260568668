"""The GPU code path on a stand-in device (``tests/standin_device.py``), and on CuPy when a
GPU exists.

The stand-in refuses what CuPy refuses (implicit conversion to NumPy, NumPy arrays mixed
into device operations), so running minidl on it catches a stray ``np.`` call on device data
on a machine without a GPU. In order:

1. the stand-in itself behaves like CuPy where it matters (so a pass here means something);
2. ``Tensor.to`` moves data and gradients between devices; mixing devices is refused;
3. the op parity table (``ROWS`` of ``test_ops.py``): every op, forward and backward, gives
   on the device what it gives on the CPU: bitwise on the stand-in against the CPU's plain
   ``xp`` code (JIT off: the same NumPy calls in the same order), and within float
   tolerances against the CPU as users run it (Numba kernels, whose exp/log differ from
   NumPy's in the last bit) and on a real GPU;
4. end to end: ``model.to(device)``, ``fit``, ``evaluate``, ``predict`` (NumPy out), save and
   load, and the same numbers as on the CPU.
"""

import functools

import numpy as np
import pytest
import standin_device as sd
from helpers import make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
from minidl import array_backend as backend
from minidl import config
from minidl.array_backend import DeviceMismatchError
from minidl.errors import BackendUnavailableError
from minidl.tensor import Tensor

sd.install()


def _gpu_or_skip():
    try:
        return backend.get_backend("gpu")
    except BackendUnavailableError as exc:
        pytest.skip(f"no GPU: {exc}")


# The devices the parity and model tests run on: the stand-in always, CuPy when present.
DEVICES = ["standin", pytest.param("gpu", marks=pytest.mark.gpu)]


@pytest.fixture(params=DEVICES)
def device(request):
    """A device backend: the stand-in, or the GPU (skipped when CuPy or a device is absent)."""
    if request.param == "gpu":
        return _gpu_or_skip()
    return sd.BACKEND


@pytest.fixture(autouse=True)
def _strict_standin():
    sd.strict = True
    yield
    sd.strict = True


# ---------------------------------------------------------------------------------------
# 1. The stand-in refuses what CuPy refuses
# ---------------------------------------------------------------------------------------


def test_implicit_conversion_to_numpy_is_refused():
    a = sd.standin([1.0, 2.0])
    for convert in (np.asarray, np.array, lambda x: np.ones(2) + x, lambda x: np.stack([x])):
        with pytest.raises(TypeError):
            convert(a)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    assert np.array_equal(a.get(), [1.0, 2.0]) and type(a.get()) is np.ndarray


def test_host_operands_are_refused_naming_both_devices():
    a = sd.standin(np.ones((2, 3)))
    host = np.ones(3)
    cases = [lambda: a + host, lambda: host * a, lambda: a @ host, lambda: a > host,
             lambda: sd.xp.maximum(a, host), lambda: sd.xp.where(a > 0, a, host),
             lambda: a.__setitem__(0, host)]  # fmt: skip
    for case in cases:
        with pytest.raises(TypeError, match=r"device 'cpu' \(numpy.ndarray.*device 'standin'"):
            case()


def test_numbers_numpy_scalars_and_index_arrays_are_allowed():
    a = sd.standin(np.arange(6.0).reshape(2, 3))
    assert float((a * 2 + np.float32(1)).sum()) == 36.0
    assert float((np.float32(2) * a).sum()) == 30.0  # NumPy scalar on the left: as CuPy
    assert a[np.array([1, 0])][0, 0].item() == 3.0  # CuPy moves index arrays itself
    a[0, np.array([0, 2])] = 7.0
    assert a.tolist() == [[7.0, 1.0, 7.0], [3.0, 4.0, 5.0]]


def test_reductions_are_device_arrays_read_back_explicitly():
    a = sd.standin(np.arange(4.0))
    total = a.sum()
    assert type(total) is sd.StandinArray and total.shape == ()
    assert float(total) == 6.0 and total.item() == 6.0 and bool(total)


def test_numpy_functions_on_device_data_are_refused_when_strict_and_forwarded_otherwise():
    a = sd.standin(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"numpy.exp was called .* xp.exp"):
        np.exp(a)
    with pytest.raises(TypeError, match="numpy.shape was called"):
        np.shape(a)
    sd.strict = False  # CuPy's own behaviour: dispatch to the device namespace
    assert type(np.exp(a)) is sd.StandinArray
    assert np.shape(a) == (2,)


def test_names_cupy_lacks_and_random_are_refused():
    with pytest.raises(AttributeError, match="module 'cupy' has no attribute 'errstate'"):
        sd.xp.errstate  # noqa: B018
    with pytest.raises(AttributeError, match="draw from minidl.random"):
        sd.xp.random  # noqa: B018


# ---------------------------------------------------------------------------------------
# 2. Tensors on a device
# ---------------------------------------------------------------------------------------


def test_tensor_to_moves_data_and_gradients_back(device):
    x = Tensor(np.array([[1.0, -2.0], [3.0, 0.5]], dtype="float32"), requires_grad=True)
    y = x.to(device.name)
    assert y.device == device.name and type(y.data) is device.array_type
    loss = (y * y).relu().sum()
    loss.backward()
    assert x.device == "cpu" and type(x.grad) is np.ndarray
    np.testing.assert_allclose(x.grad, 2 * x.data)  # d/dx Σ x² = 2x
    assert isinstance(loss.item(), float)


def test_an_op_on_tensors_on_two_devices_is_refused_naming_both():
    host = Tensor(np.ones((2, 2), dtype="float32"))
    device = host.to("standin")
    # Op.apply should check (DeviceMismatchError); without that check the stand-in's own
    # TypeError (as CuPy's) still names both devices.
    for op in (lambda: host + device, lambda: device @ host, lambda: minidl.ops.maximum(host,
                                                                                       device)):
        with pytest.raises((DeviceMismatchError, TypeError), match=r"'cpu'.*'standin'|"
                           r"'standin'.*'cpu'"):
            op()


# ---------------------------------------------------------------------------------------
# 3. The op parity table on the device
# ---------------------------------------------------------------------------------------

try:
    from test_ops import ROWS
except ImportError:  # test_ops.py not there yet: nothing to run
    ROWS = []

_TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-12)}

# Rows known to fail on a non-NumPy device, with the reason. strict=True xfails: once the
# op is fixed the test fails with XPASS, as a reminder to delete the entry.
KNOWN_DEVICE_ISSUES = {}  # op name -> reason, for a strict xfail

def _row_param(row):
    reason = KNOWN_DEVICE_ISSUES.get(row.name)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(row, id=row.name, marks=marks)


def _forward_backward(fn, arrays, to_device, jit=True):
    """fn on Tensors of ``arrays`` (moved by ``to_device``), and the gradients of its sum.

    ``jit=False`` runs the CPU's plain ``xp`` code instead of its Numba kernels.
    """
    if not jit:
        enabled, config.JIT_ENABLED = config.JIT_ENABLED, False
        try:
            return _forward_backward(fn, arrays, to_device)
        finally:
            config.JIT_ENABLED = enabled
    tensors = [Tensor(to_device(a), requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*tensors)
    grads = []
    if out.requires_grad and out.dtype.kind == "f":
        out.sum().backward()
        grads = [None if t.grad is None else t.grad for t in tensors]
    return out, grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", [_row_param(row) for row in ROWS])
@settings(max_examples=4)
@given(data=st.data())
def test_op_rows_give_the_same_on_the_device(row, dtype, data):
    # hypothesis and function-scoped fixtures do not mix: the device loop is in the body.
    devices = [sd.BACKEND]
    try:
        devices.append(backend.get_backend("gpu"))
    except BackendUnavailableError:
        pass
    inputs, params = data.draw(row.cases, label="inputs, settings")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    arrays = make_inputs(inputs, dtype, row.low, row.high, seed)
    fn = functools.partial(row.minidl_fn, **params)
    # What users get on the CPU (Numba kernels where there are some), and the CPU's xp code.
    cpu = _forward_backward(fn, arrays, lambda a: a)
    # NOTE: the JIT-on call comes first: a kernel's first call decides whether it compiles.
    cpu_xp = _forward_backward(fn, arrays, lambda a: a, jit=False)
    for dev in devices:
        out, grads = _forward_backward(fn, arrays, dev.asarray)
        assert out.device == dev.name, f"{row.name}: output left the device"
        for i, g in enumerate(grads):
            assert g is None or backend.device_of(g) == dev.name, (
                f"{row.name}: grad {i} left the device")
        got = (out.to_numpy(), [None if g is None else dev.to_numpy(g) for g in grads])
        # The stand-in computes with NumPy: the same calls in the same order as the CPU's
        # xp code, so bitwise equal to it. A GPU has its own exp/log and summation order.
        references = [(cpu, False)] + ([(cpu_xp, True)] if dev is sd.BACKEND else [])
        for (expected, expected_grads), exact in references:
            what = f"{row.name} on {dev.name} vs the CPU" + (" (JIT off)" if exact else "")
            _compare(got[0], expected.data, dtype, exact, f"{what}, forward")
            for i, (g, e) in enumerate(zip(got[1], expected_grads)):
                if e is not None:
                    _compare(g, e, dtype, exact, f"{what}, grad {i}")


def _compare(got, expected, dtype, exact, what):
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    if exact or expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(got, expected, err_msg=what)
    else:
        np.testing.assert_allclose(got, expected, err_msg=what, **_TOL[dtype])


# ---------------------------------------------------------------------------------------
# 4. End to end: a small model trained on the device
# ---------------------------------------------------------------------------------------


def _data(n=96, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype("float32")
    y = (x[:, :classes].argmax(axis=1)).astype("int64")  # learnable labels
    return x, y


def _model(optimizer="adam", loss="sparse_categorical_crossentropy"):
    minidl.backend.clear_session()
    model = minidl.Sequential([
        minidl.layers.Input(shape=(12,)),
        minidl.layers.Dense(16, activation="relu"),
        minidl.layers.Dropout(0.2),
        minidl.layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _train(device_name, optimizer="adam", loss="sparse_categorical_crossentropy"):
    minidl.random.set_seed(42)
    x, y = _data()
    if loss == "categorical_crossentropy":
        y = np.eye(3, dtype="float32")[y]
    model = _model(optimizer, loss)
    model.to(device_name)
    history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    return model, history, x, y


@pytest.mark.parametrize("optimizer, loss", [
    ("adam", "sparse_categorical_crossentropy"),
    ("sgd", "categorical_crossentropy"),
])  # fmt: skip
def test_fit_evaluate_predict_on_the_device_match_the_cpu(device, optimizer, loss):
    cpu_model, cpu_history, x, y = _train("cpu", optimizer, loss)
    model, history, _, _ = _train(device.name, optimizer, loss)
    # The weights and the optimizer state stayed on the device through training.
    assert {w.device for w in model.weights} == {device.name}
    assert sorted(history.history) == sorted(cpu_history.history)
    # Not bitwise: on the CPU the fused Numba kernels run, on a device their plain xp twins
    # (the same formulas, rounded differently in the last bit). A real GPU adds its own
    # exp/log and cuBLAS summation order.
    tol = dict(rtol=1e-5, atol=1e-6) if device is sd.BACKEND else dict(rtol=1e-3, atol=1e-4)
    for key, values in history.history.items():
        np.testing.assert_allclose(values, cpu_history.history[key], err_msg=key, **tol)
    results = model.evaluate(x, y, batch_size=32, verbose=0)
    assert all(isinstance(r, float) for r in results)
    np.testing.assert_allclose(results, cpu_model.evaluate(x, y, batch_size=32, verbose=0),
                               **tol)
    predictions = model.predict(x, batch_size=40, verbose=0)
    assert type(predictions) is np.ndarray and predictions.shape == (len(x), 3)  # as Keras
    np.testing.assert_allclose(predictions, cpu_model.predict(x, batch_size=40, verbose=0),
                               **tol)
    for w, w_cpu in zip(model.get_weights(), cpu_model.get_weights()):
        assert type(w) is np.ndarray
        np.testing.assert_allclose(w, w_cpu, **tol)


def assert_same_up_to_kernels(got, expected):
    """Device vs CPU: the CPU runs Numba kernels (e.g. softmax) where the device runs their
    xp twins, which agree to a few ulp, not bitwise (tests/test_fused.py pins the ulps)."""
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


def test_save_and_load_a_model_trained_on_the_device(tmp_path):
    model, _, x, _ = _train("standin")
    before = model.predict(x, verbose=0)
    path = tmp_path / "model.minidl"
    model.save(path)
    loaded = minidl.models.load_model(path)
    assert {w.device for w in loaded.weights} == {"cpu"}  # files hold NumPy; load on the CPU
    assert_same_up_to_kernels(loaded.predict(x, verbose=0), before)
    loaded.to("standin")
    assert_same_up_to_kernels(loaded.predict(x, verbose=0), before)
    weights_path = tmp_path / "weights.weights.npz"
    model.save_weights(weights_path)
    fresh = _model()
    fresh.to("standin")
    fresh.load_weights(weights_path)
    assert {w.device for w in fresh.weights} == {"standin"}  # loading keeps the device
    assert_same_up_to_kernels(fresh.predict(x, verbose=0), before)


def test_model_to_cpu_brings_everything_back():
    model, _, x, _ = _train("standin")
    on_device = model.predict(x, verbose=0)
    model.to("cpu")
    assert {w.device for w in model.weights} == {"cpu"}
    assert_same_up_to_kernels(model.predict(x, verbose=0), on_device)
    model.fit(x, _data()[1], epochs=1, batch_size=32, verbose=0)  # optimizer state moved too


@pytest.mark.mnist
def test_a_whole_mnist_fit_runs_on_the_device():
    """The seeds' program (784-128-10, Dropout 0.2, Adam), one epoch of all 60,000 images,
    on the stand-in device: every op, metric and callback of a real fit stays on it."""
    from conftest import mnist_path

    if mnist_path() is None:
        pytest.skip("mnist.npz not found: set MINIDL_DATA_DIR")
    (x, y), (x_test, y_test) = minidl.datasets.mnist.load_data(mnist_path())
    x, x_test = x / np.float32(255), x_test / np.float32(255)
    minidl.random.set_seed(0)
    model = minidl.Sequential([
        minidl.layers.Flatten(input_shape=(28, 28)),
        minidl.layers.Dense(128, activation="relu"),
        minidl.layers.Dropout(0.2),
        minidl.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.to("standin")
    history = model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    assert {w.device for w in model.weights} == {"standin"}
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    assert history.history["accuracy"][0] > 0.85 and accuracy > 0.9  # it learned
    assert type(model.predict(x_test[:10], verbose=0)) is np.ndarray
