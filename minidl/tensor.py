"""The autograd engine: ``Tensor``, the ``Op`` base class, and ``backward``.

A ``Tensor`` wraps an array (``.data``). When an ``Op`` is applied to tensors that require
gradients, the result remembers the op that made it (``._op``) and the op remembers its
inputs. That chain of ops is the graph; ``backward()`` walks it from the output back to the
leaves, asking each op for the gradients of its inputs (the chain rule, one op at a time).

The engine knows nothing about specific ops. It only:

1. orders the graph (an iterative depth-first search, so a chain of 10,000 ops is fine),
2. calls ``op.backward(grad_of_output)`` in reverse order,
3. sums the gradients of a tensor used more than once,
4. reduces a broadcast gradient back to its input's shape (``unbroadcast``), once, for all ops,
5. frees each op's saved arrays afterwards (unless ``retain_graph=True``).

An op written outside minidl (a user's) is checked on the way: ``forward`` must return an
array, ``backward`` a tuple with one array (or None) per input of the input's shape;
otherwise a ``GraphError``/``ShapeError`` names the op, the input and what came back.
minidl's own ops skip these checks (they are proven against PyTorch by the test suite).

Everything an op knows lives in its own class in ``minidl/ops``.
"""

import numpy as np

from minidl import config
from minidl.array_backend import check_same_device, get_array_module
from minidl.errors import DTypeError, GraphError, ShapeError

# --------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------

_grad_enabled = True

# The active minidl.debug.detect_anomaly(), or None (the default: no checks at all). Op.apply
# and backward test only this one global, so the normal path pays one comparison per op.
_anomaly = None

# The active models.replay.Recorder, or None: fit records one step's ops to replay them.
_tape = None


class no_grad:
    """Context manager (and decorator) in which no graph is recorded.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager that turns graph recording back on (inside ``no_grad``)."""

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = True


