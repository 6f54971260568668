"""Ops that move elements without changing them: reshape, transpose, indexing, joining.

Their backward passes move the gradient back the same way: reshape it back, transpose it
back, scatter it back into the positions that were read.
"""

from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.tensor import Op, Tensor


class Reshape(Op):
    """out = x viewed with a new ``shape`` (one entry may be -1).   dx = g reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(
                f"cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) "
                f"into shape {tuple(self.shape)}"
            ) from None

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class Transpose(Op):
    """out = x with its axes permuted (reversed when ``axes`` is None).

    dx = g permuted by the inverse permutation.
    """

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        xp = get_array_module(x)
        self.perm = tuple(range(x.ndim))[::-1] if self.axes is None else self.axes
        return xp.transpose(x, self.perm)

    def backward(self, g):
        xp = get_array_module(g)
        inverse = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inverse[p % len(self.perm)] = i
        return (xp.transpose(g, inverse),)


class Squeeze(Op):
    """out = x without size-1 axes (all of them, or those in ``axis``).   dx = g reshaped."""

    def __init__(self, axis=None):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        self.in_shape = x.shape
        return xp.squeeze(x, axis=self.axis)

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class ExpandDims(Op):
    """out = x with a new size-1 axis at ``axis``.   dx = g reshaped back."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.in_shape = x.shape
        return get_array_module(x).expand_dims(x, self.axis)

    def backward(self, g):
        return (g.reshape(self.in_shape),)


class BroadcastTo(Op):
    """out = x broadcast to ``shape``.   dx = g summed back to x's shape (by the engine)."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        try:
            return get_array_module(x).broadcast_to(x, self.shape)
        except ValueError:
            raise ShapeError(
                f"cannot broadcast a tensor of shape {tuple(x.shape)} to {tuple(self.shape)}"
            ) from None

    def backward(self, g):
        return (g,)


def _is_basic_index(index):
    """True if ``index`` uses only ints, slices, None and Ellipsis (no arrays): each element
    of the input is then read at most once, so the gradient can be written, not added."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Op):
    """out = x[index] (basic slicing or integer-array indexing).

    dx = zeros like x, with g added at the positions that were read. With integer arrays a
    position can be read several times (``x[[0, 0]]``); ``xp.add.at`` then adds each copy.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, g):
        xp = get_array_module(g)
        dx = xp.zeros(self.in_shape, dtype=g.dtype)
        if _is_basic_index(self.index):
            dx[self.index] = g
        else:
            xp.add.at(dx, self.index, g)
        return (dx,)


class Concatenate(Op):
    """out = the inputs joined along ``axis``.   Each input gets its slice of g."""

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, g):
        xp = get_array_module(g)
        cuts = []
        total = 0
        for n in self.sizes[:-1]:
            total += n
            cuts.append(total)
        return tuple(xp.split(g, cuts, axis=self.axis))


class Stack(Op):
    """out = the inputs stacked along a new ``axis``.   Input i gets g taken at i on it."""

    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, g):
        xp = get_array_module(g)
        return tuple(xp.take(g, i, axis=self.axis) for i in range(g.shape[self.axis]))


class Copy(Op):
    """out = a C-contiguous copy of x (``clone``/``contiguous``).   dx = g."""

    def forward(self, x):
        return x.copy(order="C")

    def backward(self, g):
        return (g,)


# ---- functional forms -----------------------------------------------------------------


def reshape(x, shape):
    return Reshape.apply(x, shape=tuple(shape))


def transpose(x, axes=None):
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def flatten(x, start_axis=0):
    """Merge the axes from ``start_axis`` on into one (``Flatten`` uses start_axis=1)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return Reshape.apply(x, shape=tuple(x.shape[:start_axis]) + (-1,))


def squeeze(x, axis=None):
    return Squeeze.apply(x, axis=axis)


def expand_dims(x, axis):
    return ExpandDims.apply(x, axis=axis)


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape=tuple(shape))


def concatenate(tensors, axis=0):
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    return Stack.apply(*tensors, axis=axis)


class Pad(Op):
    """out = x with ``pad_width[i] = (before, after)`` cells of ``value`` (default zeros)
    around axis i.

    dx = g without the padding (the slice that holds x).
    """

    def __init__(self, pad_width, value=0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        xp = get_array_module(x)
        if len(self.pad_width) != x.ndim:
            raise ShapeError(f"pad: pad_width needs one (before, after) pair per axis of the "
                             f"input of shape {tuple(x.shape)}, got {list(self.pad_width)}")
        return xp.pad(x, self.pad_width, constant_values=self.value)

    def backward(self, g):
        return (g[tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.pad_width, g.shape))],)


def pad(x, pad_width, value=0.0):
    """Constant padding (zeros by default): ``pad_width`` is one ``(before, after)`` pair
    per axis (or one int for every side of every axis), as ``numpy.pad`` with
    ``mode="constant"``.

    >>> pad(Tensor([[1.0, 2.0]]), ((0, 0), (1, 2))).tolist()
    [[0.0, 1.0, 2.0, 0.0, 0.0]]

    Raises:
        ValueError: a negative or non-integer width.
        ShapeError: not one pair per axis.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if isinstance(pad_width, int) and not isinstance(pad_width, bool):
        pad_width = [(pad_width, pad_width)] * x.ndim
    try:
        pairs = tuple((int(lo), int(hi)) for lo, hi in pad_width)
        valid = all(lo >= 0 and hi >= 0 and lo == a and hi == b
                    for (lo, hi), (a, b) in zip(pairs, pad_width))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"pad: pad_width must be non-negative int (before, after) pairs, got "
                         f"{pad_width!r}")
    return Pad.apply(x, pad_width=pairs, value=value)
