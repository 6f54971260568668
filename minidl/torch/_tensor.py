"""The tensor of the PyTorch face: ``minidl.torch.Tensor``, a subclass of the engine's Tensor.

Why a subclass: the engine (``minidl.tensor``) is one, and its ops already follow PyTorch's
autograd rules. Where PyTorch's and Keras's *conventions* differ on the same object, the
tensors this face hands out follow PyTorch:

- the dtype of a Python float is float32 and of a Python int int64 (Keras's face turns both
  into ``floatx``); results are promoted with PyTorch's rules (``result_dtype``), not NumPy's;
- ``numpy()`` refuses a tensor that requires grad, ``item()`` of many elements is a
  ``RuntimeError``, shape mismatches are ``RuntimeError``s;
- in-place methods (``add_``, ``zero_``...) exist, with PyTorch's leaf rules.

Every op applied to a face tensor returns a face tensor (``Op.apply`` gives the result the
class of its inputs), so the math is the engine's: this file only converts arguments and
checks them. ``.data`` is the raw array and ``.grad`` the raw gradient array (or ``None``),
as everywhere in minidl: optimizers update them directly.
"""

import collections
import sys

import numpy as np

from minidl.array_backend import backend_of
from minidl.errors import GraphError, ShapeError
from minidl.ops import elementwise as _ew
from minidl.ops import linalg as _linalg
from minidl.ops import nn as _nn
from minidl.ops import reduce as _reduce
from minidl.ops import reshaping as _shape
from minidl.torch import _dtypes as dt

# the engine module (`minidl.tensor` the attribute is the function `tensor`)
_engine = sys.modules["minidl.tensor"]

class TorchShapeError(ShapeError, RuntimeError):
    """Shapes that cannot work together. PyTorch raises ``RuntimeError`` here; minidl's
    ``ShapeError`` is a ``ValueError``; this class is both, so either ``except`` works."""


class TorchIndexError(ShapeError, IndexError):
    """A class label or index out of range (PyTorch's ``IndexError``)."""


def _kind_rank(dtype):
    """PyTorch's dtype categories, ordered: bool < integer < floating point."""
    return 0 if dtype.kind == "b" else 1 if dtype.kind in "iu" else 2


def _python_dtype(value):
    """The dtype PyTorch gives a Python (or NumPy) scalar: bool, int64 or the default float."""
    if isinstance(value, (np.bool_, bool)):
        return dt.bool
    if isinstance(value, (np.integer, int)):
        return dt.int64
    return dt.get_default_dtype()


def _is_scalar(value):
    return isinstance(value, (int, float, bool, np.generic))


def result_dtype(*operands):
    """The dtype of an elementwise op on ``operands``, by PyTorch's promotion rules.

    Operands rank by kind: tensors with dimensions, then 0-d tensors, then Python scalars.
    The highest *category* (bool < int < float) wins; among the operands of that category,
    the highest kind decides, and within it NumPy's ``promote_types`` picks the width.
    So ``float32 * 2.5`` stays float32, ``int64 * 1.5`` is float32, ``float32 + float64
    0-d`` stays float32, and ``int64 + float32`` is float32 (NumPy would say float64).
    """
    entries = []
    for x in operands:
        if isinstance(x, _engine.Tensor):
            entries.append((2 if x.data.ndim else 1, x.data.dtype))
        elif _is_scalar(x):
            entries.append((0, _python_dtype(x)))
        else:
            array = np.asarray(x)
            entries.append((2 if array.ndim else 1, array.dtype))
    top = max(_kind_rank(d) for _, d in entries)
    best = max(p for p, d in entries if _kind_rank(d) == top)
    result = None
    for p, d in entries:
        if p == best and _kind_rank(d) == top:
            result = d if result is None else np.promote_types(result, d)
    return result


def _cast(t, dtype):
    """``t`` converted to ``dtype`` (differentiably); itself when it already has it."""
    return t if t.data.dtype == dtype else _ew.Cast.apply(t, dtype=np.dtype(dtype))


def _operand(value, dtype, like):
    """``value`` as a face tensor of ``dtype`` on ``like``'s device."""
    if isinstance(value, _engine.Tensor):
        return _cast(value, dtype)
    xp = _engine.get_array_module(like.data)
    return Tensor._wrap(xp.asarray(value, dtype=dtype))