def is_grad_enabled():
    """True when operations on tensors that require grad are being recorded."""
    return _grad_enabled


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the gradient of NumPy broadcasting.

    If ``x`` of shape ``(3, 1)`` was broadcast to ``(2, 3, 4)`` in the forward pass, each
    element of ``x`` was used 2·4 times, so its gradient is the sum over those copies:
    sum over the leading axis that was added, and over axis 2 where ``x`` had size 1.
    """
    if grad.shape == shape:
        return grad
    ndim_added = grad.ndim - len(shape)
    if ndim_added > 0:
        grad = grad.sum(axis=tuple(range(ndim_added)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _as_array(data, dtype=None):
    """Turn ``data`` into an array for a Tensor.

    Arrays keep their dtype (integer arrays stay integer, e.g. labels); Python numbers and
    lists become ``config.floatx()`` (float32 by default), as in Keras.
    """
    if hasattr(data, "dtype") and hasattr(data, "shape"):  # a NumPy/CuPy array or scalar
        array = data
        if isinstance(array, np.generic):
            array = np.asarray(array)
    else:
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise DTypeError(
                f"cannot make a Tensor from {type(data).__name__}: {exc}"
            ) from None
        if dtype is None and array.dtype.kind in "iuf":
            array = array.astype(config.floatx())
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    if array.dtype.kind not in "fiub":
        raise DTypeError(
            f"Tensor data must be numeric (float, int or bool), got dtype {array.dtype}"
        )
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return array


# --------------------------------------------------------------------------------------
# Op: the base class of every differentiable operation
# --------------------------------------------------------------------------------------


class Op:
    """One differentiable operation: ``forward`` on arrays, ``backward`` on gradients.

    A subclass implements two methods on raw arrays (NumPy or CuPy):

    - ``forward(*arrays) -> array``: compute the output; keep on ``self`` what the
      backward pass will need (``self.x = x``).
    - ``backward(grad) -> tuple``: given dL/d(output), return dL/d(input) for each input,
      in order. It may return ``None`` for inputs that need no gradient
      (``self.needs_grad[i]`` is ``False``); the engine skips those.

    Ops with settings (an axis, a slope) take them as keyword arguments in ``__init__``.
    Users call ``MyOp.apply(*tensors, **settings)``, which runs forward and records the op.

    An op defined outside the minidl package is checked as it runs: ``apply`` raises
    ``GraphError`` if ``forward`` returns anything but an array; ``backward()`` raises
    ``GraphError`` if ``backward`` returns anything but a tuple with one array (or None)
    per input, and ``ShapeError`` for a gradient whose shape is neither its input's nor one
    the input was broadcast to. Each message names the op, the input and what came back.
    """

    inputs = None  # the input Tensors; None once the graph is freed
    needs_grad = ()  # one bool per input
    # True for the ops of the minidl package (proven against PyTorch by its tests); for
    # any other op (a user's), apply and backward check what forward and backward return.
    _trusted = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._trusted = cls.__module__.startswith("minidl.")

    @classmethod
    def apply(cls, *inputs, **settings):
        """Run ``forward`` on the inputs' arrays and record the op if a gradient is needed."""
        tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        op = cls(**settings) if settings else cls()
        needs_grad = tuple(t.requires_grad for t in tensors) if _grad_enabled else ()
        requires_grad = True in needs_grad
        op.needs_grad = needs_grad
        # A face's Tensor subclass (minidl.torch's, which follows PyTorch's conventions)
        # names the class of the results it hands out: one engine, two faces' tensors.
        out_cls = Tensor
        for t in tensors:
            if t.__class__ is not Tensor:
                out_cls = t._result_class
                break
        out = out_cls.__new__(out_cls)
        arrays = [t.data for t in tensors]
        for a in arrays:  # all host arrays: nothing to check (the common case, kept cheap)
            if type(a) is not np.ndarray:
                check_same_device(arrays, cls.__name__)  # names both devices on a mix
                break
        data = op.forward(*arrays)
        if isinstance(data, np.generic):  # NumPy reductions return scalars, not 0-d arrays
            data = np.asarray(data)
        if not cls._trusted:  # a user's op: one class-attribute test on minidl's own path
            _check_forward_result(op, data)
        if _anomaly is not None:  # debug.detect_anomaly(): check the output (slow, opt-in)
            _anomaly.forward(op, tensors, data)
        out.data = data
        out.grad = None
        out.requires_grad = requires_grad
        out.name = None
        out._retains_grad = False
        if requires_grad:
            op.inputs = tensors
            op.versions = [t._version for t in tensors]
            out._op = op
        else:
            out._op = None
        out._version = 0
        out._logits = None
        if _tape is not None:  # fit is recording this step (minidl/models/replay.py)
            _tape.record(cls, settings, tensors, out)
        return out

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def free(self):
        """Drop what forward saved (called by the engine after backward)."""
        self.__dict__.clear()

    def __repr__(self):
        return type(self).__name__


# --------------------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------------------


