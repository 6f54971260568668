"""Every op against PyTorch: forward values and gradients, in float32 and float64.

The core is one table, ``ROWS``: an op's name, its minidl form, its torch form, a hypothesis
strategy for its input shapes and settings, and the range of its input values. Each row runs
in both dtypes through ``check_op`` (shape, dtype, forward, then gradients of ``fn(x).sum()``).
Adding an op adds one row.

After the table come the exact-value tests at non-differentiable points (where PyTorch's
convention decides the gradient), the numerical-stability tests at logits of ±1e4, dropout,
and the operator protocol (reflected operators, ndarray * Tensor, comparisons).
"""

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_ulp_close, check_op, check_raises
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl
from minidl import ShapeError, Tensor, ops

DTYPES = ["float32", "float64"]

# NOTE: torch's reference convolutions on tiny inputs took ~90 ms a call with its default
# threads on this shared 2-core machine (threads spinning against each other) and ~5 ms
# with one: the references run single-threaded (the values do not depend on it).
torch.set_num_threads(1)

# Small shapes with size-1 axes and 0-d tensors: a bug in broadcasting or in reducing a
# size-1 axis shows up here, and each example costs a millisecond.
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5)
SHAPES_1D_UP = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)


def unary(shapes=SHAPES, **params):
    """Cases of one input of a drawn shape, with fixed settings."""
    return shapes.map(lambda s: ([s], dict(params)))


def binary(**params):
    """Cases of two inputs whose shapes broadcast together (incl. 0-d and size-1 axes)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=5
    ).map(lambda b: (list(b.input_shapes), dict(params)))


@st.composite
def axis_cases(draw, with_ddof=False):
    """A shape and an axis (None, an int, or a tuple; negatives allowed) with keepdims."""
    shape = draw(SHAPES)
    ndim = len(shape)
    if ndim == 0:
        axis = draw(st.sampled_from([None, 0, -1]))
    else:
        one = st.integers(-ndim, ndim - 1)
        several = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim)
        axis = draw(st.one_of(st.none(), one, several.map(tuple)))
    params = {"axis": axis, "keepdims": draw(st.booleans())}
    if with_ddof:
        params["ddof"] = draw(st.sampled_from([0, 1]))
        axes = range(ndim) if axis is None else np.atleast_1d(axis)
        count = int(np.prod([shape[a] for a in axes])) if ndim else 1
        assume(count > params["ddof"])  # n - ddof = 0 divides by zero (in both libraries)
    return [shape], params


def torch_dims(axis, ndim):
    """minidl's axis in torch's terms (None means every axis)."""
    return tuple(range(ndim)) if axis is None else axis


@st.composite
def matmul_cases(draw):
    """2-D, 1-D@2-D, 2-D@1-D, 1-D@1-D, and batched with broadcast batch axes."""
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    kinds = ["2d", "1d@2d", "2d@1d", "1d@1d", "batch", "batch@1d", "1d@batch"]
    kind = draw(st.sampled_from(kinds))
    batch = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=2, max_side=3)
    ba, bb = draw(batch).input_shapes
    shapes = {
        "2d": [(m, k), (k, n)],
        "1d@2d": [(k,), (k, n)],
        "2d@1d": [(m, k), (k,)],
        "1d@1d": [(k,), (k,)],
        "batch": [ba + (m, k), bb + (k, n)],
        "batch@1d": [ba + (m, k), (k,)],
        "1d@batch": [(k,), bb + (k, n)],
    }[kind]
    return shapes, {}


@st.composite
def reshape_cases(draw):
    shape = draw(SHAPES)
    size = int(np.prod(shape))
    target = list(draw(st.permutations(shape))) + [1] * draw(st.integers(0, 1))
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    if draw(st.booleans()):
        target = [size]
    return [shape], {"shape": tuple(target)}


@st.composite
def transpose_cases(draw):
    shape = draw(SHAPES)
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return [shape], {"axes": axes}


@st.composite
def flatten_cases(draw):
    shape = draw(SHAPES)
    return [shape], {"start_axis": draw(st.integers(0, max(len(shape) - 1, 0)))}


@st.composite
def squeeze_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    options = [st.none()]
    if ones:
        options.append(st.sampled_from(ones + [i - len(shape) for i in ones]))
        options.append(st.lists(st.sampled_from(ones), min_size=1, unique=True).map(tuple))
    return [shape], {"axis": draw(st.one_of(*options))}


@st.composite
def expand_dims_cases(draw):
    shape = draw(SHAPES)
    return [shape], {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


@st.composite
def broadcast_to_cases(draw):
    """A target shape, and an input made from it by dropping leading axes and setting some
    axes to 1."""
    target = draw(SHAPES)
    dropped = draw(st.integers(0, len(target)))
    shape = tuple(1 if draw(st.booleans()) else n for n in target[dropped:])
    return [shape], {"shape": target}


@st.composite
def concatenate_cases(draw):
    base = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        shapes.append(tuple(shape))
    return shapes, {"axis": axis}


@st.composite
def stack_cases(draw):
    base = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    count = draw(st.integers(1, 3))
    return [base] * count, {"axis": draw(st.integers(-len(base) - 1, len(base)))}


@st.composite
def pad_value_cases(draw):
    shape = draw(SHAPES_1D_UP)
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    return [shape], {"pad_width": widths, "value": draw(st.sampled_from([0.0, -1.5]))}


def torch_pad_value(t, pad_width, value):
    # F.pad lists the (before, after) pairs from the last axis to the first.
    return F.pad(t, [n for pair in reversed(pad_width) for n in pair], value=value)


@st.composite
def where_cases(draw):
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4)
    ).input_shapes
    condition = draw(hnp.arrays(np.bool_, shapes[0]))
    return [condition, shapes[1], shapes[2]], {}


@st.composite
def softmax_cases(draw):
    shape = draw(SHAPES_1D_UP)
    return [shape], {"axis": draw(st.integers(-len(shape), len(shape) - 1))}


@st.composite
def cross_entropy_cases(draw, target_kind):
    """Logits (*batch, C) with integer labels (*batch), one-hot or soft targets (*batch, C);
    batch may be empty (one unbatched sample), (N,) or (N, d)."""
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
    classes = draw(st.integers(1, 5))
    labels = draw(hnp.arrays(np.int64, batch, elements=st.integers(0, classes - 1)))
    if target_kind == "labels":
        target = labels
    elif target_kind == "one_hot":
        target = np.eye(classes)[labels]
    else:
        weights = draw(hnp.arrays(np.float64, batch + (classes,), elements=st.floats(0.05, 1)))
        target = weights / weights.sum(axis=-1, keepdims=True)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return [batch + (classes,), target], {"reduction": reduction}


def torch_cross_entropy(z, y, reduction):
    """torch wants the classes on axis 1 of a batched input: (N, C, d) rather than (N, d, C)."""
    if z.ndim > 2:
        z = z.movedim(-1, 1)
        y = y.movedim(-1, 1) if y.is_floating_point() else y
    return F.cross_entropy(z, y, reduction=reduction)


@st.composite
def getitem_basic_cases(draw):
    shape = draw(SHAPES)
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return [shape], {"index": index}


@st.composite
def getitem_array_cases(draw):
    """Integer-array indices (repeats allowed, so a gradient must be added, not written)."""
    shape = draw(SHAPES_1D_UP)
    index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_side=4)))
    return [shape], {"index": index}


def torch_take(t, index):
    """torch's reference for ``x[index]`` with NumPy's indexing rules (negative steps,
    None, Ellipsis, integer arrays): look the element positions up in an array of flat
    positions, then gather them with torch (whose gather backward scatter-adds)."""
    positions = np.arange(t.numel()).reshape(tuple(t.shape))[index]
    return t.reshape(-1)[torch.from_numpy(np.array(positions))]  # a copy: no negative strides


# ---- convolution, pooling, normalization: cases and torch references --------------------


def keras_same_pads(n, k, s, d):
    """Keras's 'same' padding, written out: output ceil(n / s); the odd cell goes after."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def torch_pad_pairs(padding, sizes, kernel, strides, dilation):
    """(before, after) per spatial axis for a minidl ``padding`` argument."""
    if padding == "valid":
        return [(0, 0)] * len(sizes)
    if padding == "same":
        return [keras_same_pads(*a) for a in zip(sizes, kernel, strides, dilation)]
    return [(p, p) for p in padding]


