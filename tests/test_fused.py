"""The fused ops and their Numba kernels.

Three references for each: the kernel's plain-NumPy twin (bitwise for pure arithmetic, a few
ulp where exp/log are involved: Numba's and NumPy's exp are different math libraries), the
composition of primitive ops it replaces, and PyTorch. The same file runs with the JIT off
(``tests/test_jit_off.py``), where the twins run.
"""

import numpy as np
import pytest
import torch
from helpers import assert_ulp_close
from hypothesis import given
from hypothesis import strategies as st

from minidl import Tensor, config
from minidl.ops import fused
from minidl.ops.nn import log_softmax_array

DTYPES = [np.float32, np.float64]
jit_only = pytest.mark.skipif(not config.JIT_ENABLED, reason="compares compiled kernels")


def bitwise_equal(a, b):
    """Same bits (so -0.0 != 0.0), NaNs compared as NaNs."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(f"u{a.itemsize}") == b.view(f"u{b.itemsize}"))))


def specials(dtype, shape, rng):
    """Random values with NaN, ±Inf, ±0 sprinkled in."""
    x = rng.normal(size=shape).astype(dtype)
    flat = x.reshape(-1)
    for value in (np.nan, np.inf, -np.inf, 0.0, -0.0):
        if flat.size:
            flat[rng.integers(flat.size)] = value
    return x


shapes = st.tuples(st.integers(0, 7), st.integers(1, 9))


def softmax_ulp_bound(c):
    """How far, in ulps, a kernel's softmax of a row of ``c`` classes may lie from its twin's.

    Not bitwise: the two exps come from different math libraries (each within a few ulp;
    NumPy's SIMD float32 exp is not correctly rounded), the twin sums the c terms in its own
    dtype (c - 1 roundings) where the kernel sums in float64, and each side divides and
    rounds. Those relative errors add up, to first order, to about c + 16 units of 2⁻ᵖ
    (2⁻²⁴ in float32), and a relative difference of k such units is at most k ulp.
    (Measured on 40,000 random rows of 12 classes: at most 6 ulp.)
    """
    return c + 16


# ---- kernels against their twins --------------------------------------------------------


@jit_only
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_bias_relu_kernel_is_bitwise_its_twin(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    z = specials(dtype, shape, rng)
    b = specials(dtype, shape[1:], rng)
    expected = fused.bias_activation_xp(z, b, "relu")
    fused.bias_relu_kernel(z, b, z.dtype.type(0))  # in place
    assert bitwise_equal(z, expected)  # exact: one IEEE add and one compare, in both


@jit_only
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_relu_backward_kernel_is_bitwise_its_twin(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    g = specials(dtype, shape, rng)
    out = np.maximum(specials(dtype, shape, rng), 0)
    dz = np.empty_like(g)
    fused.relu_backward_kernel(g, out, dz, g.dtype.type(0))
    # exact: a compare and a select, no arithmetic
    assert bitwise_equal(dz, fused.activation_backward_xp(g, out, "relu"))


@jit_only
@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 9), c=st.integers(1, 12), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_sparse_softmax_xent_kernels_match_their_twins(dtype, n, c, seed, scale):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, c)) * scale).astype(dtype)
    labels = rng.integers(0, c, size=n)
    probs = np.empty_like(logits)
    total = fused.sparse_softmax_xent_kernel(logits, labels, probs)
    expected_probs, losses = fused.sparse_softmax_xent_xp(logits, labels)
    expected_total = losses.astype(np.float64).sum()
    eps = np.finfo(dtype).eps
    assert abs(total - expected_total) <= 8 * n * eps * max(1.0, abs(expected_total))
    # and the twin is the textbook formula
    np.testing.assert_allclose(losses, -log_softmax_array(logits)[np.arange(n), labels],
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    # Below tiny, NumPy's SIMD exp may flush to zero: atol.
    assert_ulp_close(probs, expected_probs, max_ulp=softmax_ulp_bound(c),
                     atol=np.finfo(dtype).tiny, err_msg="softmax probabilities")
    dz = np.empty_like(probs)
    scale_ = dtype(0.25)
    fused.sparse_softmax_xent_backward_kernel(probs, labels, scale_, dz)
    twin = probs * scale_
    twin[np.arange(n), labels] -= scale_
    assert bitwise_equal(dz, twin)  # exact: one multiply, one subtract, in the same order


@jit_only
def test_kernels_agree_with_one_and_two_threads():
    numba = pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 10)).astype(np.float32)
    labels = rng.integers(0, 10, size=64)
    results = []
    for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
        numba.set_num_threads(threads)
        probs = np.empty_like(logits)
        results.append((fused.sparse_softmax_xent_kernel(logits, labels, probs), probs))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    # exact: the kernel is serial, so the thread count must change nothing at all
    assert results[0][0] == results[1][0] and bitwise_equal(results[0][1], results[1][1])


def test_kernels_keep_their_readable_body():
    for k in (fused.bias_relu_kernel, fused.relu_backward_kernel,
              fused.sparse_softmax_xent_kernel, fused.sparse_softmax_xent_backward_kernel):
        assert callable(k.py_func) and k.py_func.__doc__


# ---- fused ops against composed ops and PyTorch -----------------------------------------


TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-7, atol=1e-9)}
GRAD_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-7, atol=1e-9)}
TORCH_ACT = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh,
             "sigmoid": torch.sigmoid}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
@given(n=st.integers(1, 6), k=st.integers(1, 7), m=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_dense_matches_torch(dtype, activation, use_bias, n, k, m, seed):
    rng = np.random.default_rng(seed)
    x, w, b = (rng.normal(size=s).astype(dtype) for s in ((n, k), (k, m), (m,)))
    g = rng.normal(size=(n, m)).astype(dtype)
    tensors = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = fused.dense(tensors[0], tensors[1], tensors[2] if use_bias else None, activation)
    out.backward(g)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tz = tx @ tw + (tb if use_bias else 0)
    tout = TORCH_ACT[activation](tz)
    tout.backward(torch.tensor(g))

    # the suite's tolerance rule: |a - e| <= atol·max(1, max|e|) + rtol·|e|
    expected = tout.detach().numpy()
    np.testing.assert_allclose(out.data, expected, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * max(1.0, np.abs(expected).max()))
    assert out.dtype == dtype
    for mine, theirs in zip(tensors[:3 if use_bias else 2], (tx, tw, tb)):
        expected = theirs.grad.numpy()
        np.testing.assert_allclose(mine.grad, expected, rtol=GRAD_TOL[dtype]["rtol"],
                                   atol=GRAD_TOL[dtype]["atol"] * max(1.0, np.abs(expected).max()))
    if not use_bias:
        assert tensors[2].grad is None


def test_dense_relu_gradient_is_zero_at_the_kink():
    x = Tensor(np.array([[1.0]], np.float32))
    w = Tensor(np.array([[1.0]], np.float32), requires_grad=True)
    b = Tensor(np.array([-1.0], np.float32), requires_grad=True)  # z = 0 exactly
    out = fused.dense(x, w, b, "relu")
    out.backward(np.ones((1, 1), np.float32))
    assert out.data[0, 0] == 0 and w.grad[0, 0] == 0 and b.grad[0] == 0


def test_dense_skips_the_input_gradient_when_not_needed():
    x = Tensor(np.ones((2, 3), np.float32))  # data: no gradient wanted
    w = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    out = fused.dense(x, w, None, "relu")
    assert out.op.backward(np.ones((2, 4), np.float32))[0] is None


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 8), c=st.integers(1, 10), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 1e4]))
def test_sparse_softmax_cross_entropy_matches_torch(dtype, n, c, seed, scale):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, c)) * scale).astype(dtype)
    labels = rng.integers(0, c, size=n)
    z = Tensor(logits, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = fused.sparse_softmax_cross_entropy(z, labels)
        loss.backward()
    tz = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    tloss.backward()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    assert loss.dtype == dtype and loss.shape == ()
    np.testing.assert_allclose(loss.data, tloss.item(), **tol)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), **tol)
    assert np.isfinite(loss.data) and np.isfinite(z.grad).all()


@jit_only
@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(0, 9), c=st.integers(1, 12), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 30.0, 1e4]))
def test_softmax_rows_kernel_matches_its_twin(dtype, n, c, seed, scale):
    from minidl.ops.nn import softmax_array, softmax_rows_kernel

    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(n, c)) * scale).astype(dtype)
    out = np.empty_like(z)
    softmax_rows_kernel(z, out)
    with np.errstate(under="ignore"):
        expected = softmax_array(z)
    assert_ulp_close(out, expected, max_ulp=softmax_ulp_bound(c), atol=np.finfo(dtype).tiny,
                     err_msg="softmax")


@jit_only
def test_softmax_rows_kernel_propagates_nan_and_inf_like_its_twin():
    from minidl.ops.nn import softmax_array, softmax_rows_kernel

    z = np.array([[1.0, np.nan, 2.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 0.0]], np.float32)
    out = np.empty_like(z)
    softmax_rows_kernel(z, out)
    with np.errstate(invalid="ignore"):
        expected = softmax_array(z)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out[2], expected[2])


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.2, 0.5, 0.9, 1 - 2**-20])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 5), (257, 129)])
def test_bernoulli_keep_has_the_asked_rate_and_shape(rate, shape):
    from minidl.ops.nn import bernoulli_keep

    n_draws = 200_000
    keep = bernoulli_keep(np.random.default_rng(1), (n_draws,), rate)
    sigma = np.sqrt(rate * (1 - rate) / n_draws)
    assert abs((1 - keep.mean()) - rate) <= 5 * sigma + 1e-9
    assert bernoulli_keep(np.random.default_rng(1), shape, rate).shape == shape
    # the same generator state gives the same mask; the stream moves on between draws
    g1, g2 = np.random.default_rng(2), np.random.default_rng(2)
    np.testing.assert_array_equal(bernoulli_keep(g1, (64,), 0.5), bernoulli_keep(g2, (64,), 0.5))
    assert not np.array_equal(bernoulli_keep(g1, (64,), 0.5), bernoulli_keep(g1, (64,), 0.5))