class Tensor:
    """An array that can record the operations applied to it and differentiate them.

    Args:
        data: an array, a Python number, or a nested list. Python numbers and lists become
            ``config.floatx()`` (float32 by default); NumPy float arrays keep their dtype.
        requires_grad: record operations on this tensor so ``backward()`` fills ``.grad``.
        dtype: convert the data to this dtype.

    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = (
        "data", "grad", "requires_grad", "name", "_op", "_version", "_logits", "__weakref__",
        "_retains_grad",
    )
    # NumPy defers to us: ndarray * Tensor calls Tensor.__rmul__ and returns a Tensor.
    __array_priority__ = 1000
    __array_ufunc__ = None
    __hash__ = object.__hash__  # == is elementwise (as in NumPy/PyTorch), so hash by identity
    # The class of the tensors ops return when given this one (see Op.apply); set below.
    _result_class = None

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise DTypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._op = None
        self._version = 0
        # Set by activations.softmax/sigmoid to ("softmax" or "sigmoid", their input), so a
        # cross-entropy loss can take the stable logits path (Keras's `_keras_logits`).
        self._logits = None
        self._retains_grad = False  # set by retain_grad(): keep .grad of a non-leaf

    # ---- array-like properties ------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        """``"cpu"`` or ``"gpu"``: where ``data`` lives."""
        from minidl.array_backend import backend_of

        return backend_of(self.data).name

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than by an op."""
        return self._op is None

    @property
    def op(self):
        """The op that created this tensor (``None`` for a leaf)."""
        return self._op

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(np.asarray(self.to_numpy()), separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.name is not None:
            extra += f", name={self.name!r}"
        if self._op is not None:
            extra += f", op={type(self._op).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---- conversions ----------------------------------------------------------------
    def to_numpy(self):
        from minidl.array_backend import backend_of

        return backend_of(self.data).to_numpy(self.data)

    def numpy(self):
        """The data as a NumPy array (like ``torch.Tensor.numpy``; no copy on the CPU)."""
        return self.to_numpy()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(
                f"item() needs a tensor with one element, got shape {tuple(self.shape)}"
            )
        return self.data.item()

    def tolist(self):
        return self.to_numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                "The truth value of a Tensor with more than one element is ambiguous; "
                "use .any() or .all() on .data"
            )
        return bool(self.data)

    def __array__(self, dtype=None, copy=None):
        array = self.to_numpy()
        return array if dtype is None else array.astype(dtype)

    def detach(self):
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype):
        """A differentiable cast to ``dtype``."""
        from minidl.ops.elementwise import Cast

        return Cast.apply(self, dtype=np.dtype(dtype))

    def to(self, device):
        """A copy of this tensor on ``device`` (``"cpu"`` or ``"gpu"``), differentiable."""
        from minidl.ops.elementwise import ToDevice

        return ToDevice.apply(self, device=device)

    # ---- in-place updates (they bump the version counter) -----------------------------
    def assign(self, value):
        """Overwrite the data in place, as Keras's ``Variable.assign``."""
        from minidl.array_backend import backend_of

        value = value.data if isinstance(value, Tensor) else value
        # A host array into device data is an explicit copy (CuPy refuses a[...] = ndarray).
        self.data[...] = backend_of(self.data).asarray(value)
        self._version += 1
        return self

    def assign_add(self, value):
        """``self += value`` in place, as Keras's ``Variable.assign_add``."""
        return self.assign(self.data + _raw(value))

    def assign_sub(self, value):
        """``self -= value`` in place, as Keras's ``Variable.assign_sub``."""
        return self.assign(self.data - _raw(value))

    @property
    def value(self):
        """The variable's value (Keras's ``Variable.value``): this tensor itself."""
        return self

    def zero_grad(self):
        self.grad = None

    def retain_grad(self):
        """Keep this tensor's gradient in ``.grad`` after ``backward()``, though it is not a
        leaf (as ``torch.Tensor.retain_grad``).

        The engine stores gradients only on leaves (weights, inputs); an intermediate
        result's gradient lives only while ``backward()`` runs. After ``retain_grad()`` it
        is kept, and accumulates like a leaf's. A leaf's ``.grad`` is kept anyway.

        Raises:
            GraphError: this tensor does not require grad (no gradient will reach it).

        >>> x = Tensor([1.0, 2.0], requires_grad=True)
        >>> h = x * 3
        >>> h.retain_grad()
        >>> (h * h).sum().backward()
        >>> h.grad
        array([ 6., 12.], dtype=float32)
        """
        if not self.requires_grad:
            raise GraphError(
                "retain_grad() called on a tensor that does not require grad: no gradient "
                "will reach it; make it from inputs created with requires_grad=True"
            )
        if self._op is not None:
            self._retains_grad = True

    # ---- autograd -------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that requires it.

        Gradients accumulate into the leaves' ``.grad`` (call ``zero_grad`` between steps).

        Args:
            grad: dL/d(self). Optional for a one-element tensor (seeded with 1).
            retain_graph: keep the ops' saved arrays so backward can run again.

        Raises:
            GraphError: this tensor does not require grad, is not a scalar and no ``grad``
                was given, or the graph was already freed by an earlier backward.
            ShapeError: ``grad`` has the wrong shape.
        """
        if not self.requires_grad:
            raise GraphError(
                "backward() called on a tensor that does not require grad: create the "
                "inputs with requires_grad=True (and not under no_grad())"
            )
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise GraphError(
                    "grad can be implicitly created only for scalar outputs; "
                    f"got shape {tuple(self.shape)}: pass backward(grad=...)"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, self.dtype)
            if grad.shape != self.shape:
                raise ShapeError(
                    f"backward(grad=...) got a gradient of shape {tuple(grad.shape)} for a "
                    f"tensor of shape {tuple(self.shape)}; they must match"
                )
        if self._op is None:  # a leaf: its gradient is the seed itself (a copy of it)
            self._accumulate(grad.copy())
            return
        order = _topological_order(self)
        # Check the whole graph before computing anything, so an error leaves every .grad
        # as it was.
        user_ops = False
        for node in order:
            _check_usable(node._op)
            user_ops = user_ops or not node._op._trusted
        if user_ops:  # a user's op may return something wrong: undo any .grad set so far
            with _restoring_grads(order):
                return self._run_backward(order, grad, retain_graph)
        self._run_backward(order, grad, retain_graph)

    def _run_backward(self, order, grad, retain_graph):
        """The chain rule over ``order`` (see ``backward``), from dL/d(self) = ``grad``."""
        grads = {id(self): grad}
        handed = {id(grad)}  # arrays already stored as some leaf's .grad (or the caller's)
        for node in reversed(order):
            op = node._op
            g = grads.pop(id(node), None)
            if g is None:  # no path from here to the output carried a gradient (None)
                if not retain_graph:
                    op.free()
                continue
            if node._retains_grad:  # retain_grad(): keep a copy of this gradient
                node._accumulate(g.copy())
            in_grads = op.backward(g)
            if not op._trusted:  # a user's op: check the tuple before using it
                _check_backward_result(op, in_grads)
            if _anomaly is not None:  # debug.detect_anomaly(): check the input gradients
                _anomaly.backward(op, in_grads)
            for t, need, ig in zip(op.inputs, op.needs_grad, in_grads):
                if not need or ig is None:
                    continue
                if ig.shape != t.data.shape:
                    ig = unbroadcast(ig, t.data.shape)
                if ig.dtype != t.data.dtype:
                    ig = ig.astype(t.data.dtype)
                if t._op is None:
                    # NOTE: a leaf keeps this array as its .grad, so it must be its own: not
                    # a read-only broadcast view (from sum/mean), not a view of another
                    # array, not the array another leaf got (add hands g to both inputs).
                    if t.grad is None and (
                        id(ig) in handed or ig.base is not None
                        or not getattr(ig.flags, "writeable", True)
                    ):  # fmt: skip
                        ig = ig.copy()
                    handed.add(id(ig))
                    t._accumulate(ig)
                else:
                    key = id(t)
                    prev = grads.get(key)
                    grads[key] = ig if prev is None else prev + ig
            if not retain_graph:
                op.free()

    def _accumulate(self, grad):
        # Out of place: `self.grad` may be an array the caller still holds.
        self.grad = grad if self.grad is None else self.grad + grad

    # ---- operators (each a one-line call into minidl/ops) ---------------------------
    def __add__(self, other):
        return _ew.Add.apply(self, _lift(other, self))

    def __radd__(self, other):
        return _ew.Add.apply(_lift(other, self), self)

    def __sub__(self, other):
        return _ew.Sub.apply(self, _lift(other, self))

    def __rsub__(self, other):
        return _ew.Sub.apply(_lift(other, self), self)

    def __mul__(self, other):
        return _ew.Mul.apply(self, _lift(other, self))

    def __rmul__(self, other):
        return _ew.Mul.apply(_lift(other, self), self)

    def __truediv__(self, other):
        return _ew.Div.apply(self, _lift(other, self))

    def __rtruediv__(self, other):
        return _ew.Div.apply(_lift(other, self), self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return _ew.PowTensor.apply(self, exponent)
        return _ew.Pow.apply(self, exponent=exponent)

    def __rpow__(self, base):
        return _ew.PowTensor.apply(_lift(base, self), self)

    def __neg__(self):
        return _ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ew.Abs.apply(self)

    def __matmul__(self, other):
        return _linalg.MatMul.apply(self, _lift(other, self))

    def __rmatmul__(self, other):
        return _linalg.MatMul.apply(_lift(other, self), self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        return _shape.GetItem.apply(self, index=index)

    # Comparisons give boolean tensors and record no gradient (as in PyTorch).
    def __eq__(self, other):
        return Tensor(self.data == _raw(other))

    def __ne__(self, other):
        return Tensor(self.data != _raw(other))

    def __lt__(self, other):
        return Tensor(self.data < _raw(other))

    def __le__(self, other):
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor(self.data >= _raw(other))

    # ---- math methods ---------------------------------------------------------------
    def exp(self):
        return _ew.Exp.apply(self)

    def log(self):
        return _ew.Log.apply(self)

    def sqrt(self):
        return _ew.Sqrt.apply(self)

    def abs(self):
        return _ew.Abs.apply(self)

    def tanh(self):
        return _ew.Tanh.apply(self)

    def sigmoid(self):
        return _ew.Sigmoid.apply(self)

    def relu(self):
        return _ew.ReLU.apply(self)

    def clip(self, min=None, max=None):
        return _ew.Clip.apply(self, lo=min, hi=max)

    def sum(self, axis=None, keepdims=False):
        return _reduce.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _reduce.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _reduce.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _reduce.Min.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _reduce.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _shape.Reshape.apply(self, shape=tuple(shape))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _shape.Transpose.apply(self, axes=tuple(axes) if axes else None)

    def permute(self, *axes):
        return self.transpose(*axes)

    @property
    def T(self):
        return _shape.Transpose.apply(self, axes=None)

    def flatten(self, start_axis=0):
        return _shape.flatten(self, start_axis)

    def squeeze(self, axis=None):
        return _shape.Squeeze.apply(self, axis=axis)

    def expand_dims(self, axis):
        return _shape.ExpandDims.apply(self, axis=axis)

    def unsqueeze(self, axis):
        return self.expand_dims(axis)

    def broadcast_to(self, shape):
        return _shape.BroadcastTo.apply(self, shape=tuple(shape))


Tensor._result_class = Tensor


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _lift(value, like):
    """Wrap a non-Tensor operand. Python numbers take the tensor's dtype (as in PyTorch:
    ``x * 2`` stays float32); arrays keep theirs, so NumPy's promotion rules apply."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        xp = get_array_module(like.data)
        dtype = like.data.dtype if like.data.dtype.kind == "f" else config.floatx()
        return Tensor(xp.asarray(value, dtype=dtype))
    return Tensor(value)


