"""The CUDA kernels, checked as far as a machine without a GPU can.

1. Compilation: every kernel's CUDA source compiles to PTX with ``nvcc --ptx`` (warnings are
   errors), each entry point exists with the parameter count and float/double types of its C
   signature, and a broken kernel fails with the compiler's log in the error.
2. Arguments: each launch function, run with a recorder in place of the GPU, passes exactly
   the kernel's C signature (count, order, pointer dtypes, float vs double scalars).
3. Index and tail logic: each kernel's host twin (the same grid-stride loop, thread by
   thread, in NumPy) equals minidl's plain ``xp`` code for several launch shapes (one
   thread; fewer threads than elements; more threads than elements; zero elements) and
   visits every element exactly once.
4. On a GPU (when CuPy and a device exist): the real kernels equal their host twins.

nvcc is required in CI (``CI`` set): there a missing nvcc fails instead of skipping.
"""

import os
import shutil

import numpy as np
import pytest

from minidl import cuda_kernels as ck
from minidl import optimizers
from minidl.ops import nn as nn_ops
from minidl.tensor import Tensor

# The awkward values (inf, NaN) make NumPy warn about inf * 0 and inf - inf on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

DTYPES = ["float32", "float64"]
# (blocks, threads): a single thread; fewer threads than elements; a count that divides
# nothing; more threads than elements (idle threads must not write).
LAUNCHES = [(1, 1), (1, 4), (3, 7), (2, 64)]


@pytest.fixture(scope="module")
def nvcc():
    """The nvcc executable: on PATH or in /usr/local/cuda/bin. Required in CI."""
    path = shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None
    )
    if path is None:
        message = "nvcc not found (PATH, /usr/local/cuda/bin): the kernel-compile tests need it"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must provide it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def ptx(nvcc):
    """PTX of all kernels, per dtype (one nvcc run each)."""
    return {dtype: ck.compile_ptx(ck.source(dtype), nvcc=nvcc) for dtype in DTYPES}


# ---------------------------------------------------------------------------------------
# 1. Compilation
# ---------------------------------------------------------------------------------------

_PTX_TYPE = {"float": ".f32", "double": ".f64", "int": ".u32", "long long": ".u64"}


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_kernel_compiles_to_ptx_with_its_c_signature(ptx, dtype):
    entries = ck.ptx_entries(ptx[dtype])
    assert sorted(entries) == sorted(ck.kernel_name(n, dtype) for n in ck.KERNEL_NAMES)
    for name in ck.KERNEL_NAMES:
        c_types = ck.c_signature(name, dtype)
        # pointers are 64-bit addresses in PTX; scalars keep their width and kind
        expected = [".u64" if t.endswith("*") else _PTX_TYPE[t] for t in c_types]
        assert entries[ck.kernel_name(name, dtype)] == expected, name


def test_a_broken_kernel_fails_with_the_compiler_log(nvcc):
    broken = ck.source("float32").replace("y[i] = g[i]", "y[i] = g_undeclared[i]").replace(
        "dx[i] = g[i] *", "dx[i] = g_undeclared[i] *"
    )
    assert broken != ck.source("float32")
    with pytest.raises(ck.CudaCompileError) as info:
        ck.compile_ptx(broken, nvcc=nvcc)
    message = str(info.value)
    assert "nvcc failed" in message
    assert 'identifier "g_undeclared" is undefined' in message  # the log itself


def test_a_warning_is_an_error(nvcc):
    code = 'extern "C" __global__ void k(float* x) { int unused = 3; x[0] = 1.0f; }'
    with pytest.raises(ck.CudaCompileError, match="unused"):
        ck.compile_ptx(code, nvcc=nvcc)


def test_source_rejects_other_dtypes():
    with pytest.raises(ValueError, match="float32 and float64, got dtype int32"):
        ck.source("int32")


# ---------------------------------------------------------------------------------------
# 2. Launch arguments against the C signatures
# ---------------------------------------------------------------------------------------