def _binary(op, a, b, true_division=False):
    """Apply the binary ``op`` after promoting both operands with PyTorch's rules."""
    if (isinstance(b, _engine.Tensor) and a.data.dtype == b.data.dtype
            and not (true_division and a.data.dtype.kind != "f")):
        return op.apply(a, b)  # the common case: nothing to convert
    dtype = result_dtype(a, b)
    if true_division and dtype.kind != "f":
        dtype = dt.get_default_dtype()  # int / int is true division, as Python 3's /
    return op.apply(_operand(a, dtype, a), _operand(b, dtype, a))


class _Size(int):
    """An element count that, called, answers PyTorch's ``size()`` / ``size(dim)``.

    Why: the engine (and every op) reads ``tensor.size`` as NumPy's element count, while
    PyTorch code calls ``tensor.size(...)``. This int is both, so one Tensor class serves.
    """

    def __new__(cls, count, shape):
        value = int.__new__(cls, count)
        value.shape = shape
        return value

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


_ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _take_index(shape, dim, indices):
    """The advanced index that picks ``indices`` (an array with ``dim`` kept as size 1) along
    ``dim`` of an array of ``shape``: what ``take_along_axis`` reads, as a tuple GetItem
    can record (so the gradient goes back to exactly those positions)."""
    grids = list(np.ogrid[tuple(slice(n) for n in indices.shape)])
    grids[dim] = indices
    return tuple(grids)


def _aliases(dim, keepdim, axis, keepdims):
    """PyTorch accepts NumPy's ``axis``/``keepdims`` for ``dim``/``keepdim``."""
    return (dim if axis is None else axis), (keepdim if keepdims is None else keepdims)


def _as_dim(dim):
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


# ---------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------


