"""Elementwise ops: arithmetic, exp/log, activations.

Each op is one class with ``forward`` and ``backward`` side by side. Binary ops follow
NumPy broadcasting in ``forward`` and return gradients of the broadcast shape in
``backward``; the engine sums them back to each input's shape (``unbroadcast``).

Notation in the docstrings: ``g`` is dL/d(out), the gradient flowing in from above.
"""

import functools
import math

import numpy as np

from minidl.array_backend import get_array_module
from minidl.jit import kernel
from minidl.tensor import Op

# ---------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------


class Add(Op):
    """out = a + b.   da = g,  db = g."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Op):
    """out = a - b.   da = g,  db = -g."""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_grad[1] else None)


class Mul(Op):
    """out = a · b.   da = g · b,  db = g · a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        da = g * self.b if self.needs_grad[0] else None
        db = g * self.a if self.needs_grad[1] else None
        return da, db


class Div(Op):
    """out = a / b.   da = g / b,  db = -g · a / b²."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        da = g / self.b if self.needs_grad[0] else None
        db = -g * self.a / (self.b * self.b) if self.needs_grad[1] else None
        return da, db


class Neg(Op):
    """out = -x.   dx = -g."""

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Pow(Op):
    """out = x ** p for a constant number p.   dx = g · p · x^(p-1)."""

    def __init__(self, exponent):
        self.p = exponent

    def forward(self, x):
        self.x = x
        return x**self.p

    def backward(self, g):
        p = self.p
        if p == 0:
            return (g * 0,)
        return (g * p * self.x ** (p - 1),)


class PowTensor(Op):
    """out = a ** b with both tensors.   da = g · b · a^(b-1),  db = g · a^b · log(a)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g):
        xp = get_array_module(g)
        da = db = None
        if self.needs_grad[0]:
            # torch's convention: where b == 0 the gradient is 0, also at a == 0 (where
            # b·a^(b-1) would be 0·inf = NaN); a base of 1 there avoids computing 0^(-1).
            a = xp.where((self.a == 0) & (self.b == 0), 1, self.a)
            da = g * self.b * a ** (self.b - 1)
        if self.needs_grad[1]:
            # torch's convention: where a == 0 and b >= 0 the term a^b·log(a) is taken as 0.
            safe_log = xp.log(xp.where(self.a == 0, 1, self.a))
            db = g * self.out * safe_log
        return da, db


class Exp(Op):
    """out = eˣ.   dx = g · out."""

    def forward(self, x):
        self.out = get_array_module(x).exp(x)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Op):
    """out = ln x.   dx = g / x."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, g):
        return (g / self.x,)


class Sqrt(Op):
    """out = √x.   dx = g / (2·out)."""

    def forward(self, x):
        self.out = get_array_module(x).sqrt(x)
        return self.out

    def backward(self, g):
        return (g / (2 * self.out),)


class Abs(Op):
    """out = |x|.   dx = g · sign(x)  (0 at x = 0, as torch)."""

    def forward(self, x):
        self.x = x
        return get_array_module(x).abs(x)

    def backward(self, g):
        return (g * get_array_module(g).sign(self.x),)


class Maximum(Op):
    """out = max(a, b) elementwise.   The larger input gets g; on a tie each gets g/2 (torch)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return get_array_module(a).maximum(a, b)

    def backward(self, g):
        a_wins = (self.a > self.b) + 0.5 * (self.a == self.b)
        return g * a_wins, g * (1 - a_wins)


class Minimum(Op):
    """out = min(a, b) elementwise.   The smaller input gets g; on a tie each gets g/2."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return get_array_module(a).minimum(a, b)

    def backward(self, g):
        a_wins = (self.a < self.b) + 0.5 * (self.a == self.b)
        return g * a_wins, g * (1 - a_wins)


class Clip(Op):
    """out = min(max(x, lo), hi).   dx = g where lo ≤ x ≤ hi, else 0 (torch.clamp)."""

    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.x = x
        return get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, g):
        inside = True
        if self.lo is not None:
            inside = self.x >= self.lo
        if self.hi is not None:
            inside = inside & (self.x <= self.hi)
        return (g * inside,)


class Where(Op):
    """out = x where cond else y.   dx = g · cond,  dy = g · (1 - cond); cond gets none."""

    def forward(self, cond, x, y):
        self.cond = cond.astype(bool)
        return get_array_module(x).where(self.cond, x, y)

    def backward(self, g):
        xp = get_array_module(g)
        zero = xp.zeros((), dtype=g.dtype)
        dx = xp.where(self.cond, g, zero) if self.needs_grad[1] else None
        dy = xp.where(self.cond, zero, g) if self.needs_grad[2] else None
        return None, dx, dy


class Cast(Op):
    """out = x converted to ``dtype``.   dx = g converted back (done by the engine)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, g):
        return (g,)


class ToDevice(Op):
    """out = x copied to another device.   dx = g copied back."""

    def __init__(self, device):
        from minidl.array_backend import get_backend

        self.target = get_backend(device)

    def forward(self, x):
        from minidl.array_backend import backend_of

        self.source = backend_of(x)
        if self.source is self.target:
            return x
        return self.target.asarray(self.source.to_numpy(x))

    def backward(self, g):
        if self.source is self.target:
            return (g,)
        return (self.source.asarray(self.target.to_numpy(g)),)


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------


class Tanh(Op):
    """out = tanh x.   dx = g · (1 - out²)."""

    def forward(self, x):
        self.out = get_array_module(x).tanh(x)
        return self.out

    def backward(self, g):
        return (g * (1 - self.out * self.out),)