def to_torch_first(x, data_format):
    """A channels-last torch tensor moved to (N, C, *spatial), as torch's functions want."""
    return x.movedim(-1, 1) if data_format == "channels_last" else x


def from_torch_first(y, data_format):
    return y.movedim(1, -1) if data_format == "channels_last" else y


def spatial_pad(x, pairs, value=0.0):
    """torch.nn.functional.pad of the spatial axes of an (N, C, *spatial) tensor."""
    flat = [p for pair in reversed(pairs) for p in pair]
    return F.pad(x, flat, value=value)


TORCH_CONV = {1: F.conv1d, 2: F.conv2d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
TORCH_MAX = {1: F.max_pool1d, 2: F.max_pool2d}
TORCH_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d}


@st.composite
def conv_cases(draw, transpose=False):
    """Conv inputs (x, kernel, bias) in any layout, with odd sizes, strides, dilation,
    padding modes, groups and size-1 edges; the input is at least one window large."""
    nd = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    modes = ["valid", "same", "int"]
    padding = draw(st.sampled_from(modes))
    if padding == "int":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    sizes = tuple(draw(st.integers(max(1, span - (2 * p if isinstance(padding, tuple) else
                                                        span if padding == "same" else 0)), 6))
                  for span, p in zip(spans, padding if isinstance(padding, tuple) else
                                     (0,) * nd))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    layout = draw(st.sampled_from(["keras", "torch"]))
    n = draw(st.integers(1, 2))
    if transpose:  # x has the transposed conv's input channels = the kernel's filters
        if isinstance(padding, tuple):  # torch's rule: output_padding < stride or dilation
            output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                                   for s, d in zip(strides, dilation))
            assume(all((n_ - 1) * s - 2 * p + sp + op >= 1 for n_, s, p, sp, op in
                       zip(sizes, strides, padding, spans, output_padding)))
        else:
            output_padding = None
        channels = filters
    else:
        output_padding = None
        channels = c_in
    x_shape = ((n, *sizes, channels) if data_format == "channels_last"
               else (n, channels, *sizes))
    w_shape = ((*kernel, c_in // groups, filters) if layout == "keras"
               else (filters, c_in // groups, *kernel))
    params = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                  data_format=data_format, kernel_layout=layout)
    if transpose:
        params["output_padding"] = output_padding
    return [x_shape, w_shape, ((c_in if transpose else filters),)], params


def torch_kernel(w, layout):
    """A minidl kernel as torch's (F, C/G, *k)."""
    if layout == "torch":
        return w
    # contiguous: torch's single-threaded conv_transpose1d backward refuses a permuted view
    return w.permute(w.ndim - 1, w.ndim - 2, *range(w.ndim - 2)).contiguous()


def torch_conv(x, w, b, strides, padding, dilation_rate, groups, data_format, kernel_layout,
               activation="linear"):
    xt = to_torch_first(x, data_format)
    wt = torch_kernel(w, kernel_layout)
    sizes = xt.shape[2:]
    pairs = torch_pad_pairs(padding, sizes, wt.shape[2:], strides, dilation_rate)
    y = TORCH_CONV[len(sizes)](spatial_pad(xt, pairs), wt, b, strides, 0, dilation_rate,
                               groups)
    if activation == "relu":
        y = torch.relu(y)
    return from_torch_first(y, data_format)


def torch_conv_transpose(x, w, b, strides, padding, output_padding, dilation_rate, groups,
                         data_format, kernel_layout):
    """Keras's 'valid'/'same' transposed convolution built from torch's full output."""
    xt = to_torch_first(x, data_format)
    wt = torch_kernel(w, kernel_layout)
    nd = xt.ndim - 2
    fn = TORCH_CONV_T[nd]
    if isinstance(padding, tuple):
        y = fn(xt, wt, b, strides, padding, output_padding, groups, dilation_rate)
        return from_torch_first(y, data_format)
    spans = [d * (k - 1) + 1 for k, d in zip(wt.shape[2:], dilation_rate)]
    extra = tuple(max(s - sp, 0) for s, sp in zip(strides, spans))
    y = fn(xt, wt, b, strides, 0, extra, groups, dilation_rate)
    if padding == "same":  # Keras: output n·s; the crop (span - s) puts its odd cell after
        index = [slice(None), slice(None)]
        for n, s, sp in zip(xt.shape[2:], strides, spans):
            lo = max(sp - s, 0) // 2
            index.append(slice(lo, lo + n * s))
        y = y[tuple(index)]
    return from_torch_first(y, data_format)


@st.composite
def pool_cases(draw):
    nd = draw(st.sampled_from([1, 2]))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    padding = draw(st.sampled_from(["valid", "same", "int"]))
    if padding == "int":  # torch allows at most half the window
        padding = tuple(draw(st.integers(0, k // 2)) for k in pool)
    low = [k - (2 * p if isinstance(padding, tuple) else k if padding == "same" else 0)
           for k, p in zip(pool, padding if isinstance(padding, tuple) else (0,) * nd)]
    sizes = tuple(draw(st.integers(max(1, lo), 6)) for lo in low)
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    c, n = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    shape = (n, *sizes, c) if data_format == "channels_last" else (n, c, *sizes)
    return [shape], dict(pool_size=pool, strides=strides, padding=padding,
                         data_format=data_format)


def torch_pool(x, pool_size, strides, padding, data_format, kind):
    xt = to_torch_first(x, data_format)
    strides = pool_size if strides is None else strides
    nd = xt.ndim - 2
    if padding == "valid" or isinstance(padding, tuple):
        pad = 0 if padding == "valid" else padding
        fn = TORCH_MAX[nd] if kind == "max" else TORCH_AVG[nd]
        return from_torch_first(fn(xt, pool_size, strides, pad), data_format)
    pairs = torch_pad_pairs("same", xt.shape[2:], pool_size, strides, (1,) * nd)
    if kind == "max":  # the pads never win: -inf
        y = TORCH_MAX[nd](spatial_pad(xt, pairs, -float("inf")), pool_size, strides)
    else:  # Keras divides by the real cells: sum of x over sum of ones, both zero-padded
        ones = torch.ones_like(xt[:1, :1])
        y = (TORCH_AVG[nd](spatial_pad(xt, pairs), pool_size, strides)
             / TORCH_AVG[nd](spatial_pad(ones, pairs), pool_size, strides))
    return from_torch_first(y, data_format)


@st.composite
def batch_norm_cases(draw, training):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4))
    axis = draw(st.sampled_from([-1, 1]))
    c = shape[axis]
    assume(not training or np.prod(shape) // c > 1)  # torch needs 2 values per feature
    params = {"axis": axis, "epsilon": draw(st.sampled_from([1e-3, 1e-5]))}
    if not training:
        params["moving_mean"] = draw(hnp.arrays(np.float64, (c,), elements=st.floats(-1, 1)))
        params["moving_variance"] = draw(hnp.arrays(np.float64, (c,),
                                                    elements=st.floats(0.1, 2)))
    return [shape, (c,), (c,)], params


def minidl_batch_norm(x, gamma, beta, axis, epsilon, moving_mean=None, moving_variance=None):
    training = moving_mean is None
    return ops.batch_norm(x, gamma, beta, moving_mean, moving_variance, training, axis,
                          epsilon)[0]


def torch_batch_norm(x, gamma, beta, axis, epsilon, moving_mean=None, moving_variance=None):
    xt = x.movedim(axis, 1)
    if moving_mean is None:
        y = F.batch_norm(xt, None, None, gamma, beta, training=True, eps=epsilon)
    else:
        mm, mv = (torch.from_numpy(v).to(x.dtype) for v in (moving_mean, moving_variance))
        y = F.batch_norm(xt, mm, mv, gamma, beta, training=False, eps=epsilon)
    return y.movedim(1, axis)


@st.composite
def embedding_cases(draw):
    vocabulary, dim = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    index_shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, vocabulary - 1)))
    return [(vocabulary, dim), indices], {}


@st.composite
def pad_cases(draw):
    shape = draw(SHAPES_1D_UP)
    pairs = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    return [shape], {"pad_width": pairs}


@st.composite
def global_pool_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=4))
    return [shape], {"data_format": draw(st.sampled_from(["channels_last", "channels_first"])),
                     "keepdims": draw(st.booleans())}


