"""Keras 3's NumPy-like ``keras.ops`` functions, each a thin alias of a minidl op.

Keras 3 code calls these inside a custom layer's ``call`` and in custom losses and metrics::

    import minidl as keras
    from minidl import ops

    def rmse(y_true, y_pred):
        return ops.sqrt(ops.mean(ops.square(y_true - y_pred), axis=-1))

They take ``Tensor``s, NumPy arrays or Python numbers and return ``Tensor``s. Nothing here
has a forward or backward of its own: every differentiable function calls an op from
``elementwise``, ``reduce``, ``shape`` or ``linalg`` (or composes them), so gradients flow
through them exactly as through the ops. Functions Keras does not differentiate either
(``argmax``, comparisons, ``round``, ``one_hot``, the constructors) return constant tensors
that record no graph.

Argument names and defaults are Keras's: ``clip(x, x_min, x_max)``, ``reshape(x,
newshape)``, ``logsumexp(x, axis=None)``. Where a name already existed in ``minidl.ops``
with a compatible positional signature, the Keras form replaces it there.
"""

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module, get_backend
from minidl.ops import elementwise as _ew
from minidl.ops import linalg as _linalg
from minidl.ops import reduce as _reduce
from minidl.ops import reshaping as _shape
from minidl.tensor import Tensor

# ---------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------


def convert_to_tensor(x, dtype=None, sparse=None):
    """``x`` as a ``Tensor`` (the same object when it already is one of that dtype).

    Args:
        x: a ``Tensor``, an array, a nested list or a number. Lists and Python numbers
            become ``keras.config.floatx()``, as everywhere in minidl.
        dtype: the dtype to convert to (a differentiable cast for a ``Tensor``).
        sparse: accepted for Keras compatibility; minidl has no sparse tensors.

    Returns:
        A ``Tensor``.
    """
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == np.dtype(dtype) else cast(x, dtype)
    return Tensor(x, dtype=dtype)


def convert_to_numpy(x):
    """``x`` as a NumPy array (copied off a GPU; no copy for a host ``Tensor``)."""
    if isinstance(x, Tensor):
        return x.to_numpy()
    return np.asarray(x)