def underflow_is_fine(method):
    """Silence NumPy's underflow flag inside an op method whose exp() may underflow to 0.

    In the stable formulas (softmax, sigmoid, log-sum-exp) e^-1e4 = 0 is the intended
    result, so ``np.errstate(all="raise")`` in user code must not turn it into an error.
    Overflow, invalid and divide-by-zero still follow the user's settings. (NumPy only:
    CuPy has no floating-point flags.)
    """

    @functools.wraps(method)
    def wrapper(self, *args):
        with np.errstate(under="ignore"):
            return method(self, *args)

    return wrapper


def stable_sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ) without overflow: e^(-|x|) is at most 1 for any x."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Op):
    """out = σ(x) = 1 / (1 + e⁻ˣ).   dx = g · out · (1 - out).  Finite at x = ±1e4."""

    @underflow_is_fine
    def forward(self, x):
        self.out = stable_sigmoid(x)
        return self.out

    @underflow_is_fine
    def backward(self, g):
        return (g * self.out * (1 - self.out),)


class ReLU(Op):
    """out = max(x, 0).   dx = g where x > 0, else 0 (0 at x = 0, as torch)."""

    def forward(self, x):
        self.mask = x > 0
        return get_array_module(x).maximum(x, 0)  # not x * mask: -inf * 0 would be NaN

    def backward(self, g):
        return (g * self.mask,)


class LeakyReLU(Op):
    """out = x if x > 0 else α·x.   dx = g if x > 0 else α·g."""

    def __init__(self, negative_slope=0.01):
        self.alpha = negative_slope

    def forward(self, x):
        self.positive = x > 0
        return get_array_module(x).where(self.positive, x, x * self.alpha)

    def backward(self, g):
        return (get_array_module(g).where(self.positive, g, g * self.alpha),)


class ELU(Op):
    """out = x if x > 0 else α·(eˣ - 1).   dx = g if x > 0 else g · (out + α)."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        xp = get_array_module(x)
        self.positive = x > 0
        # expm1 of min(x, 0): the positive branch never overflows exp.
        self.out = xp.where(self.positive, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        return self.out

    def backward(self, g):
        xp = get_array_module(g)
        return (xp.where(self.positive, g, g * (self.out + self.alpha)),)


class Softplus(Op):
    """out = ln(1 + eˣ) = max(x, 0) + ln(1 + e^(-|x|)).   dx = g · σ(x)."""

    @underflow_is_fine
    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    @underflow_is_fine
    def backward(self, g):
        return (g * stable_sigmoid(self.x),)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@kernel
def _erf_kernel(x, out):
    flat_x = x.ravel()
    flat_out = out.ravel()
    for i in range(flat_x.size):
        flat_out[i] = math.erf(flat_x[i])


def erf(x):
    """The error function elementwise (NumPy has none; ``math.erf`` in a Numba loop)."""
    xp = get_array_module(x)
    if xp is not np:  # NumPy has none; a device backend provides its own
        from minidl.array_backend import backend_of

        return backend_of(x).erf(x)
    shape = x.shape
    x = np.ascontiguousarray(x)  # NOTE: this turns a 0-d array into shape (1,): reshape below
    out = np.empty_like(x)
    _erf_kernel(x, out)
    return out.reshape(shape)


class GELU(Op):
    """Gaussian error linear unit.

    exact:       out = x · Φ(x),  Φ(x) = ½(1 + erf(x/√2)).   dx = g · (Φ(x) + x · φ(x))
    approximate: out = ½x(1 + tanh(u)),  u = √(2/π)(x + 0.044715x³).
                 dx = g · (½(1 + tanh u) + ½x(1 - tanh²u) · √(2/π)(1 + 3·0.044715x²))
    """

    def __init__(self, approximate=False):
        self.approximate = approximate

    @underflow_is_fine
    def forward(self, x):
        xp = get_array_module(x)
        self.x = x
        if self.approximate:
            self.t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + erf(x * _INV_SQRT_2))
        return x * self.cdf

    @underflow_is_fine
    def backward(self, g):
        xp = get_array_module(g)
        x = self.x
        if self.approximate:
            t = self.t
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du),)
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
        return (g * (self.cdf + x * pdf),)


# ---------------------------------------------------------------------------------------
# Functional forms
# ---------------------------------------------------------------------------------------


def _pair(a, b):
    """Make Tensors of two operands; a Python number takes the other operand's dtype."""
    from minidl.tensor import Tensor, _lift

    if isinstance(a, Tensor):
        return a, _lift(b, a)
    if isinstance(b, Tensor):
        return _lift(a, b), b
    return Tensor(a), Tensor(b)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):  # noqa: A001 - mirrors numpy/torch naming
    return Abs.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return ELU.apply(x, alpha=alpha)


def gelu(x, approximate=False):
    return GELU.apply(x, approximate=approximate)


def softplus(x):
    return Softplus.apply(x)


def maximum(a, b):
    return Maximum.apply(*_pair(a, b))


def minimum(a, b):
    return Minimum.apply(*_pair(a, b))


def clip(x, min=None, max=None):  # noqa: A002 - numpy/torch naming
    return Clip.apply(x, lo=min, hi=max)


def where(condition, x, y):
    """Elementwise ``x if condition else y``; the gradient flows to the chosen side."""
    from minidl.tensor import Tensor

    x, y = _pair(x, y)
    cond = condition.data if isinstance(condition, Tensor) else condition
    return Where.apply(Tensor(get_array_module(x.data).asarray(cond)), x, y)
