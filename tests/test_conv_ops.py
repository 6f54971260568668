"""Convolution, pooling and batch norm beyond the parity rows of ``test_ops.py``.

- max-pool ties: the gradient goes to the first maximum of each window, exactly as torch;
- finite-difference gradient checks in float64 (independent of torch);
- each Numba kernel against its ``xp`` twin (a few ulp: they add in different orders);
- hand-computed sizes: Keras's 'same' rule, the transposed convolution's output sizes;
- bad settings raise clear errors.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_raises

from minidl import ShapeError, Tensor, ops
from minidl.ops.conv import (
    Geometry,
    col2im,
    col2im_xp,
    max_pool_backward_xp,
    max_pool_xp,
    resolve_padding,
)
from minidl.testing import gradcheck


def _rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------
# Max-pool ties (common after ReLU): the first maximum takes the whole gradient
# --------------------------------------------------------------------------------------

TIES = [
    np.zeros((1, 1, 4, 4)),  # every cell tied (a ReLU'd patch of negatives)
    np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]]]),
    np.array([[[[3.0, 3.0, 3.0, 3.0, 3.0]]]]),  # overlapping windows over ties (stride 1)
]


WINDOWS = [((2, 2), (2, 2)), ((1, 2), (1, 1)), ((2, 3), (1, 2))]
TIE_CASES = [(x, k, s) for x in TIES for k, s in WINDOWS
             if all(a <= n for a, n in zip(k, x.shape[2:]))]  # windows that fit the input


@pytest.mark.parametrize("x, kernel, stride", TIE_CASES)
def test_max_pool_ties_route_the_gradient_like_torch(x, kernel, stride):
    t = torch.tensor(x, requires_grad=True)
    ref = F.max_pool2d(t, kernel, stride)
    weights = np.arange(1.0, ref.numel() + 1).reshape(ref.shape)
    (ref * torch.tensor(weights)).sum().backward()
    ours_x = Tensor(x.copy(), requires_grad=True)
    ours = ops.max_pool(ours_x, kernel, stride, data_format="channels_first")
    (ours * Tensor(weights)).sum().backward()
    np.testing.assert_array_equal(ours.data, ref.detach().numpy())
    np.testing.assert_array_equal(ours_x.grad, t.grad.numpy())


def test_max_pool_tie_gradient_by_hand():
    # One 2x2 window of equal values: the first (top-left) cell gets the whole gradient.
    x = Tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    ops.max_pool(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


# --------------------------------------------------------------------------------------
# Finite differences (float64)
# --------------------------------------------------------------------------------------


def _t(shape, seed=0):
    return Tensor(_rng(seed).normal(size=shape), requires_grad=True)


GRADCHECKS = [
    ("conv2d same stride 2", lambda x, w, b: ops.conv(x, w, 2, "same", bias=b),
     [(2, 5, 6, 3), (3, 2, 3, 4), (4,)]),
    ("conv1d dilated groups torch layout", lambda x, w, b: ops.conv(
        x, w, 1, 1, "channels_first", 2, bias=b, groups=2, kernel_layout="torch"),
     [(2, 4, 7), (6, 2, 3), (6,)]),
    ("conv2d relu", lambda x, w, b: ops.conv(x, w, bias=b, activation="relu"),
     [(1, 4, 4, 2), (2, 2, 2, 3), (3,)]),
    ("conv_transpose same", lambda x, w, b: ops.conv_transpose(x, w, 2, "same", bias=b),
     [(2, 3, 3, 4), (3, 3, 2, 4), (2,)]),
    ("max_pool padded", lambda x: ops.max_pool(x, 3, 2, 1), [(2, 5, 5, 2)]),
    ("avg_pool same", lambda x: ops.avg_pool(x, (2, 3), 1, "same"), [(2, 4, 5, 2)]),
    ("batch_norm training", lambda x, g, b: ops.batch_norm(x, g, b, training=True)[0],
     [(4, 3, 2, 5), (5,), (5,)]),
]


@pytest.mark.parametrize("name, fn, shapes", GRADCHECKS, ids=[g[0] for g in GRADCHECKS])
def test_gradients_match_finite_differences(name, fn, shapes):
    inputs = [_t(s, seed=i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs)


# --------------------------------------------------------------------------------------
# Each Numba kernel equals its xp twin
# --------------------------------------------------------------------------------------

ULP_RTOL = {np.float32: 8 * np.finfo(np.float32).eps, np.float64: 8 * np.finfo(np.float64).eps}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["kc", "ck"])
@pytest.mark.parametrize("nd", [1, 2])
def test_col2im_kernel_equals_its_xp_twin(dtype, order, nd):
    size, kernel = ((9, 8), (3, 2)) if nd == 2 else ((11,), (3,))
    geom = Geometry(size, kernel, (2,) * nd, (1, 2)[:nd], 1, groups=2, order=order)
    padded_shape = (3, *geom.padded_size, 4)
    rows = 3 * int(np.prod(geom.out_size))
    cols = _rng().normal(size=(2, rows, int(np.prod(kernel)) * 2)).astype(dtype)
    reference = col2im_xp(cols, padded_shape, geom)
    fast = col2im(cols, padded_shape, geom)
    assert fast.dtype == reference.dtype == dtype
    # Overlapping windows add in another order: within a few ulp of the sum's magnitude.
    scale = col2im_xp(np.abs(cols), padded_shape, geom)
    assert np.all(np.abs(fast - reference) <= ULP_RTOL[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2])
def test_max_pool_kernels_equal_their_xp_twins(dtype, nd):
    x = _rng().normal(size=(2, *((7, 6)[:nd]), 3)).astype(dtype)
    x[0, 1] = 0.0  # ties
    geom = Geometry(x.shape[1:-1], (3,) * nd, (2,) * nd, (1,) * nd, "valid")
    out, arg = max_pool_xp(x, geom)
    t = Tensor(x, requires_grad=True)
    y = ops.max_pool(t, 3, 2)  # the kernel path (JIT on)
    np.testing.assert_array_equal(y.data, out)  # a max is exact: no rounding to differ
    g = _rng(1).normal(size=y.shape).astype(dtype)
    (y * Tensor(g)).sum().backward()
    expected = max_pool_backward_xp(g, arg, x.shape, geom)
    np.testing.assert_allclose(t.grad, expected, rtol=ULP_RTOL[dtype], atol=0)


# --------------------------------------------------------------------------------------
# Sizes by hand
# --------------------------------------------------------------------------------------


def test_same_padding_puts_the_odd_cell_after():
    # n=5, k=2, s=1: total padding 1, all of it after (Keras/TensorFlow); k=4: 1 before, 2
    # after; n=6, k=3, s=2: output 3 needs (3-1)·2 + 3 - 6 = 1 cell, after.
    assert resolve_padding("same", (5, 5), (2, 4), (1, 1), (1, 1)) == ((0, 1), (1, 2))
    assert resolve_padding("same", (6,), (3,), (2,), (1,)) == ((0, 1),)
    x = Tensor(np.arange(5.0).reshape(1, 5, 1))
    y = ops.conv(x, np.ones((2, 1, 1)), padding="same")  # sums of neighbours; last sees a 0
    np.testing.assert_array_equal(y.data[0, :, 0], [1.0, 3.0, 5.0, 7.0, 4.0])


@pytest.mark.parametrize("n, k, s, padding, expected", [
    (4, 3, 2, "same", 8), (4, 3, 2, "valid", 9), (4, 1, 3, "valid", 12), (5, 3, 1, "same", 5),
])
def test_conv_transpose_output_sizes_follow_keras(n, k, s, padding, expected):
    # Keras: 'same' gives n·s, 'valid' n·s + max(k - s, 0).
    y = ops.conv_transpose(np.ones((1, n, n, 2)), np.ones((k, k, 3, 2)), s, padding)
    assert y.shape == (1, expected, expected, 3)


def test_average_pool_same_divides_by_real_cells():
    # [1, 2, 3] pooled by 2 with 'same' (stride 1): the last window holds one real cell.
    x = Tensor(np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1))
    np.testing.assert_array_equal(ops.avg_pool(x, 2, 1, "same").data.ravel(), [1.5, 2.5, 3.0])
    # PyTorch's explicit padding counts the pads: (0 + 1) / 2 at the left edge.
    np.testing.assert_array_equal(ops.avg_pool(x, 2, 1, 1).data.ravel(), [0.5, 1.5, 2.5, 1.5])


def test_batch_norm_uses_the_biased_variance_by_hand():
    x = np.array([[1.0], [3.0]])  # mean 2, biased variance 1
    y, mean, var = ops.batch_norm(Tensor(x), training=True, epsilon=0.0)
    np.testing.assert_array_equal(mean, [2.0])
    np.testing.assert_array_equal(var, [1.0])
    np.testing.assert_array_equal(y.data, [[-1.0], [1.0]])


# --------------------------------------------------------------------------------------
# Bad settings
# --------------------------------------------------------------------------------------


def test_bad_settings_raise_clear_errors():
    x = Tensor(np.ones((1, 4, 4, 2)))
    w = np.ones((3, 3, 2, 1))
    check_raises(ShapeError, r"spans 5\) is larger than the padded input \(4",
                 ops.conv, x, w, dilation_rate=2)
    check_raises(ShapeError, "expects 3 input channels, got an input with 2",
                 ops.conv, x, np.ones((3, 3, 3, 1)))
    check_raises(ValueError, r"strides must be positive, got \(1, 0\)",
                 ops.conv, x, w, strides=(1, 0))
    check_raises(ValueError, "padding must be 'valid', 'same'", ops.conv, x, w, padding="full")
    check_raises(ValueError, "data_format must be 'channels_last' or 'channels_first', got "
                 "'NHWC'", ops.max_pool, x, 2, data_format="NHWC")
    check_raises(ValueError, "pool_size must be positive, got -1", ops.max_pool, x, -1)
    check_raises(ShapeError, r"3-D .* or 4-D .* got shape \(4, 4\)",
                 ops.conv, np.ones((4, 4)), w)
    check_raises(ValueError, r"index 5 at position \(1,\) is outside the valid range \[0, 3\)",
                 ops.embedding, np.array([0, 5]), np.ones((3, 2)))
    check_raises(ValueError, "pad_width must be non-negative", ops.pad, x, [(0, -1)] * 4)