def _array(x):
    """The raw array behind ``x`` (for the functions that record no gradient)."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    return np.asarray(x)


def _constant(array):
    """A ``Tensor`` that records no graph (the result of a non-differentiable function)."""
    return Tensor(array)


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def cast(x, dtype):
    """``x`` converted to ``dtype``.

    Float to float is differentiable (the gradient is cast back, as Keras does); a cast to
    an integer or boolean dtype records no gradient (as in Keras and PyTorch).
    """
    dtype = np.dtype(dtype)
    x = _tensor(x)
    if x.dtype == dtype:
        return x
    if dtype.kind == "f":
        return _ew.Cast.apply(x, dtype=dtype)
    return _constant(x.data.astype(dtype))


def shape(x):
    """The shape of ``x`` as a tuple of ints (Keras's ``ops.shape``)."""
    return tuple(_array(x).shape)


def ndim(x):
    """The number of axes of ``x``."""
    return _array(x).ndim


def size(x):
    """The number of elements of ``x``."""
    return int(_array(x).size)


# ---------------------------------------------------------------------------------------
# Arithmetic (the operators of ``Tensor``, by name)
# ---------------------------------------------------------------------------------------


def add(x1, x2):
    """``x1 + x2`` with broadcasting."""
    return _ew.Add.apply(*_ew._pair(x1, x2))


def subtract(x1, x2):
    """``x1 - x2`` with broadcasting."""
    return _ew.Sub.apply(*_ew._pair(x1, x2))


def multiply(x1, x2):
    """``x1 * x2`` with broadcasting."""
    return _ew.Mul.apply(*_ew._pair(x1, x2))


def divide(x1, x2):
    """``x1 / x2`` with broadcasting (true division)."""
    return _ew.Div.apply(*_ew._pair(x1, x2))


true_divide = divide


def negative(x):
    """``-x``."""
    return _ew.Neg.apply(x)


def power(x1, x2):
    """``x1 ** x2``: ``Pow`` for a constant exponent, ``PowTensor`` when it is a tensor."""
    if isinstance(x2, (int, float)) and not isinstance(x2, bool):
        return _ew.Pow.apply(x1, exponent=x2)
    return _ew.PowTensor.apply(*_ew._pair(x1, x2))


def square(x):
    """``x ** 2``; its gradient is ``2x``."""
    return _ew.Pow.apply(x, exponent=2)


sqrt = _ew.sqrt
exp = _ew.exp
log = _ew.log
abs = _ew.abs  # noqa: A001 - Keras's name
absolute = _ew.abs
tanh = _ew.tanh
maximum = _ew.maximum
minimum = _ew.minimum


def clip(x, x_min, x_max):
    """``x`` limited to ``[x_min, x_max]``; the gradient is 0 outside (Keras's ``ops.clip``).

    Either bound may be ``None`` (no limit on that side).
    """
    return _ew.Clip.apply(x, lo=x_min, hi=x_max)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2``; the gradient goes to the chosen side.

    Raises:
        ValueError: only one of ``x1`` and ``x2`` is given. (With neither, Keras returns the
            indices of the true elements: those come back as constant int tensors.)
    """
    if x1 is None and x2 is None:
        return tuple(_constant(i) for i in get_array_module(_array(condition)).nonzero(
            _array(condition)))
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither. "
                         f"Received: x1={x1!r}, x2={x2!r}")
    return _ew.where(condition, x1, x2)


def matmul(x1, x2):
    """The matrix product ``x1 @ x2`` (NumPy's rules for 1-D and batched operands)."""
    return _linalg.MatMul.apply(*_ew._pair(x1, x2))


def dot(x1, x2):
    """NumPy's ``dot``: a product with a scalar, otherwise the matrix product (1-D, 2-D)."""
    x1, x2 = _ew._pair(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return multiply(x1, x2)
    if x2.ndim > 2:
        raise ValueError(f"dot of a {x2.ndim}-D second operand is not supported; use "
                         f"matmul or reshape it. Received shapes {x1.shape} and {x2.shape}")
    return _linalg.MatMul.apply(x1, x2)


# ---------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Σ x over ``axis`` (all axes when ``None``)."""
    return _reduce.Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """The mean of ``x`` over ``axis`` (all axes when ``None``)."""
    return _reduce.Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    """The largest element over ``axis``; ``initial`` is a lower bound on the result."""
    out = _reduce.Max.apply(x, axis=axis, keepdims=keepdims)
    return out if initial is None else maximum(out, initial)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    """The smallest element over ``axis``; ``initial`` is an upper bound on the result."""
    out = _reduce.Min.apply(x, axis=axis, keepdims=keepdims)
    return out if initial is None else minimum(out, initial)


amax = max
amin = min


def var(x, axis=None, keepdims=False):
    """The population variance (divided by n, as Keras) over ``axis``."""
    return _reduce.var(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """The population standard deviation ``sqrt(var(x))`` over ``axis``."""
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """``log Σ exp(x)`` over ``axis`` (all axes when ``None``, as Keras), computed stably."""
    return _reduce.logsumexp(x, axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    """Indices of the largest elements (int32, no gradient); a flat index when ``axis`` is
    ``None``."""
    data = _array(x)
    out = get_array_module(data).argmax(data, axis=axis, keepdims=keepdims)
    return _constant(out.astype(np.int32))


def argmin(x, axis=None, keepdims=False):
    """Indices of the smallest elements (int32, no gradient)."""
    data = _array(x)
    out = get_array_module(data).argmin(data, axis=axis, keepdims=keepdims)
    return _constant(out.astype(np.int32))


def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether every element over ``axis`` is true (a bool tensor)."""
    data = _array(x)
    return _constant(get_array_module(data).all(data, axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether some element over ``axis`` is true (a bool tensor)."""
    data = _array(x)
    return _constant(get_array_module(data).any(data, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------------------
# Shapes and joining
# ---------------------------------------------------------------------------------------


def reshape(x, newshape):
    """``x`` with shape ``newshape`` (one entry may be -1)."""
    if isinstance(newshape, int):
        newshape = (newshape,)
    return _shape.Reshape.apply(x, shape=tuple(newshape))


def ravel(x):
    """``x`` as a 1-D tensor."""
    return reshape(x, (-1,))


def transpose(x, axes=None):
    """``x`` with its axes permuted (reversed when ``axes`` is ``None``)."""
    return _shape.transpose(x, axes)


expand_dims = _shape.expand_dims
squeeze = _shape.squeeze
broadcast_to = _shape.broadcast_to


def concatenate(xs, axis=0):
    """The tensors of ``xs`` joined along ``axis``."""
    return _shape.Concatenate.apply(*xs, axis=axis)


def stack(x, axis=0):
    """The tensors of ``x`` stacked along a new ``axis``."""
    return _shape.Stack.apply(*x, axis=axis)


# ---------------------------------------------------------------------------------------
# Comparisons and rounding (no gradient, as in Keras)
# ---------------------------------------------------------------------------------------


def _compare(name):
    def compare(x1, x2):
        a, b = _array(x1), _array(x2)
        return _constant(getattr(get_array_module(a, b), name)(a, b))

    compare.__name__ = name
    compare.__doc__ = f"Elementwise ``{name}`` of ``x1`` and ``x2`` (a bool tensor)."
    return compare


equal = _compare("equal")
not_equal = _compare("not_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
less = _compare("less")
less_equal = _compare("less_equal")
logical_and = _compare("logical_and")
logical_or = _compare("logical_or")


def logical_not(x):
    """Elementwise ``not x`` (a bool tensor)."""
    data = _array(x)
    return _constant(get_array_module(data).logical_not(data))


def _rounding(name):
    def rounding(x):
        data = _array(x)
        return _constant(getattr(get_array_module(data), name)(data))

    rounding.__name__ = name
    rounding.__doc__ = f"Elementwise ``{name}`` (no gradient: it is 0 almost everywhere)."
    return rounding


round = _rounding("round")  # noqa: A001 - Keras's name
floor = _rounding("floor")
ceil = _rounding("ceil")
sign = _rounding("sign")


# ---------------------------------------------------------------------------------------
# Constructors (constant tensors on the default device)
# ---------------------------------------------------------------------------------------


def _on_default_device(array):
    return _constant(get_backend(config.device()).asarray(array))


def zeros(shape, dtype=None):
    """A tensor of zeros (``floatx`` unless ``dtype`` is given)."""
    return _on_default_device(np.zeros(shape, dtype=dtype or config.floatx()))


def ones(shape, dtype=None):
    """A tensor of ones (``floatx`` unless ``dtype`` is given)."""
    return _on_default_device(np.ones(shape, dtype=dtype or config.floatx()))


def full(shape, fill_value, dtype=None):
    """A tensor of ``shape`` filled with ``fill_value``."""
    return _on_default_device(np.full(shape, fill_value, dtype=dtype or config.floatx()))


def zeros_like(x, dtype=None):
    """Zeros with the shape (and dtype, unless given) of ``x``, on its device."""
    data = _array(x)
    return _constant(get_array_module(data).zeros_like(data, dtype=dtype))


def ones_like(x, dtype=None):
    """Ones with the shape (and dtype, unless given) of ``x``, on its device."""
    data = _array(x)
    return _constant(get_array_module(data).ones_like(data, dtype=dtype))


def full_like(x, fill_value, dtype=None):
    """``fill_value`` with the shape (and dtype, unless given) of ``x``, on its device."""
    data = _array(x)
    return _constant(get_array_module(data).full_like(data, fill_value, dtype=dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    """The identity matrix ``N × M`` with ones on diagonal ``k``."""
    return _on_default_device(np.eye(N, M, k=k, dtype=dtype or config.floatx()))


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)``, as ``np.arange``."""
    return _on_default_device(np.arange(start, stop, step, dtype=dtype))

