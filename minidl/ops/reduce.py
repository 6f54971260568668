"""Reductions: sum, mean, max, min (and var, composed from them).

The backward of a reduction spreads ``g`` back over the reduced axes: ``expand`` puts the
reduced axes back (as size 1) so ``g`` broadcasts against the input.
"""

import builtins

from minidl.array_backend import get_array_module
from minidl.tensor import Op


def normalize_axis(axis, ndim):
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    # NOTE: builtins.max, because this module defines its own `max` (the reduction op).
    bound = builtins.max(ndim, 1)
    for a in axes:
        if not -bound <= a < bound:
            raise ValueError(f"axis {a} is out of bounds for a tensor of {ndim} dimensions")
    if ndim == 0:  # torch allows axis 0/-1 on a scalar; it reduces nothing
        return ()
    return tuple(sorted(set(a % ndim for a in axes)))


def expand(g, axes, keepdims):
    """Reinsert the reduced ``axes`` into ``g`` as size-1 dimensions (unless kept)."""
    if keepdims or g.ndim == 0 and not axes:
        return g
    xp = get_array_module(g)
    for a in axes:
        g = xp.expand_dims(g, a)
    return g


class Sum(Op):
    """out = Σ x over ``axis``.   dx = g broadcast back over the summed axes."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        return (xp.broadcast_to(expand(g, self.axes, self.keepdims), self.shape),)


class Mean(Op):
    """out = (1/n) Σ x over ``axis`` (n elements reduced).   dx = g / n, broadcast back."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = normalize_axis(self.axis, x.ndim)
        self.n = 1
        for a in self.axes:
            self.n *= x.shape[a]
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        return (xp.broadcast_to(expand(g, self.axes, self.keepdims) / self.n, self.shape),)


class _Extremum(Op):
    """Shared by Max and Min: the gradient goes to the elements equal to the result; when
    several tie, it is split evenly among them (as torch.amax/amin)."""

    reduce = None  # "max" or "min"

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.axes = normalize_axis(self.axis, x.ndim)
        if x.size == 0:
            raise ValueError(f"{self.reduce}() of an empty tensor (shape {x.shape})")
        self.out = getattr(x, self.reduce)(axis=self.axes, keepdims=True)
        return self.out if self.keepdims else self.out.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes]
        )

    def backward(self, g):
        winners = self.x == self.out
        count = winners.sum(axis=self.axes, keepdims=True)
        return (expand(g, self.axes, self.keepdims) * winners / count,)


class Max(_Extremum):
    """out = max x over ``axis``.   dx = g / (number of maxima) at each maximum, else 0."""

    reduce = "max"


class Min(_Extremum):
    """out = min x over ``axis``.   dx = g / (number of minima) at each minimum, else 0."""

    reduce = "min"


# ---- functional forms -----------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance, composed from primitives: mean((x - mean(x))²) · n / (n - ddof).

    No backward of its own: the engine differentiates the composition.
    """
    from minidl.tensor import Tensor

    x = x if isinstance(x, Tensor) else Tensor(x)
    axes = normalize_axis(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    centered = x - Mean.apply(x, axis=axes, keepdims=True)
    return Sum.apply(centered * centered, axis=axes, keepdims=keepdims) / (n - ddof)


def logsumexp(x, axis=-1, keepdims=False):
    """log Σ exp(x) over ``axis``, stable: m + log Σ exp(x - m) with m = max(x)."""
    from minidl.tensor import Tensor

    x = x if isinstance(x, Tensor) else Tensor(x)
    xp = get_array_module(x.data)
    m = x.data.max(axis=axis, keepdims=True)  # a constant shift: no gradient needed
    # NOTE: where a whole slice is -inf (fully masked), x - m would be -inf + inf = NaN; a
    # shift of 0 gives log Σ exp(-inf) = log 0 = -inf there, as torch.logsumexp does.
    m = Tensor(xp.where(xp.isfinite(m), m, 0))
    out = (x - m).exp().sum(axis=axis, keepdims=True).log() + m
    return out if keepdims else out.squeeze(axis)