def torch_global_pool(x, data_format, keepdims, kind):
    axes = tuple(range(2, x.ndim)) if data_format == "channels_first" else tuple(
        range(1, x.ndim - 1))
    fn = torch.mean if kind == "avg" else torch.amax
    return fn(x, axes, keepdim=keepdims)


@st.composite
def depthwise_cases(draw):
    c, multiplier = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    sizes = tuple(draw(st.integers(k, 6)) for k in kernel)
    return [(1, *sizes, c), (*kernel, c, multiplier)], {
        "strides": draw(st.sampled_from([1, 2])), "padding": draw(st.sampled_from(
            ["valid", "same"]))}


def torch_depthwise(x, w, strides, padding):
    """Keras's depthwise kernel (kh, kw, C, M) is torch's (C·M, 1, kh, kw), groups = C."""
    c = x.shape[-1]
    wt = w.reshape(*w.shape[:2], 1, -1).permute(3, 2, 0, 1)
    return torch_conv(x, wt, None, (strides,) * 2, padding, (1, 1), c, "channels_last",
                      "torch")


@dataclass
class Row:
    """One op: its minidl form, its torch form, cases (shapes, settings) and value range."""

    name: str
    minidl_fn: object
    torch_fn: object
    cases: object
    low: object = -2.0
    high: object = 2.0
    nondiff: tuple = ()


