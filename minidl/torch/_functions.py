"""``torch.*`` functions: tensor creation, joining, and the math that has a method twin.

Creation follows PyTorch's dtype inference (``as_array``): Python floats give float32,
Python ints int64. Random tensors draw from the face's stream (``_random``), so
``manual_seed`` repeats them; their numbers are minidl's, not PyTorch's.
"""

import builtins

import numpy as np

from minidl.ops import reshaping as _shape
from minidl.torch import _dtypes as dt
from minidl.torch import _random
from minidl.torch._tensor import (
    Tensor,
    TorchShapeError,
    _cast,
    _engine,
    _to_tensor,
    _write_out,
    as_array,
    result_dtype,
)


def _size(size):
    """``zeros(2, 3)`` and ``zeros((2, 3))`` both mean shape (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise TypeError(f"sizes must be non-negative ints, got {tuple(size)!r}")
    return tuple(int(n) for n in size)


def _make(array, requires_grad):
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dtype_or_default(dtype):
    return dt.get_default_dtype() if dtype is None else np.dtype(dtype)


# ---- creation ---------------------------------------------------------------------------


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data``.

    Args:
        data: a number, a (nested) list, a NumPy array or a tensor.
        dtype: the dtype; by default inferred as PyTorch does (floats → float32,
            ints → int64, bools → bool; arrays keep theirs).
        device: ``"cpu"`` (or ``"gpu"``/``"cuda"`` with CuPy).
        requires_grad: record operations for ``backward``.

    Returns:
        A ``minidl.torch.Tensor``.

    >>> tensor([1.5, 2.0]).dtype, tensor([1, 2]).dtype, tensor(True).dtype
    (dtype('float32'), dtype('int64'), dtype('bool'))
    """
    array = as_array(data, dtype)
    if array is getattr(data, "data", None) or array is data:
        array = array.copy()  # torch.tensor always copies
    t = _make(array, requires_grad)
    return t if device is None else t.to(device)