class Tensor(_engine.Tensor):
    """A tensor with PyTorch's conventions, on minidl's engine.

    Make them with ``minidl.torch.tensor(...)`` and the other creation functions.

    >>> import minidl.torch as torch
    >>> x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    >>> torch.tensor([1, 2]).dtype, (torch.tensor([1, 2]) / 2).dtype
    (dtype('int64'), dtype('float32'))
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=False, dtype=None):
        array = as_array(data, dtype)
        super().__init__(array, requires_grad=requires_grad)

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A face tensor holding ``array`` itself (no copy, no conversion)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = requires_grad
        t.name = None
        t._op = None
        t._version = 0
        t._logits = None
        t._retains_grad = False
        return t

    # ---- what a tensor is -----------------------------------------------------------
    @property
    def size(self):
        """``x.size()`` is the shape (a tuple) and ``x.size(d)`` the size of dimension d, as
        PyTorch; uncalled, ``x.size`` is still the element count the engine's ops read."""
        return _Size(self.data.size, tuple(self.data.shape))

    def dim(self):
        """The number of dimensions."""
        return self.data.ndim

    ndimension = dim

    def numel(self):
        """The number of elements."""
        return self.data.size

    def element_size(self):
        return self.data.itemsize

    def is_contiguous(self):
        return self.data.flags.c_contiguous

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

    @property
    def grad_fn(self):
        """The op that made this tensor (``None`` for a leaf), PyTorch's ``grad_fn``."""
        return self._op

    def __repr__(self):
        body = np.array2string(np.asarray(self.to_numpy()), separator=", ", prefix="tensor(")
        extras = ""
        if self.data.dtype not in (dt.float32, dt.int64, dt.bool):
            extras += f", dtype=torch.{self.data.dtype}"
        if self._op is not None:
            extras += f", grad_fn=<{type(self._op).__name__}>"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    # ---- conversions ----------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array sharing memory with this tensor.

        Raises:
            RuntimeError: the tensor requires grad (as PyTorch: use ``detach().numpy()``).
        """
        if self.requires_grad:
            raise GraphError(
                "Can't call numpy() on a tensor that requires grad: its values would be "
                "read outside the graph. Use tensor.detach().numpy() instead."
            )
        return self.to_numpy()

    def item(self):
        """The value of a one-element tensor as a Python number.

        Raises:
            RuntimeError: the tensor has more than one element.
        """
        if self.data.size != 1:
            raise TorchShapeError(
                f"a Tensor with {self.data.size} elements cannot be converted to a Python "
                f"number (shape {tuple(self.shape)}); index one element first, e.g. x[0]"
            )
        return self.data.item()

    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self):
        self._op = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only) and return the tensor."""
        if requires_grad and self.data.dtype.kind != "f":
            raise GraphError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._op is not None:
            raise GraphError(
                "you can only change requires_grad flags of leaf variables; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """Convert: ``to(dtype)``, ``to("cpu")``, ``to(other_tensor)``, or both.

        A tensor that already has the dtype and device is returned itself, as PyTorch.
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        for a in args:
            if isinstance(a, _engine.Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, np.dtype) or isinstance(a, type) and issubclass(a, np.generic):
                dtype = a
            elif a is not None:
                device = a
        out = self
        if device is not None:
            device = str(device).split(":")[0]
            device = {"cuda": "gpu"}.get(device, device)
            if device != self.device:
                out = _ew.ToDevice.apply(out, device=device)
        if dtype is not None:
            out = _cast(out, np.dtype(dtype))
        return out

    def type(self, dtype=None):
        """The dtype's name without ``dtype``; else ``to(dtype)``."""
        if dtype is None:
            return f"torch.{self.data.dtype}"
        return self.to(dtype)

    def float(self):  # noqa: A003
        return self.to(dt.float32)

    def double(self):
        return self.to(dt.float64)

    def long(self):
        return self.to(dt.int64)

    def int(self):  # noqa: A003
        return self.to(dt.int32)

    def bool(self):  # noqa: A003
        return self.to(dt.bool)

    def cpu(self):
        return self.to("cpu")

    # ---- arithmetic with PyTorch's promotion ----------------------------------------
    def __add__(self, other):
        return _binary(_ew.Add, self, other)

    def __radd__(self, other):
        return _binary(_ew.Add, Tensor._lift(other, self), self)

    def __sub__(self, other):
        return _binary(_ew.Sub, self, other)

    def __rsub__(self, other):
        return _binary(_ew.Sub, Tensor._lift(other, self), self)

    def __mul__(self, other):
        return _binary(_ew.Mul, self, other)

    def __rmul__(self, other):
        return _binary(_ew.Mul, Tensor._lift(other, self), self)

    def __truediv__(self, other):
        return _binary(_ew.Div, self, other, true_division=True)

    def __rtruediv__(self, other):
        return _binary(_ew.Div, Tensor._lift(other, self), self, true_division=True)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(Tensor._lift(other, self), self)

    def __pow__(self, exponent):
        if isinstance(exponent, _engine.Tensor):
            return _binary(_ew.PowTensor, self, exponent)
        if self.data.dtype.kind != "f" and isinstance(exponent, float):
            return _ew.Pow.apply(_cast(self, dt.get_default_dtype()), exponent=exponent)
        return _ew.Pow.apply(self, exponent=exponent)

    def __rpow__(self, base):
        return _binary(_ew.PowTensor, Tensor._lift(base, self), self)

    @staticmethod
    def _lift(value, like):
        """A scalar as a 0-d face tensor of PyTorch's dtype for it, next to ``like``."""
        if isinstance(value, _engine.Tensor):
            return value
        dtype = result_dtype(like, value) if _is_scalar(value) else None
        xp = _engine.get_array_module(like.data)
        return Tensor._wrap(xp.asarray(value, dtype=dtype))

    # Comparisons give boolean tensors and record no gradient.
    def __eq__(self, other):
        return Tensor._wrap(self.data == _engine._raw(other))

    def __ne__(self, other):
        return Tensor._wrap(self.data != _engine._raw(other))

    def __lt__(self, other):
        return Tensor._wrap(self.data < _engine._raw(other))

    def __le__(self, other):
        return Tensor._wrap(self.data <= _engine._raw(other))

    def __gt__(self, other):
        return Tensor._wrap(self.data > _engine._raw(other))

    def __ge__(self, other):
        return Tensor._wrap(self.data >= _engine._raw(other))

    __hash__ = _engine.Tensor.__hash__

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):  # noqa: A003
        return self ** exponent

    def neg(self):
        return -self

    def matmul(self, other):
        return matmul(self, other)

    def mm(self, other):
        return mm(self, other)

    # ---- elementwise math ------------------------------------------------------------
    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return _ew.Clip.apply(self, lo=min, hi=max)

    clip = clamp

    def softmax(self, dim):
        return _nn.Softmax.apply(self, axis=dim)

    def log_softmax(self, dim):
        return _nn.LogSoftmax.apply(self, axis=dim)

    # ---- reductions ------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):  # noqa: A003
        """Sum over ``dim`` (all by default); bools and small ints sum in int64. ``axis`` and
        ``keepdims`` are accepted as aliases, as PyTorch does (and minidl's ops use them)."""
        dim, keepdim = _aliases(dim, keepdim, axis, keepdims)
        x = self if dtype is None else _cast(self, np.dtype(dtype))
        if x.data.dtype.kind in "biu" and x.data.dtype != dt.int64:
            x = _cast(x, dt.int64)  # PyTorch sums bools and small integers in int64
        return _reduce.Sum.apply(x, axis=_as_dim(dim), keepdims=keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
        dim, keepdim = _aliases(dim, keepdim, axis, keepdims)
        x = self if dtype is None else _cast(self, np.dtype(dtype))
        if x.data.dtype.kind != "f":
            raise TypeError(
                f"mean() needs a floating-point tensor, got dtype {x.dtype}: call "
                ".float() first, or pass dtype=torch.float32"
            )
        return _reduce.Mean.apply(x, axis=_as_dim(dim), keepdims=keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False, correction=None, *, axis=None,
            keepdims=None, ddof=None):
        """Variance; unbiased (divides by n - 1) by default, as PyTorch."""
        dim, keepdim = _aliases(dim, keepdim, axis, keepdims)
        correction = ddof if ddof is not None else correction
        ddof = (1 if unbiased else 0) if correction is None else correction
        return _reduce.var(self, axis=_as_dim(dim), keepdims=keepdim, ddof=ddof)

    def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
        """Standard deviation; unbiased by default, as PyTorch."""
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def _extremum(self, name, dim, keepdim):
        if dim is None:  # the whole tensor: one value (ties share the gradient, as PyTorch)
            op = _reduce.Max if name == "max" else _reduce.Min
            return op.apply(self, axis=None, keepdims=False)
        dim = dim % max(self.data.ndim, 1)
        pick = np.argmax if name == "max" else np.argmin
        idx = pick(self.data, axis=dim, keepdims=True)  # the first extremum, as PyTorch
        values = _shape.GetItem.apply(self, index=_take_index(self.shape, dim, idx))
        if not keepdim:
            values = _shape.Squeeze.apply(values, axis=dim)
            idx = idx.squeeze(dim)
        return _ValuesIndices(values, Tensor._wrap(idx.astype(np.int64)))

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A003
        """The maximum; with ``dim``, ``(values, indices)`` (the first maximum's index;
        the gradient goes to that element only). With ``axis=`` (minidl's ops' spelling)
        the values only, like ``amax``."""
        if axis is not None or keepdims is not None:
            return self.amax(axis, bool(keepdims))
        if isinstance(dim, _engine.Tensor):
            return maximum(self, dim)
        return self._extremum("max", dim, keepdim)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):  # noqa: A003
        """The minimum; with ``dim``, ``(values, indices)`` (``axis=``: values only)."""
        if axis is not None or keepdims is not None:
            return self.amin(axis, bool(keepdims))
        if isinstance(dim, _engine.Tensor):
            return minimum(self, dim)
        return self._extremum("min", dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        """The maximum over ``dim`` (ties share the gradient evenly)."""
        return _reduce.Max.apply(self, axis=_as_dim(dim), keepdims=keepdim)

    def amin(self, dim=None, keepdim=False):
        return _reduce.Min.apply(self, axis=_as_dim(dim), keepdims=keepdim)

    def argmax(self, dim=None, keepdim=False):
        """Index of the first maximum (a flat index when ``dim`` is None), int64."""
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmax(self.data), dtype=np.int64))
        return Tensor._wrap(np.argmax(self.data, axis=dim, keepdims=keepdim).astype(np.int64))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(self.data), dtype=np.int64))
        return Tensor._wrap(np.argmin(self.data, axis=dim, keepdims=keepdim).astype(np.int64))

    def all(self):  # noqa: A003
        return Tensor._wrap(np.asarray(self.data.all()))

    def any(self):  # noqa: A003
        return Tensor._wrap(np.asarray(self.data.any()))

    # ---- views and copies -------------------------------------------------------------
    def view(self, *shape):
        """The same memory seen with another shape (one entry may be -1).

        Raises:
            RuntimeError: the sizes do not match, or the tensor's memory layout cannot be
                seen that way without a copy (after ``transpose``): use ``reshape``.
        """
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        if len(shape) == 1 and isinstance(shape[0], np.dtype):
            raise TypeError("view(dtype) is not supported: use to(dtype)")
        probe = self.data.view()
        try:
            probe.shape = tuple(shape)  # NumPy refuses exactly when a copy would be needed
        except AttributeError:
            raise TorchShapeError(
                f"view size is not compatible with input tensor's size and stride (shape "
                f"{tuple(self.shape)}, strides {self.data.strides}): at least one dimension "
                "spans two contiguous subspaces. Use .reshape(...) instead."
            ) from None
        except ValueError:
            raise TorchShapeError(
                f"shape {list(shape)} is invalid for input of size {self.data.size} "
                f"(shape {tuple(self.shape)})"
            ) from None
        return _shape.Reshape.apply(self, shape=tuple(shape))

    def view_as(self, other):
        return self.view(other.shape)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        try:
            return _shape.Reshape.apply(self, shape=tuple(shape))
        except ShapeError as exc:
            raise TorchShapeError(str(exc)) from None

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def transpose(self, *dims):
        """Swap two dimensions (a view): ``transpose(dim0, dim1)``. Any other form is the
        engine's (a full permutation), which minidl's own ops may call."""
        if len(dims) != 2 or not all(isinstance(d, int) for d in dims):
            return super().transpose(*dims)
        dim0, dim1 = dims
        perm = list(range(self.data.ndim))
        perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
        return _shape.Transpose.apply(self, axes=tuple(perm))

    def t(self):
        if self.data.ndim > 2:
            raise TorchShapeError(f"t() expects a tensor with <= 2 dimensions, got {self.dim()}")
        return _shape.Transpose.apply(self, axes=None)

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        return _shape.Transpose.apply(self, axes=tuple(dims))

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dimensions ``start_dim`` to ``end_dim`` (inclusive) into one (a view)."""
        if self.data.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.data.ndim, end_dim % self.data.ndim
        shape = self.shape
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:])

    def unflatten(self, dim, sizes):
        dim = dim % self.data.ndim
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def squeeze(self, dim=None):
        if dim is not None and self.data.ndim and self.data.shape[dim] != 1:
            return self  # PyTorch leaves a dimension that is not of size 1
        return _shape.Squeeze.apply(self, axis=dim)

    def unsqueeze(self, dim):
        if dim < 0:
            dim += self.data.ndim + 1
        return _shape.ExpandDims.apply(self, axis=dim)

    def expand(self, *sizes):
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = sizes[0]
        lead = len(sizes) - self.data.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        return _shape.BroadcastTo.apply(self, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def clone(self):
        """A copy with its own memory, still in the graph (its gradient flows back)."""
        return _shape.Copy.apply(self)

    def contiguous(self):
        """Itself when its memory is already in row-major order, else a copy that is."""
        return self if self.data.flags.c_contiguous else _shape.Copy.apply(self)

    def __getitem__(self, index):
        if isinstance(index, tuple):
            index = tuple(_engine._raw(i) for i in index)
        return super().__getitem__(index)

    def __setitem__(self, index, value):
        if isinstance(index, tuple):
            index = tuple(_engine._raw(i) for i in index)
        index = _engine._raw(index)
        self._check_inplace("item assignment")
        if self.requires_grad and _engine.is_grad_enabled():
            raise GraphError(
                "item assignment on a tensor in the autograd graph is not supported by "
                "minidl: build the new tensor with torch.where(mask, value, x) instead"
            )
        self.data[index] = _engine._raw(value)
        self._version += 1

    # ---- in-place methods --------------------------------------------------------------
    def _check_inplace(self, what):
        if self.requires_grad and self._op is None and _engine.is_grad_enabled():
            raise GraphError(
                f"a leaf Variable that requires grad is being used in an in-place operation "
                f"({what}): wrap the update in `with torch.no_grad():`, or work on a clone()"
            )

    def _inplace(self, what, compute):
        """Replace this tensor's values by ``compute(t)`` (``t`` standing for this tensor),
        with PyTorch's rules.

        Outside the graph (no grad needed, or under ``no_grad``) the result is written into
        this tensor's memory, so views and arrays sharing it see the change. Inside the
        graph (a non-leaf that requires grad), the tensor becomes the result's node: its
        old value stays the input of that node. Either way the version counter moves, so
        an op that saved the old value refuses to backward through it.

        Raises:
            RuntimeError: a leaf that requires grad, outside ``no_grad``; or a result whose
                dtype cannot be written into this tensor's (a float into an int tensor).
        """
        self._check_inplace(what)
        if self.requires_grad and _engine.is_grad_enabled():
            old = Tensor._wrap(self.data, True)
            old._op, old._version = self._op, self._version
            result = _cast(compute(old), self.data.dtype)
            if result.shape != self.shape:
                raise TorchShapeError(
                    f"{what}: the result's shape {tuple(result.shape)} does not match the "
                    f"tensor's shape {tuple(self.shape)}"
                )
            self.data, self._op = result.data, result._op
        else:
            with _engine.no_grad():
                result = compute(self)
            if not np.can_cast(result.data.dtype, self.data.dtype, "same_kind"):
                raise GraphError(
                    f"{what}: result type {result.data.dtype} can't be cast to the desired "
                    f"output type {self.data.dtype}"
                )
            try:
                np.copyto(self.data, result.data, casting="unsafe")
            except ValueError:
                raise TorchShapeError(
                    f"{what}: output with shape {tuple(self.shape)} doesn't match the "
                    f"broadcast shape {tuple(result.shape)}"
                ) from None
        self._version += 1
        return self

    def add_(self, other, alpha=1):
        return self._inplace("add_", lambda t: t.add(other, alpha=alpha))

    def sub_(self, other, alpha=1):
        return self._inplace("sub_", lambda t: t.sub(other, alpha=alpha))

    def mul_(self, other):
        return self._inplace("mul_", lambda t: t * other)

    def div_(self, other):
        return self._inplace("div_", lambda t: t / other)

    def pow_(self, exponent):
        return self._inplace("pow_", lambda t: t ** exponent)

    def neg_(self):
        return self._inplace("neg_", lambda t: -t)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    def relu_(self):
        return self._inplace("relu_", lambda t: t.relu())

    def exp_(self):
        return self._inplace("exp_", lambda t: t.exp())

    def sqrt_(self):
        return self._inplace("sqrt_", lambda t: t.sqrt())

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        """Set every element to ``value`` (in place)."""
        self._check_inplace("fill_")
        if self.requires_grad and _engine.is_grad_enabled():
            return self._inplace("fill_", lambda t: t * 0 + value)
        self.data[...] = _engine._raw(value)
        self._version += 1
        return self

    def copy_(self, src):
        """Copy ``src``'s values into this tensor (broadcast, converted to its dtype)."""
        self._check_inplace("copy_")
        src = src if isinstance(src, _engine.Tensor) else Tensor(src)
        if self.requires_grad and _engine.is_grad_enabled():
            return self._inplace("copy_", lambda t: t * 0 + _cast(src, self.dtype))
        try:
            np.copyto(self.data, backend_of(self.data).asarray(src.data),
                      casting="unsafe")
        except ValueError:
            raise TorchShapeError(
                f"copy_: the source's shape {tuple(src.shape)} cannot be broadcast to the "
                f"tensor's shape {tuple(self.shape)}"
            ) from None
        self._version += 1
        return self

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill with draws from U(a, b), from minidl's generator (in place)."""
        from minidl.torch import _random

        gen = generator or _random.generator()
        return self.copy_(Tensor._wrap(gen.uniform(a, b, self.shape)))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        """Fill with draws from N(mean, std²), from minidl's generator (in place)."""
        from minidl.torch import _random

        gen = generator or _random.generator()
        return self.copy_(Tensor._wrap(gen.normal(mean, std, self.shape)))

    # ---- autograd ----------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf that requires it.

        Args:
            gradient: d(out)/d(self) to start from; needed unless this tensor has one
                element.
            retain_graph: keep the graph for another backward.
            create_graph: not supported (minidl does not differentiate gradients).

        Raises:
            RuntimeError: no gradient for a non-scalar, the graph was freed by an earlier
                backward, or this tensor does not require grad.
        """
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not "
                                      "supported by minidl")
        super().backward(gradient, retain_graph=bool(retain_graph))

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))




# Ops on a face tensor (or a Parameter) return face tensors (see minidl.tensor.Op.apply).
Tensor._result_class = Tensor


# ---------------------------------------------------------------------------------------
# Converting data (PyTorch's inference rules)
# ---------------------------------------------------------------------------------------


def as_array(data, dtype=None):
    """``data`` as an array with PyTorch's dtype inference.

    Arrays keep their dtype; Python floats (and lists of them) become the default dtype
    (float32), Python ints int64, bools bool. ``dtype`` converts.

    Raises:
        TypeError: strings, objects, ragged lists.
    """
    if isinstance(data, _engine.Tensor):
        array = data.data
    elif hasattr(data, "dtype") and hasattr(data, "shape"):
        array = np.asarray(data) if isinstance(data, np.generic) else data
    else:
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"cannot make a tensor from {type(data).__name__}: {exc}") from None
        if array.dtype.kind == "f" and dtype is None:
            array = array.astype(dt.get_default_dtype())
        elif array.dtype.kind in "iu" and dtype is None:
            array = array.astype(dt.int64)
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"tensor data must be numeric (float, int or bool), got dtype {array.dtype}"
        )
    return array


# ---------------------------------------------------------------------------------------
# Functions that need the class (used by the methods above)
# ---------------------------------------------------------------------------------------


def _matmul_check(a, b, name):
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.data.ndim == 0 or b.data.ndim == 0:
        raise TorchShapeError(f"{name}: both arguments need at least 1 dimension, got "
                              f"shapes {sa} and {sb}")
    if sa[-1] != (sb[0] if len(sb) == 1 else sb[-2]):
        if len(sa) == 2 and len(sb) == 2:
            raise TorchShapeError(
                f"mat1 and mat2 shapes cannot be multiplied ({sa[0]}x{sa[1]} and "
                f"{sb[0]}x{sb[1]})"
            )
        raise TorchShapeError(f"{name}: shapes {sa} and {sb} cannot be multiplied: the last "
                              "dimension of the first must equal the second's rows")
    if a.data.dtype != b.data.dtype:
        raise TorchShapeError(
            f"expected both {name} operands to have the same dtype, but got {a.dtype} "
            f"and {b.dtype}: convert one with .to(...)"
        )


def _write_out(result, out):
    """Write ``result`` into ``out`` (PyTorch's ``out=``) and return ``out``."""
    if out is None:
        return result
    if out.requires_grad and _engine.is_grad_enabled():
        raise GraphError("out= cannot be used with tensors that require grad (they are "
                         "not differentiable); call without out=")
    if out.shape != result.shape:
        out.data = np.empty_like(result.data, dtype=out.dtype)
    out.data[...] = result.data
    out._version += 1
    return out


def matmul(input, other, out=None):  # noqa: A002 - PyTorch's argument names
    """The matrix product with NumPy's (and PyTorch's) rules for 1-D and batched operands.

    Raises:
        RuntimeError: the inner dimensions differ, or the dtypes differ.
    """
    input, other = _to_tensor(input), _to_tensor(other)
    _matmul_check(input, other, "matmul")
    return _write_out(_linalg.MatMul.apply(input, other), out)


def mm(input, mat2, out=None):  # noqa: A002
    """The product of two 2-D matrices."""
    input, mat2 = _to_tensor(input), _to_tensor(mat2)
    if input.data.ndim != 2 or mat2.data.ndim != 2:
        raise TorchShapeError(f"mm needs two 2-D matrices, got shapes {tuple(input.shape)} "
                              f"and {tuple(mat2.shape)}")
    return matmul(input, mat2, out=out)


def maximum(input, other):  # noqa: A002
    return _binary(_ew.Maximum, _to_tensor(input), other)


def minimum(input, other):  # noqa: A002
    return _binary(_ew.Minimum, _to_tensor(input), other)


def _to_tensor(x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _engine.Tensor):  # an engine tensor: the same data, face conventions
        t = Tensor._wrap(x.data, x.requires_grad)
        return x if x._op is not None else t
    return Tensor(x)