def _check_usable(op):
    """Raise GraphError if ``op`` was freed by an earlier backward, or if a tensor it saved
    was modified in place after the forward pass (its version counter moved)."""
    if op.inputs is None:
        raise GraphError(
            f"Trying to backward through the graph a second time (op {op!r} "
            "was freed by the first backward). Call backward(retain_graph=True) the "
            "first time to keep it, or recompute the forward pass."
        )
    for t, v in zip(op.inputs, op.versions):
        if t._version != v:
            raise GraphError(
                f"a tensor saved by {op!r} for backward was modified in place "
                f"(version {v} -> {t._version}); compute the loss again after "
                "updating it"
            )


def _describe_returned(value):
    """``ndarray of shape (2, 3)``, ``NoneType``, ...: what an op returned, for a message."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__


def _check_forward_result(op, data):
    """A user's ``forward`` must return an array (NumPy or CuPy), not a Tensor or None."""
    if isinstance(data, Tensor):
        raise GraphError(
            f"{type(op).__name__}.forward returned a Tensor; forward works on raw arrays "
            "(it receives tensor.data) and must return an array: return the array itself, "
            "e.g. `return x * 2`, not a Tensor"
        )
    if not (hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "ndim")):
        raise GraphError(
            f"{type(op).__name__}.forward returned {_describe_returned(data)}, expected an "
            "array (NumPy, or CuPy on the GPU): end forward with `return <the result>`"
        )