def as_tensor(data, dtype=None, device=None):
    """A tensor sharing memory with ``data`` when it is an array of the right dtype."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    t = Tensor._wrap(as_array(data, dtype))
    return t if device is None else t.to(device)


def from_numpy(ndarray):
    """A tensor sharing memory with the NumPy array ``ndarray`` (both ways).

    Raises:
        TypeError: ``ndarray`` is not a NumPy array (a list, a tensor).
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(
            f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}: use "
            "torch.tensor(data) for lists and numbers"
        )
    return Tensor._wrap(as_array(ndarray))


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros of shape ``size`` (float32 by default)."""
    return _make(np.zeros(_size(size), _dtype_or_default(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones of shape ``size`` (float32 by default)."""
    return _make(np.ones(_size(size), _dtype_or_default(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor of shape ``size`` (minidl fills it with zeros)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with ``fill_value`` (its dtype inferred from it)."""
    dtype = as_array(fill_value).dtype if dtype is None else np.dtype(dtype)
    return _make(np.full(_size((size,)), fill_value, dtype), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The ``n × m`` identity matrix (``m = n`` by default)."""
    return _make(np.eye(n, m, dtype=_dtype_or_default(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (excluded) by ``step``: int64 when all are ints,
    else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dt.int64 if ints else dt.get_default_dtype()
    return _make(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included)."""
    return _make(np.linspace(start, end, steps, dtype=_dtype_or_default(dtype)), requires_grad)


def rand(*size, dtype=None, generator=None, device=None, requires_grad=False):
    """Uniform draws in [0, 1) from minidl's generator."""
    gen = generator or _random.generator()
    array = gen.random(_size(size), dtype=np.float64).astype(_dtype_or_default(dtype))
    return _make(array, requires_grad)


def randn(*size, dtype=None, generator=None, device=None, requires_grad=False):
    """Standard normal draws from minidl's generator."""
    gen = generator or _random.generator()
    array = gen.standard_normal(_size(size)).astype(_dtype_or_default(dtype))
    return _make(array, requires_grad)


def randint(low, high=None, size=None, dtype=None, generator=None, device=None):
    """Integers in [low, high) (int64), from minidl's generator: ``randint(high, size)``
    or ``randint(low, high, size)``."""
    if size is None:
        low, high, size = 0, low, high
    gen = generator or _random.generator()
    dtype = dt.int64 if dtype is None else np.dtype(dtype)
    return Tensor._wrap(gen.integers(low, high, _size((size,))).astype(dtype))


def randperm(n, dtype=None, generator=None, device=None):
    """A random permutation of ``0 .. n-1`` (int64)."""
    gen = generator or _random.generator()
    return Tensor._wrap(gen.permutation(n).astype(dt.int64 if dtype is None else dtype))


def _like(name):
    base = globals()[name]

    def like(input, dtype=None, device=None, requires_grad=False):  # noqa: A002
        return base(*input.shape, dtype=input.dtype if dtype is None else dtype,
                    requires_grad=requires_grad)

    like.__name__ = f"{name}_like"
    like.__doc__ = f"``{name}`` with the shape and dtype of ``input``."
    return like


zeros_like = _like("zeros")
ones_like = _like("ones")
empty_like = _like("empty")
rand_like = _like("rand")
randn_like = _like("randn")


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):  # noqa: A002
    """``full`` with the shape and dtype of ``input``."""
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                requires_grad=requires_grad)


def randint_like(input, low, high=None, dtype=None):  # noqa: A002
    """``randint`` with the shape of ``input``."""
    return randint(low, high, input.shape, dtype=input.dtype if dtype is None else dtype)


def is_tensor(obj):
    """True for minidl tensors (of either face)."""
    return isinstance(obj, _engine.Tensor)


def numel(input):  # noqa: A002
    return input.numel()


# ---- joining ------------------------------------------------------------------------------


def _joinable(tensors, name):
    tensors = [_to_tensor(t) for t in tensors]
    if not tensors:
        raise TorchShapeError(f"{name}() expects a non-empty list of tensors")
    dtype = result_dtype(*tensors)
    return [_cast(t, dtype) for t in tensors]


def cat(tensors, dim=0, out=None):
    """Join tensors along an existing dimension ``dim``.

    Raises:
        RuntimeError: the tensors differ in a dimension other than ``dim``.
    """
    tensors = _joinable(tensors, "cat")
    first = tuple(tensors[0].shape)
    d = dim % builtins.max(len(first), 1)  # (this module defines its own max)
    for i, t in enumerate(tensors[1:], 1):
        shape = tuple(t.shape)
        if len(shape) != len(first) or shape[:d] + shape[d + 1:] != first[:d] + first[d + 1:]:
            raise TorchShapeError(
                f"Sizes of tensors must match except in dimension {dim}: tensor 0 has shape "
                f"{first} but tensor {i} has shape {shape}"
            )
    return _write_out(_shape.Concatenate.apply(*tensors, axis=d), out)


concat = concatenate = cat


def stack(tensors, dim=0, out=None):
    """Join tensors of one shape along a new dimension ``dim``.

    Raises:
        RuntimeError: the shapes differ.
    """
    tensors = _joinable(tensors, "stack")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise TorchShapeError(
                f"stack expects each tensor to be equal size, but got {tuple(tensors[0].shape)}"
                f" at entry 0 and {tuple(t.shape)} at entry {i}"
            )
    return _write_out(_shape.Stack.apply(*tensors, axis=dim), out)


def where(condition, input, other):  # noqa: A002
    """``input`` where ``condition`` holds, else ``other`` (promoted as PyTorch)."""
    from minidl.ops.elementwise import Where

    condition = _engine._raw(condition)
    dtype = result_dtype(input, other)
    a = _cast(_to_tensor(input), dtype) if isinstance(input, _engine.Tensor) else \
        Tensor._wrap(np.asarray(input, dtype))
    b = _cast(_to_tensor(other), dtype) if isinstance(other, _engine.Tensor) else \
        Tensor._wrap(np.asarray(other, dtype))
    return Where.apply(Tensor._wrap(np.asarray(condition, dtype=bool)), a, b)


# ---- math with a method twin ------------------------------------------------------------


def add(input, other, alpha=1, out=None):  # noqa: A002
    return _write_out(_to_tensor(input).add(other, alpha=alpha), out)


def sub(input, other, alpha=1, out=None):  # noqa: A002
    return _write_out(_to_tensor(input).sub(other, alpha=alpha), out)


def mul(input, other, out=None):  # noqa: A002
    """Elementwise product (promoted as PyTorch); ``out=`` writes into a given tensor."""
    return _write_out(_to_tensor(input) * other, out)


def div(input, other, out=None):  # noqa: A002
    return _write_out(_to_tensor(input) / other, out)


def pow(input, exponent):  # noqa: A001, A002
    return _to_tensor(input) ** exponent


def _unary(method):
    def function(input, *args, **kwargs):  # noqa: A002
        return getattr(_to_tensor(input), method)(*args, **kwargs)

    function.__name__ = method
    function.__doc__ = f"``input.{method}(...)`` as a function."
    return function


for _name in ("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clamp", "clip", "sum",
              "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
              "flatten", "reshape", "transpose", "permute", "squeeze", "unsqueeze", "t",
              "softmax", "log_softmax", "neg", "clone"):
    globals()[_name] = _unary(_name)
del _name


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):  # noqa: A002
    """True when every element of ``input`` is close to ``other``'s."""
    return bool(np.allclose(_engine._raw(input), _engine._raw(other), rtol, atol, equal_nan))


def equal(input, other):  # noqa: A002
    """True when both have the same shape and elements."""
    a, b = _engine._raw(input), _engine._raw(other)
    return a.shape == b.shape and bool((a == b).all())