def _same(fn):
    """Python operator syntax that reads the same in both libraries."""
    return fn, fn


ROWS = [
    # ---- arithmetic (the operators; both libraries spell them the same) ---------------
    Row("add", *_same(lambda a, b: a + b), binary()),
    Row("sub", *_same(lambda a, b: a - b), binary()),
    Row("mul", *_same(lambda a, b: a * b), binary()),
    Row("div", *_same(lambda a, b: a / b), binary(), low=(-2, 0.5), high=(2, 2)),
    Row("div_negative_denominator", *_same(lambda a, b: a / b), binary(),
        low=(-2, -2), high=(2, -0.5)),
    Row("neg", *_same(lambda x: -x), unary()),
    Row("pow_2", *_same(lambda x: x**2), unary()),
    Row("pow_3", *_same(lambda x: x**3), unary()),
    Row("pow_0", *_same(lambda x: x**0), unary()),
    Row("pow_half", *_same(lambda x: x**0.5), unary(), low=0.1, high=3),
    Row("pow_minus_1", *_same(lambda x: x**-1), unary(), low=0.5, high=2),
    Row("pow_minus_1_negative", *_same(lambda x: x**-1), unary(), low=-2, high=-0.5),
    Row("pow_tensor", *_same(lambda a, b: a**b), binary(), low=(0.2, -2), high=(3, 2)),
    Row("matmul", *_same(lambda a, b: a @ b), matmul_cases()),
    # ---- reflected operators: a Python number on the left ------------------------------
    Row("radd", *_same(lambda x: 2 + x), unary()),
    Row("rsub", *_same(lambda x: 2 - x), unary()),
    Row("rmul", *_same(lambda x: 3 * x), unary()),
    Row("rdiv", *_same(lambda x: 2 / x), unary(), low=0.5, high=2),
    Row("rpow", *_same(lambda x: 2.0**x), unary()),
    # ---- elementwise functions -------------------------------------------------------
    Row("exp", ops.exp, torch.exp, unary()),
    Row("log", ops.log, torch.log, unary(), low=0.1, high=3),
    Row("sqrt", ops.sqrt, torch.sqrt, unary(), low=0.1, high=3),
    Row("abs", ops.abs, torch.abs, unary()),
    Row("tanh", ops.tanh, torch.tanh, unary()),
    Row("sigmoid", ops.sigmoid, torch.sigmoid, unary(), low=-6, high=6),
    Row("relu", ops.relu, torch.relu, unary()),
    Row("leaky_relu", lambda x: ops.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2), unary()),
    Row("elu", lambda x: ops.elu(x, alpha=0.7), lambda x: F.elu(x, alpha=0.7), unary()),
    Row("gelu", lambda x: ops.gelu(x, approximate=False), F.gelu, unary(), low=-4, high=4),
    Row("gelu_tanh", lambda x: ops.gelu(x, approximate=True),
        lambda x: F.gelu(x, approximate="tanh"), unary(), low=-4, high=4),
    Row("softplus", ops.softplus, F.softplus, unary(), low=-6, high=6),
    Row("maximum", ops.maximum, torch.maximum, binary()),
    Row("minimum", ops.minimum, torch.minimum, binary()),
    Row("clip", lambda x, lo, hi: ops.clip(x, lo, hi),
        lambda x, lo, hi: torch.clamp(x, lo, hi),
        SHAPES.flatmap(lambda s: st.sampled_from(
            [([s], {"lo": -0.5, "hi": 0.5}), ([s], {"lo": None, "hi": 0.3}),
             ([s], {"lo": -0.2, "hi": None})]))),
    Row("where", ops.where, torch.where, where_cases()),
    # ---- reductions --------------------------------------------------------------------
    Row("sum", lambda x, axis, keepdims: ops.sum(x, axis, keepdims),
        lambda x, axis, keepdims: torch.sum(x, torch_dims(axis, x.ndim), keepdim=keepdims),
        axis_cases()),
    Row("mean", lambda x, axis, keepdims: ops.mean(x, axis, keepdims),
        lambda x, axis, keepdims: torch.mean(x, torch_dims(axis, x.ndim), keepdim=keepdims),
        axis_cases()),
    Row("max", lambda x, axis, keepdims: ops.max(x, axis, keepdims),
        lambda x, axis, keepdims: torch.amax(x, torch_dims(axis, x.ndim), keepdim=keepdims),
        axis_cases()),
    Row("min", lambda x, axis, keepdims: ops.min(x, axis, keepdims),
        lambda x, axis, keepdims: torch.amin(x, torch_dims(axis, x.ndim), keepdim=keepdims),
        axis_cases()),
    Row("var", lambda x, axis, keepdims, ddof: ops.var(x, axis, keepdims, ddof),
        lambda x, axis, keepdims, ddof: torch.var(
            x, torch_dims(axis, x.ndim), correction=ddof, keepdim=keepdims),
        axis_cases(with_ddof=True)),
    Row("logsumexp", lambda x, axis, keepdims: ops.logsumexp(x, axis, keepdims),
        lambda x, axis, keepdims: torch.logsumexp(x, torch_dims(axis, x.ndim), keepdim=keepdims),
        axis_cases()),
    # ---- moving elements ---------------------------------------------------------------
    Row("reshape", lambda x, shape: ops.reshape(x, shape), torch.reshape, reshape_cases()),
    Row("transpose", ops.transpose,
        lambda x, axes: x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes),
        transpose_cases()),
    Row("flatten", ops.flatten, lambda x, start_axis: torch.flatten(x, start_axis),
        flatten_cases()),
    Row("squeeze", ops.squeeze,
        lambda x, axis: torch.squeeze(x) if axis is None else torch.squeeze(x, axis),
        squeeze_cases()),
    Row("expand_dims", ops.expand_dims, torch.unsqueeze, expand_dims_cases()),
    Row("broadcast_to", ops.broadcast_to, lambda x, shape: torch.broadcast_to(x, shape),
        broadcast_to_cases()),
    Row("getitem_basic", lambda x, index: x[index], torch_take, getitem_basic_cases()),
    Row("getitem_int_arrays", lambda x, index: x[index], torch_take, getitem_array_cases()),
    Row("concatenate", lambda *xs, axis: ops.concatenate(xs, axis),
        lambda *xs, axis: torch.cat(xs, axis), concatenate_cases()),
    Row("stack", lambda *xs, axis: ops.stack(xs, axis),
        lambda *xs, axis: torch.stack(xs, axis), stack_cases()),
    Row("pad_value", ops.pad, torch_pad_value, pad_value_cases()),
    # ---- neural-network ops ------------------------------------------------------------
    Row("softmax", ops.softmax, lambda x, axis: torch.softmax(x, axis), softmax_cases()),
    Row("log_softmax", ops.log_softmax, lambda x, axis: torch.log_softmax(x, axis),
        softmax_cases()),
    Row("cross_entropy_labels", ops.softmax_cross_entropy, torch_cross_entropy,
        cross_entropy_cases("labels"), low=-4, high=4),
    Row("cross_entropy_one_hot", ops.softmax_cross_entropy, torch_cross_entropy,
        cross_entropy_cases("one_hot"), low=-4, high=4, nondiff=(1,)),
    Row("cross_entropy_soft", ops.softmax_cross_entropy, torch_cross_entropy,
        cross_entropy_cases("soft"), low=-4, high=4, nondiff=(1,)),
    # torch differentiates the target too (d loss / dy = -z): both inputs are checked.
    Row("sigmoid_binary_cross_entropy", ops.sigmoid_binary_cross_entropy,
        lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none"),
        SHAPES.map(lambda s: ([s, s], {})), low=(-6, 0), high=(6, 1)),
    # ---- convolution, pooling, normalization ------------------------------------------
    Row("conv", lambda x, w, b, **p: ops.conv(x, w, bias=b, **p), torch_conv, conv_cases()),
    Row("conv_relu", lambda x, w, b, **p: ops.conv(x, w, bias=b, activation="relu", **p),
        functools.partial(torch_conv, activation="relu"), conv_cases()),
    Row("conv_transpose", lambda x, w, b, **p: ops.conv_transpose(x, w, bias=b, **p),
        torch_conv_transpose, conv_cases(True)),
    Row("depthwise_conv", ops.depthwise_conv, torch_depthwise, depthwise_cases()),
    Row("max_pool", ops.max_pool, functools.partial(torch_pool, kind="max"), pool_cases()),
    Row("avg_pool", ops.avg_pool, functools.partial(torch_pool, kind="avg"), pool_cases()),
    Row("global_avg_pool", ops.global_avg_pool,
        functools.partial(torch_global_pool, kind="avg"), global_pool_cases()),
    Row("global_max_pool", ops.global_max_pool,
        functools.partial(torch_global_pool, kind="max"), global_pool_cases()),
    Row("batch_norm_training", minidl_batch_norm, torch_batch_norm, batch_norm_cases(True)),
    Row("batch_norm_inference", minidl_batch_norm, torch_batch_norm, batch_norm_cases(False)),
    Row("embedding", lambda w, i: ops.embedding(i, w), lambda w, i: F.embedding(i, w),
        embedding_cases()),
    Row("pad", ops.pad, lambda x, pad_width: F.pad(
        x, [p for pair in reversed(pad_width) for p in pair]), pad_cases()),
    # ---- comparisons: boolean results, no gradient (check_op fails if minidl records one)
    Row("greater", *_same(lambda a, b: a > b), binary()),
    Row("less_equal", *_same(lambda a, b: a <= b), binary()),
    Row("equal", *_same(lambda a, b: a == b), binary()),
    Row("not_equal", *_same(lambda a, b: a != b), binary()),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