def _check_backward_result(op, in_grads):
    """A user's ``backward`` must return a tuple with one entry per input, each None or an
    array of that input's shape (or of a shape it was broadcast to: the engine sums it back).
    """
    name = type(op).__name__
    n = len(op.inputs)
    if not isinstance(in_grads, (tuple, list)):
        hint = "(dx,)" if n == 1 else "(" + ", ".join(f"d{i}" for i in range(n)) + ")"
        raise GraphError(
            f"{name}.backward returned {_describe_returned(in_grads)}, expected a tuple with "
            f"one gradient per input ({n} input{'s' if n != 1 else ''}): return {hint}"
        )
    if len(in_grads) != n:
        raise GraphError(
            f"{name}.backward returned {len(in_grads)} gradient(s) for {n} inputs: return "
            "one entry per input, in order, with None for an input that needs no gradient"
        )
    for i, (t, need, ig) in enumerate(zip(op.inputs, op.needs_grad, in_grads)):
        if ig is None or not need:
            continue
        if isinstance(ig, Tensor) or not (hasattr(ig, "shape") and hasattr(ig, "dtype")):
            raise GraphError(
                f"{name}.backward returned {_describe_returned(ig)} as the gradient of input "
                f"{i}; each gradient must be an array (or None): backward works on raw arrays"
            )
        if ig.dtype.kind != "f":
            raise GraphError(
                f"{name}.backward returned a gradient of dtype {ig.dtype} for input {i}; "
                "gradients must be floating-point arrays"
            )
        shape = tuple(ig.shape)
        try:
            broadcasts = np.broadcast_shapes(t.data.shape, shape) == shape
        except ValueError:
            broadcasts = False
        if not broadcasts:
            raise ShapeError(
                f"{name}.backward returned a gradient of shape {shape} for input {i} of "
                f"shape {tuple(t.data.shape)}: a gradient has its input's shape (or the "
                "shape the input was broadcast to in forward)"
            )