_NUMPY_FOR_C = {"float": np.float32, "double": np.float64, "int": np.int32,
                "long long": np.int64}


def _matches(c_type, value):
    if c_type.endswith("*"):
        base = c_type.replace("const ", "").rstrip("*").strip()
        return isinstance(value, np.ndarray) and value.dtype == _NUMPY_FOR_C[base] and (
            value.flags.c_contiguous)
    return type(value) is _NUMPY_FOR_C[c_type]


@pytest.fixture
def launches(monkeypatch):
    """Record kernel launches instead of running them."""
    calls = []
    monkeypatch.setattr(ck, "_launch", lambda name, dtype, n, args: calls.append(
        (name, np.dtype(dtype), n, args)))
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_launch_arguments_follow_the_c_signatures(launches, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(dtype)
    flat = x.reshape(-1)
    labels = np.array([0, 2, 1, 2])  # int64, as NumPy's default
    t = np.dtype(dtype).type
    ck.bias_relu_forward(x, np.zeros(3, dtype))
    ck.relu_backward(x, x)
    ck.softmax_xent_forward(x, labels)
    m = log_s = np.zeros(4, dtype)
    ck.softmax_xent_backward(x, labels.astype(np.int32), m, log_s, np.asarray(1.0, dtype), 4)
    ck.dropout_forward(x, x.T.copy().T, 0.25)  # a non-contiguous u is made contiguous
    # Python floats and bools, as a careless caller would pass them, must be cast
    ck.sgd_update(flat, flat, flat.copy(), 0.0, 0.01, 0.9, 1e-30, True, False)
    ck.adam_update(flat, flat, flat.copy(), flat.copy(), np.empty(0, dtype), t(0), 1e-3, 0.1,
                   0.001, 1e-7, 1e-30, False)
    assert [c[0] for c in launches] == list(ck.KERNEL_NAMES)
    for name, kernel_dtype, n, args in launches:
        c_types = ck.c_signature(name, dtype)
        assert kernel_dtype == np.dtype(dtype)
        assert len(args) == len(c_types), name
        for position, (c_type, value) in enumerate(zip(c_types, args)):
            assert _matches(c_type, value), f"{name} argument {position}: {c_type} got {value!r}"
        assert n == (4 if name == "softmax_xent_forward" else 12)


def test_launch_config_covers_every_element_once():
    assert ck.launch_config(0) == (1, ck.THREADS_PER_BLOCK)
    assert ck.launch_config(1) == (1, ck.THREADS_PER_BLOCK)
    assert ck.launch_config(257) == (2, ck.THREADS_PER_BLOCK)
    assert ck.launch_config(10**9) == (ck.MAX_BLOCKS, ck.THREADS_PER_BLOCK)
    # Capped blocks: the grid-stride loop must still cover everything exactly once.
    for n in (0, 1, 31, 32, 33, 1000):
        blocks, threads = ck.launch_config(n, threads=8, max_blocks=4)
        visits = np.zeros(n, dtype=np.int64)
        for _ in ck.grid_stride(n, blocks, threads, visits):
            pass
        assert np.all(visits == 1), n


# ---------------------------------------------------------------------------------------
# 3. Host twins against minidl's xp code
# ---------------------------------------------------------------------------------------


def _special(dtype, shape, seed=0):
    """Random values with the awkward ones mixed in: 0, -0, ±inf, NaN."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    for i, v in enumerate([0.0, -0.0, np.inf, -np.inf, np.nan][: flat.size]):
        flat[(7 * i + 3) % flat.size] = v
    return x


def _check_visits(visits):
    assert np.all(visits == 1), f"elements visited {np.unique(visits)} times"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("launch", LAUNCHES)
def test_bias_relu_forward_twin_equals_xp(dtype, launch):
    x, b = _special(dtype, (5, 7)), _special(dtype, (7,), seed=1)
    expected = (Tensor(x) + Tensor(b)).relu().data
    visits = np.zeros(x.size, dtype=np.int64)
    got = ck.bias_relu_forward_host(x, b, *launch, visits=visits)
    np.testing.assert_array_equal(got, expected)  # exact (one add, one compare); NaN kept
    _check_visits(visits)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("launch", LAUNCHES)
def test_relu_backward_twin_equals_autograd(dtype, launch):
    x = Tensor(_special(dtype, (5, 7)), requires_grad=True)
    y = x.relu()
    g = _special(dtype, (5, 7), seed=2)
    y.backward(g)
    visits = np.zeros(x.size, dtype=np.int64)
    got = ck.relu_backward_host(g, y.data, *launch, visits=visits)
    np.testing.assert_array_equal(got, x.grad)  # exact: a product with 0 or 1
    _check_visits(visits)


def _logits(dtype, rows=6, classes=5):
    z = np.random.default_rng(3).normal(scale=3.0, size=(rows, classes)).astype(dtype)
    z[0] = [1e4, -1e4, 0, 3, 1e4][:classes]  # the stable path must hold at ±1e4
    return z, np.array([0, 4, 2, 1, 3, 4][:rows])


TOL = {"float32": dict(rtol=2e-6, atol=2e-6), "float64": dict(rtol=1e-13, atol=1e-13)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("launch", LAUNCHES)
def test_softmax_xent_forward_twin_equals_xp(dtype, launch):
    z, labels = _logits(dtype)
    expected = nn_ops.softmax_cross_entropy(Tensor(z), labels, reduction="none").data
    visits = np.zeros(len(z), dtype=np.int64)
    loss, m, log_s = ck.softmax_xent_forward_host(z, labels, *launch, visits=visits)
    # Equal up to the order of the sum over classes (NumPy sums pairwise, CUDA in a loop).
    np.testing.assert_allclose(loss, expected, **TOL[dtype])
    np.testing.assert_array_equal(m, z.max(axis=1))  # exact: a maximum rounds nothing
    assert loss.dtype == np.dtype(dtype)
    _check_visits(visits)


def test_softmax_xent_forward_twin_gives_nan_for_a_label_out_of_range():
    z, labels = _logits("float32", rows=3)
    labels[1] = 5  # only 5 classes: the kernel must not read past the row
    loss, _, _ = ck.softmax_xent_forward_host(z, labels, 1, 2)
    assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("launch", LAUNCHES)
def test_softmax_xent_backward_twin_equals_autograd(dtype, reduction, launch):
    z, labels = _logits(dtype)
    logits = Tensor(z, requires_grad=True)
    loss = nn_ops.softmax_cross_entropy(logits, labels, reduction=reduction)
    g = (np.asarray(0.75, dtype) if reduction != "none"
         else np.random.default_rng(4).uniform(0.5, 2, len(z)).astype(dtype))
    loss.backward(g)
    _, m, log_s = ck.softmax_xent_forward_host(z, labels, 1, 1)
    divisor = len(z) if reduction == "mean" else 1
    visits = np.zeros(z.size, dtype=np.int64)
    got = ck.softmax_xent_backward_host(z, labels, m, log_s, g, divisor, *launch,
                                        visits=visits)
    np.testing.assert_allclose(got, logits.grad, **TOL[dtype])
    _check_visits(visits)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.2, 0.5, 0.0])
@pytest.mark.parametrize("launch", LAUNCHES)
def test_dropout_forward_twin_equals_xp(dtype, rate, launch):
    x = Tensor(_special(dtype, (5, 7)), requires_grad=True)
    # The op and the twin make the same keep/drop decisions: the op draws them from one
    # seeded generator, the twin gets them (from a twin generator) as uniforms: 1 = keep.
    out = nn_ops.Dropout.apply(x, rate=rate, generator=np.random.default_rng(9))
    keep = nn_ops.bernoulli_keep(np.random.default_rng(9), x.shape, rate)
    u = np.where(keep, 1.0, 0.0).astype(dtype)
    visits = np.zeros(x.size, dtype=np.int64)
    y, mask = ck.dropout_forward_host(x.data, u, rate, *launch, visits=visits)
    np.testing.assert_array_equal(y, out.data)  # exact: one product x · scale, in both
    g = np.ones(x.shape, dtype)
    out.backward(g)
    np.testing.assert_array_equal(g * mask, x.grad)  # the backward is g * mask
    _check_visits(visits)


def _optimizer_state(dtype, n=23, seed=5):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    var, grad, m = arrays
    grad[:3] = [0.0, 1e-38 if dtype == "float32" else 1e-300, np.nan]  # flush and NaN paths
    return var, grad, m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("use_momentum", [False, True])
@pytest.mark.parametrize("launch", LAUNCHES)
def test_sgd_update_twin_equals_the_optimizer_reference(dtype, nesterov, use_momentum, launch):
    t = np.dtype(dtype).type
    scalars = (t(0.01), t(0.9), t(np.finfo(dtype).tiny), use_momentum, nesterov)
    var, grad, m = _optimizer_state(dtype)
    var_ref, m_ref = var.copy(), m.copy()
    for decay in (t(0), t(0.004)):  # two steps: without and with weight decay
        optimizers._sgd_reference(var_ref, grad, m_ref, decay, *scalars)
        visits = np.zeros(var.size, dtype=np.int64)
        ck.sgd_update_host(var, grad, m, decay, *scalars, *launch, visits=visits)
        _check_visits(visits)
    # exact: the same IEEE operations in the same order, element by element
    np.testing.assert_array_equal(var, var_ref)
    np.testing.assert_array_equal(m, m_ref)


def test_sgd_twin_follows_keras_rule_by_hand():
    # Keras: velocity = momentum * velocity - lr * g; w = w + velocity.
    var, grad, m = (np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([0.1, 0.0]))
    ck.sgd_update_host(var, grad, m, 0.0, 0.1, 0.9, 1e-300, True, False, 1, 1)
    np.testing.assert_allclose(m, [0.9 * 0.1 - 0.05, -0.025])
    np.testing.assert_allclose(var, [1.0 + 0.09 - 0.05, -2.025])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("launch", LAUNCHES)
def test_adam_update_twin_equals_the_optimizer_reference(dtype, amsgrad, launch):
    t = np.dtype(dtype).type
    var, grad, m = _optimizer_state(dtype)
    v = np.abs(m) * t(0.1)
    v_hat = v * t(1.5) if amsgrad else np.empty(0, dtype)
    refs = [a.copy() for a in (var, m, v, v_hat)]
    for step, decay in ((1, t(0)), (2, t(0.004))):
        lr_t = t(1e-3 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step))
        scalars = (lr_t, t(0.1), t(0.001), t(1e-7), t(np.finfo(dtype).tiny), amsgrad)
        optimizers._adam_reference(refs[0], grad, refs[1], refs[2], refs[3], decay, *scalars)
        visits = np.zeros(var.size, dtype=np.int64)
        ck.adam_update_host(var, grad, m, v, v_hat, decay, *scalars, *launch, visits=visits)
        _check_visits(visits)
    for got, ref in zip((var, m, v, v_hat), refs):
        # exact: the same operations in the same order; sqrt is correctly rounded everywhere
        np.testing.assert_array_equal(got, ref)


def test_adam_twin_follows_keras_rule_by_hand():
    # Keras 3 Adam, step 1: alpha = lr * sqrt(1 - b2) / (1 - b1); m = (1 - b1) g;
    # v = (1 - b2) g^2; w -= alpha * m / (sqrt(v) + eps).
    lr, b1, b2, eps, g = 0.1, 0.9, 0.999, 1e-7, np.array([0.5, -2.0])
    var, m, v = np.array([1.0, 1.0]), np.zeros(2), np.zeros(2)
    alpha = lr * np.sqrt(1 - b2) / (1 - b1)
    ck.adam_update_host(var, g, m, v, np.empty(0), 0.0, alpha, 1 - b1, 1 - b2, eps, 1e-300,
                        False, 1, 2)
    expected_m, expected_v = (1 - b1) * g, (1 - b2) * g * g
    np.testing.assert_allclose(m, expected_m)
    np.testing.assert_allclose(v, expected_v)
    np.testing.assert_allclose(var, 1.0 - alpha * expected_m / (np.sqrt(expected_v) + eps))


# ---------------------------------------------------------------------------------------
# 4. On a GPU: the real kernels against their host twins
# ---------------------------------------------------------------------------------------


@pytest.fixture
def cupy_device():
    from minidl.backend import get_backend
    from minidl.errors import BackendUnavailableError

    try:
        return get_backend("gpu").xp
    except BackendUnavailableError as exc:
        pytest.skip(f"no GPU: {exc}")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_kernels_equal_their_host_twins(cupy_device, dtype):
    cp = cupy_device
    # Different exp/log implementations on the device: a few ulp, never more. The updates
    # are compared with a tolerance too: nvcc may fuse a * b + c into one FMA (--fmad=true).
    # Bitwise only for the kernels that make one rounding per element (add, product, max).
    tol = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-12)}
    x, b = _special(dtype, (33, 70)), _special(dtype, (70,), seed=1)
    np.testing.assert_array_equal(cp.asnumpy(ck.bias_relu_forward(cp.asarray(x),
                                                                  cp.asarray(b))),
                                  ck.bias_relu_forward_host(x, b, 1, 64))
    g = _special(dtype, (33, 70), seed=2)
    np.testing.assert_array_equal(cp.asnumpy(ck.relu_backward(cp.asarray(g), cp.asarray(x))),
                                  ck.relu_backward_host(g, x, 1, 64))
    z, labels = _logits(dtype)
    loss, m, log_s = ck.softmax_xent_forward(cp.asarray(z), cp.asarray(labels))
    host = ck.softmax_xent_forward_host(z, labels, 1, 4)
    for got, want in zip((loss, m, log_s), host):
        np.testing.assert_allclose(cp.asnumpy(got), want, **tol[dtype])
    g1 = np.asarray(0.5, dtype)
    dz = ck.softmax_xent_backward(cp.asarray(z), cp.asarray(labels), m, log_s,
                                  cp.asarray(g1), len(z))
    np.testing.assert_allclose(
        cp.asnumpy(dz), ck.softmax_xent_backward_host(z, labels, *host[1:], g1, len(z), 1, 4),
        **tol[dtype])
    u = np.random.default_rng(0).random(x.shape, dtype=np.dtype(dtype))
    y, mask = ck.dropout_forward(cp.asarray(x), cp.asarray(u), 0.3)
    y_host, mask_host = ck.dropout_forward_host(x, u, 0.3, 1, 64)
    np.testing.assert_array_equal(cp.asnumpy(y), y_host)
    np.testing.assert_array_equal(cp.asnumpy(mask), mask_host)
    t = np.dtype(dtype).type
    var, grad, mom = _optimizer_state(dtype, n=1000)
    device = [cp.asarray(a) for a in (var, grad, mom)]
    sgd = (t(0.001), t(0.05), t(0.9), t(np.finfo(dtype).tiny), True, True)
    ck.sgd_update(*device, *sgd)
    ck.sgd_update_host(var, grad, mom, *sgd, 1, 64)
    np.testing.assert_allclose(cp.asnumpy(device[0]), var, **tol[dtype])
    np.testing.assert_allclose(cp.asnumpy(device[2]), mom, **tol[dtype])
    var, grad, m = _optimizer_state(dtype, n=1000, seed=6)
    v, v_hat = np.abs(m), np.abs(m) * t(2)
    device = [cp.asarray(a) for a in (var, grad, m, v, v_hat)]
    adam = (t(0.001), t(3e-4), t(0.1), t(0.001), t(1e-7), t(np.finfo(dtype).tiny), True)
    ck.adam_update(*device, *adam)
    ck.adam_update_host(var, grad, m, v, v_hat, *adam, 1, 64)
    for got, want in zip(device, (var, grad, m, v, v_hat)):
        np.testing.assert_allclose(cp.asnumpy(got), want, **tol[dtype])