@given(data=st.data())
def test_op_matches_torch(row, dtype, data):
    inputs, params = data.draw(row.cases, label="inputs, settings")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    check_op(
        functools.partial(row.minidl_fn, **params),
        functools.partial(row.torch_fn, **params),
        inputs, dtype, low=row.low, high=row.high, nondiff=row.nondiff, seed=seed,
    )  # fmt: skip


# The same ops through Tensor methods (the spelling most user code has).
METHODS = [
    ("exp", (), 0), ("log", (), 0.1), ("sqrt", (), 0.1), ("abs", (), -2), ("tanh", (), -2),
    ("sigmoid", (), -2), ("relu", (), -2), ("sum", (1,), -2), ("mean", (0,), -2),
    ("max", (1,), -2), ("min", (0,), -2), ("reshape", ((6, 2),), -2), ("flatten", (), -2),
    ("transpose", ((1, 0, 2),), -2), ("permute", ((2, 0, 1),), -2), ("squeeze", (), -2),
    ("unsqueeze", (1,), -2),
]  # fmt: skip
TORCH_METHOD = {"max": "amax", "min": "amin", "transpose": "permute"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, args, low", METHODS, ids=[m[0] for m in METHODS])
def test_tensor_methods_match_torch(name, args, low, dtype):
    check_op(
        lambda x: getattr(x, name)(*args),
        lambda x: getattr(x, TORCH_METHOD.get(name, name))(*args),
        [(3, 1, 4)], dtype, low=low, high=3,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_var_method_and_T_match_torch(dtype):
    check_op(lambda x: x.var(axis=0, ddof=1), lambda x: x.var(0, correction=1), [(4, 3)], dtype)
    check_op(lambda x: x.T, lambda x: x.T, [(4, 3)], dtype)
    check_op(lambda x: x.clip(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5), [(4, 3)], dtype)


# Indexing spelled the way torch spells it natively (no flat-position reference).
GETITEM_INDICES = [
    (slice(1, 3),), (1,), (-1, slice(None, None, 2)), (None, Ellipsis, 0), (Ellipsis, None),
    (np.array([0, 0, 2]),), (np.array([1, 1]), np.array([0, 3])), (slice(None), [2, 2, 0]),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", GETITEM_INDICES, ids=[str(i) for i in GETITEM_INDICES])
def test_getitem_matches_torch_indexing(index, dtype):
    torch_index = tuple(torch.as_tensor(i) if isinstance(i, (np.ndarray, list)) else i
                        for i in index)  # fmt: skip
    check_op(lambda x: x[index], lambda x: x[torch_index], [(3, 4)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_with_integer_tensor_index(dtype):
    index = Tensor(np.array([2, 0, 2]))
    check_op(lambda x: x[index], lambda x: x[torch.tensor([2, 0, 2])], [(4, 2)], dtype)


# --------------------------------------------------------------------------------------
# Exact values at the kinks: PyTorch's convention decides the gradient there
# --------------------------------------------------------------------------------------


def grad_of_sum(fn, *arrays):
    """minidl's value and gradients of fn(*xs).sum() at the given points."""
    xs = [Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*xs)
    out.sum().backward()
    return out.data, [x.grad for x in xs]


def torch_grad_of_sum(fn, *arrays):
    xs = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*xs)
    grads = torch.autograd.grad(out.sum(), xs)
    return out.detach().numpy(), [g.numpy() for g in grads]


KINKS = [
    ("relu at 0", ops.relu, torch.relu, [[-1.0, 0.0, 1.0]]),
    ("abs at 0", ops.abs, torch.abs, [[-1.0, 0.0, 1.0]]),
    ("leaky_relu at 0", lambda x: ops.leaky_relu(x, 0.1), lambda x: F.leaky_relu(x, 0.1),
     [[-1.0, 0.0, 1.0]]),
    ("elu at 0", lambda x: ops.elu(x, 0.5), lambda x: F.elu(x, 0.5), [[-1.0, 0.0, 1.0]]),
    ("clip at the bounds", lambda x: ops.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1, 1),
     [[-2.0, -1.0, 0.0, 1.0, 2.0]]),
    ("max ties", lambda x: ops.max(x, axis=1), lambda x: torch.amax(x, 1),
     [[[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]]),
    ("min ties", lambda x: ops.min(x, axis=0), lambda x: torch.amin(x, 0),
     [[[1.0, 3.0], [1.0, 0.0], [1.0, 0.0]]]),
    ("max ties over all", lambda x: ops.max(x), lambda x: torch.amax(x),
     [[[5.0, 1.0], [5.0, 5.0]]]),
    ("maximum ties", ops.maximum, torch.maximum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    ("minimum ties", ops.minimum, torch.minimum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]]),
    ("pow 0 at 0", lambda x: x**0, lambda x: x**0, [[0.0, 1.0]]),
    ("sqrt then square at 1", lambda x: ops.sqrt(x) ** 2, lambda x: torch.sqrt(x) ** 2,
     [[1.0, 4.0]]),
    ("tensor pow with zero base", lambda a, b: a**b, lambda a, b: a**b,
     [[0.0, 0.0, 2.0], [0.0, 2.0, -1.0]]),
]  # fmt: skip


# Rows whose values away from the kink come from exp, log or pow: NumPy's and PyTorch's are
# different math libraries, which agree to an ulp, not bitwise. Every other row is exact:
# its values are exactly representable (kinks, ties, powers of two).
KINK_ULPS = {"elu at 0": 2}


@pytest.mark.parametrize("name, fn, torch_fn, points", KINKS, ids=[k[0] for k in KINKS])
def test_exact_values_at_kinks(name, fn, torch_fn, points):
    value, grads = grad_of_sum(fn, *points)
    ref_value, ref_grads = torch_grad_of_sum(torch_fn, *points)
    max_ulp = KINK_ULPS.get(name, 0)  # 0 ulp: equal values (-0.0 == 0.0, NaN == NaN)
    assert_ulp_close(value, ref_value, max_ulp, err_msg=f"{name}: value")
    for i, (g, e) in enumerate(zip(grads, ref_grads)):
        assert_ulp_close(g, e, max_ulp, err_msg=f"{name}: gradient {i}")


def test_kink_gradients_by_hand():
    # Independent of torch: the conventions written out.
    _, (g,) = grad_of_sum(ops.relu, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    _, (g,) = grad_of_sum(ops.abs, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
    _, (g,) = grad_of_sum(lambda x: ops.max(x, axis=1), [[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    _, (ga, gb) = grad_of_sum(ops.maximum, [1.0, 2.0], [1.0, 0.0])
    np.testing.assert_array_equal(ga, [0.5, 1.0])
    np.testing.assert_array_equal(gb, [0.5, 0.0])


def test_relu_of_minus_infinity_is_zero_not_nan():
    x = Tensor(np.array([-np.inf, 0.0, np.inf]), requires_grad=True)
    y = ops.relu(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.0, np.inf])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


# --------------------------------------------------------------------------------------
# Numerical stability at logits of ±1e4 in float32
# --------------------------------------------------------------------------------------

# NOTE: underflow (exp(-2e4) -> 0) is left ignored, as NumPy's default does: it is the
# intended result inside every stable formula and never produces a RuntimeWarning. Overflow,
# invalid operations (inf - inf, 0 * inf) and division by zero must not happen.
STRICT = {"divide": "raise", "over": "raise", "invalid": "raise", "under": "ignore"}

BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, 1e4]], dtype=np.float32)

STABILITY = [
    ("softmax", lambda z: ops.softmax(z, axis=-1), lambda z: torch.softmax(z, -1)),
    ("softmax axis 0", lambda z: ops.softmax(z, axis=0), lambda z: torch.softmax(z, 0)),
    ("log_softmax", lambda z: ops.log_softmax(z), lambda z: torch.log_softmax(z, -1)),
    ("cross_entropy labels", lambda z: ops.softmax_cross_entropy(z, np.array([1, 0, 2])),
     lambda z: F.cross_entropy(z, torch.tensor([1, 0, 2]))),
    ("cross_entropy one-hot", lambda z: ops.softmax_cross_entropy(z, np.eye(3, dtype="f4")),
     lambda z: F.cross_entropy(z, torch.eye(3))),
    ("sigmoid", ops.sigmoid, torch.sigmoid),
    ("softplus", ops.softplus, F.softplus),
    ("binary cross_entropy", lambda z: ops.sigmoid_binary_cross_entropy(z, np.ones_like(BIG)),
     lambda z: F.binary_cross_entropy_with_logits(z, torch.ones(3, 3), reduction="none")),
    ("logsumexp", lambda z: ops.logsumexp(z, axis=-1), lambda z: torch.logsumexp(z, -1)),
]  # fmt: skip


@pytest.mark.parametrize("name, fn, torch_fn", STABILITY, ids=[s[0] for s in STABILITY])
def test_large_logits_are_finite_without_warnings(name, fn, torch_fn):
    z = Tensor(BIG.copy(), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(**STRICT):
        warnings.simplefilter("error")
        out = fn(z)
        out.sum().backward()
    assert np.isfinite(out.data).all(), out.data
    assert np.isfinite(z.grad).all(), z.grad
    assert out.dtype == np.float32 and z.grad.dtype == np.float32
    # ... and still right: the same values and gradients as torch.
    check_op(fn, torch_fn, [BIG], "float32")


# --------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_is_identity_when_not_training(dtype):
    x = Tensor(np.arange(6, dtype=dtype).reshape(2, 3), requires_grad=True)
    y = ops.dropout(x, 0.5, training=False)
    np.testing.assert_array_equal(y.data, x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_scaling_and_gradient(rate, dtype):
    n = 20_000
    x = Tensor(np.full(n, 2.0, dtype=dtype), requires_grad=True)
    y = ops.dropout(x, rate, training=True, generator=np.random.default_rng(0))
    assert y.dtype == np.dtype(dtype)
    kept = y.data != 0
    # Each element is dropped with probability `rate`: within 5 binomial standard deviations.
    dropped_fraction = 1 - kept.mean()
    assert abs(dropped_fraction - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    # Inverted scaling: kept values are x / (1 - rate), so E[y] = x.
    np.testing.assert_allclose(y.data[kept], 2.0 / (1 - rate), rtol=1e-6)
    assert abs(y.data.mean() - 2.0) < 5 * 2.0 * np.sqrt(rate / ((1 - rate) * n))
    # The gradient is the same mask and scale: d y / d x = mask / (1 - rate).
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / (1 - rate), rtol=1e-6)


def test_dropout_is_reproducible_with_a_seeded_generator():
    x = Tensor(np.ones((4, 50), dtype=np.float32))
    a = ops.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    b = ops.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    c = ops.dropout(x, 0.5, generator=np.random.default_rng(8)).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Without a generator the mask comes from minidl's seeded streams, never numpy's global.
    minidl.random.set_seed(3)
    d = ops.dropout(x, 0.5).data
    np.random.seed(99)  # numpy's global state must not matter
    minidl.random.set_seed(3)
    e = ops.dropout(x, 0.5).data
    np.testing.assert_array_equal(d, e)


def test_dropout_with_the_same_mask_matches_torch():
    # Given dropout's mask m, the op is y = x · m / (1 - rate): check value and gradient
    # against torch applying that mask.
    x = np.random.default_rng(1).normal(size=(5, 6))
    out = ops.dropout(Tensor(x), 0.25, generator=np.random.default_rng(2)).data
    scaled_mask = (out != 0) / 0.75
    check_op(
        lambda t: ops.dropout(t, 0.25, generator=np.random.default_rng(2)),
        lambda t: t * torch.from_numpy(scaled_mask), [x], "float64",
    )


def test_dropout_rate_one_gives_zeros_and_zero_gradient_without_nan():
    x = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y = ops.dropout(x, 1.0, generator=np.random.default_rng(0))
        y.sum().backward()
    np.testing.assert_array_equal(y.data, np.zeros((3, 4)))
    np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))


# --------------------------------------------------------------------------------------
# The operator protocol
# --------------------------------------------------------------------------------------


def test_ndarray_on_the_left_returns_a_tensor_with_gradient():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = Tensor(np.array([[0.5, -1.0], [2.0, 3.0]]), requires_grad=True)
    for result, expected, grad in [
        (a * x, a * x.data, a),
        (a + x, a + x.data, np.ones_like(a)),
        (a - x, a - x.data, -np.ones_like(a)),
        (a / x, a / x.data, -a / x.data**2),
        (a @ x, a @ x.data, a.T @ np.ones_like(a)),
    ]:
        assert isinstance(result, Tensor), type(result)
        np.testing.assert_allclose(result.data, expected)
        x.zero_grad()
        result.sum().backward()
        np.testing.assert_allclose(x.grad, grad)


def test_python_numbers_keep_the_tensor_dtype():
    # torch's rule: a Python scalar does not promote a float32 tensor.
    x = Tensor(np.ones(3, dtype=np.float32))
    for result in (x * 2, 2 * x, x + 0.5, 1 - x, x / 3, 3 / x, x**2, 2.0**x, -x):
        assert result.dtype == np.float32


def test_comparisons_give_boolean_tensors_without_a_graph():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for result, expected in [
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
        (x > Tensor(np.array([0.0, 5.0, 3.0])), [True, False, False]),
    ]:
        assert isinstance(result, Tensor) and result.dtype == np.bool_
        assert not result.requires_grad and result.op is None
        np.testing.assert_array_equal(result.data, expected)


def test_dropout_noise_shape_drops_whole_columns():
    # Keras's noise_shape: the mask has that shape and is broadcast, so with (1, C) a column
    # is kept or dropped for every sample at once.
    x = Tensor(np.ones((6, 40)), requires_grad=True)
    y = ops.dropout(x, 0.5, generator=np.random.default_rng(0), noise_shape=(1, 40))
    kept_columns = y.data[0] != 0
    assert 0 < kept_columns.sum() < 40
    np.testing.assert_array_equal(y.data, np.broadcast_to(kept_columns * 2.0, (6, 40)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)


# --------------------------------------------------------------------------------------
# Edge inputs and bad input
# --------------------------------------------------------------------------------------


def test_logsumexp_of_a_fully_masked_row_is_minus_infinity_like_torch():
    z = np.array([[-np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0]])
    with np.errstate(divide="ignore", invalid="ignore"):  # log 0 and inf·0 are expected here
        ours, _ = check_op(lambda t: ops.logsumexp(t, axis=1),
                           lambda t: torch.logsumexp(t, 1), [z], "float64")  # fmt: skip
    assert ours[0] == -np.inf and np.isfinite(ours[1])


@pytest.mark.parametrize("labels", [[0, 3, 1], [0, -1, 1]], ids=["too large", "negative"])
def test_cross_entropy_rejects_labels_outside_the_classes(labels):
    # A label of -1 must not silently pick the last class.
    logits = Tensor(np.zeros((3, 3)), requires_grad=True)
    check_raises(ValueError, rf"label {labels[1]} at index 1 .* \[0, 3\)",
                 ops.softmax_cross_entropy, logits, np.array(labels))  # fmt: skip


def test_cross_entropy_rejects_labels_of_the_wrong_shape():
    logits = Tensor(np.zeros((4, 3)))
    check_raises(ShapeError, r"shape \(4,\).*got \(4, 1\)",
                 ops.softmax_cross_entropy, logits, np.zeros((4, 1), dtype=np.int64))  # fmt: skip
    check_raises(ShapeError, r"\(4, 3\), got \(4, 2\)",
                 ops.softmax_cross_entropy, logits, np.zeros((4, 2)))  # fmt: skip


def test_shape_errors_name_both_shapes():
    x = Tensor(np.zeros((2, 3)))
    check_raises(ShapeError, r"shape \(2, 3\) \(6 elements\) into shape \(4, 2\)",
                 ops.reshape, x, (4, 2))  # fmt: skip
    check_raises(ShapeError, r"\(2, 3\) to \(2, 4\)", ops.broadcast_to, x, (2, 4))
    check_raises(ValueError, "axis 2 is out of bounds", ops.sum, x, axis=2)