class _restoring_grads:
    """Put every leaf's ``.grad`` in the graph back as it was if the block raises."""

    def __init__(self, order):
        leaves = {}
        for node in order:
            for t in node._op.inputs:
                if t._op is None:
                    leaves[id(t)] = t
        self.saved = [(t, t.grad) for t in leaves.values()]
        self.saved += [(node, node.grad) for node in order if node._retains_grad]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            for t, grad in self.saved:
                t.grad = grad
        return False


def _topological_order(root):
    """Tensors of the graph ending at ``root``, each after all of its inputs.

    Iterative depth-first search (a recursive one would overflow Python's stack on long
    chains). Only tensors made by ops are listed; leaves receive their gradients directly.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:  # every input of `node` is already in `order`
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        inputs = node._op.inputs
        if inputs is None:  # freed graph: backward reports it, naming the op
            continue
        for t in inputs:
            if t._op is not None and id(t) not in visited:
                stack.append((t, False))
    return order


def tensor(data, requires_grad=False, dtype=None):
    """Make a ``Tensor`` (``torch.tensor`` style)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# The op modules import Tensor/Op from here, so they are imported after both exist.
from minidl.ops import elementwise as _ew  # noqa: E402
from minidl.ops import linalg as _linalg  # noqa: E402
from minidl.ops import reduce as _reduce  # noqa: E402
from minidl.ops import reshaping as _shape  # noqa: E402
