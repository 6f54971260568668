"""Merge layers: several inputs in, one output out (``Add``, ``Concatenate``, ...), and their
functional forms (``layers.add([a, b])``, ``layers.concatenate([a, b])``, ...).

Each is a few lines over minidl's ops, so their gradients are those ops' gradients (the
sum's gradient goes to every input unchanged, the maximum's to the larger input, ...).
Shapes are checked when the layer is built, so in a functional model a mismatch is
reported while the graph is being built, naming the layers the inputs come from.
"""

from minidl.errors import ShapeError
from minidl.layers.base import Layer
from minidl.ops import elementwise, linalg
from minidl.ops import reshaping as shape_ops


def _check_list(layer, input_shape, exactly=None):
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
            input_shape[0], (list, tuple)):
        raise ShapeError(f"layer '{layer.name}' ({type(layer).__name__}) must be called on a "
                         f"list of inputs, got a single input of shape {input_shape}")
    if exactly is not None and len(input_shape) != exactly:
        raise ShapeError(f"layer '{layer.name}' ({type(layer).__name__}) takes exactly "
                         f"{exactly} inputs, got {len(input_shape)}")
    if len(input_shape) < 2:
        raise ShapeError(f"layer '{layer.name}' ({type(layer).__name__}) needs at least 2 "
                         f"inputs, got {len(input_shape)}")


def _broadcast_shape(layer, shapes):
    """The elementwise result's shape: equal sizes, or 1 (broadcast), or unknown (None)."""
    if len({len(s) for s in shapes}) != 1:
        raise ShapeError(f"layer '{layer.name}' ({type(layer).__name__}) needs inputs of the "
                         f"same rank, got shapes {[tuple(s) for s in shapes]}")
    out = []
    for sizes in zip(*shapes):
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(
                f"Inputs of layer '{layer.name}' ({type(layer).__name__}) must have "
                f"compatible shapes, got {[tuple(s) for s in shapes]}"
            )
        if known:
            out.append(known.pop())
        elif any(d is None for d in sizes):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Base of the elementwise merges: inputs of one shape (or broadcastable) in, that
    shape out; subclasses define ``_merge(tensors)``."""

    _n_inputs = None  # exactly this many inputs (Subtract: 2); None: 2 or more

    def build(self, input_shape):
        _check_list(self, input_shape, self._n_inputs)
        _broadcast_shape(self, input_shape)

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape, self._n_inputs)
        return _broadcast_shape(self, input_shape)

    def call(self, inputs):
        return self._merge(list(inputs))


class Add(_Merge):
    """Adds its inputs: ``out = x1 + x2 + ...``. Gradient: each input gets the output's."""

    def _merge(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = out + t
        return out


class Subtract(_Merge):
    """Subtracts its second input from its first: ``out = x1 - x2``. Gradient: ``g`` to
    ``x1``, ``-g`` to ``x2``."""

    _n_inputs = 2

    def _merge(self, tensors):
        return tensors[0] - tensors[1]


class Multiply(_Merge):
    """Multiplies its inputs elementwise: ``out = x1 * x2 * ...``. Gradient: input i gets
    ``g`` times the product of the others."""

    def _merge(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = out * t
        return out


class Average(_Merge):
    """The mean of its inputs: ``out = (x1 + ... + xn) / n``. Gradient: ``g / n`` each."""

    def _merge(self, tensors):
        return Add._merge(self, tensors) * (1.0 / len(tensors))


class Maximum(_Merge):
    """The elementwise maximum of its inputs. Gradient: to the larger input (ties as the
    ``maximum`` op breaks them)."""

    def _merge(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = elementwise.maximum(out, t)
        return out


class Minimum(_Merge):
    """The elementwise minimum of its inputs. Gradient: to the smaller input."""

    def _merge(self, tensors):
        out = tensors[0]
        for t in tensors[1:]:
            out = elementwise.minimum(out, t)
        return out


class Concatenate(Layer):
    """Joins its inputs along ``axis`` (default the last). Gradient: each input gets its
    own slice of ``g``.

    Args:
        axis: the axis to join along; every other size must agree.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape)
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(f"A `Concatenate` layer ('{self.name}') requires inputs of the "
                             f"same rank, got shapes {shapes}")
        axis = self.axis % rank
        out = list(shapes[0])
        for s in shapes[1:]:
            for i in range(rank):
                if i == axis:
                    continue
                if out[i] is not None and s[i] is not None and out[i] != s[i]:
                    raise ShapeError(
                        f"A `Concatenate` layer ('{self.name}') requires inputs with matching "
                        f"shapes except for the concatenation axis {self.axis}. Received: "
                        f"input_shape={shapes}"
                    )
                out[i] = out[i] if out[i] is not None else s[i]
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def call(self, inputs):
        return shape_ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Layer):
    """Dot product of two inputs of shape (batch, n) along their feature axis:
    ``out[b] = sum_i x1[b, i] * x2[b, i]``, shape (batch, 1); with ``normalize=True`` each
    input is first divided by its L2 norm (cosine similarity). Gradient: ``g * x2`` to
    ``x1`` and ``g * x1`` to ``x2`` (through the ops it is made of).

    Inputs of rank 3 (batch, m, n) · (batch, n, k) with ``axes=(2, 1)`` give the batched
    matrix product (batch, m, k).

    Args:
        axes: the axis of each input to sum over (an int for both, or a pair); counted
            with the batch axis, as in Keras.
        normalize: L2-normalise both inputs along ``axes`` first.
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = normalize

    def _axes(self, shapes):
        axes = self.axes if isinstance(self.axes, (list, tuple)) else (self.axes, self.axes)
        return [a % len(s) for a, s in zip(axes, shapes)]

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape, 2)
        a, b = (tuple(s) for s in input_shape)
        ax, bx = self._axes((a, b))
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ShapeError(
                f"Incompatible input shapes for layer '{self.name}' (Dot): axis {ax} of "
                f"{a} has size {a[ax]} but axis {bx} of {b} has size {b[bx]}"
            )
        if len(a) == 2 and len(b) == 2:
            return (a[0], 1)
        if len(a) == 3 and len(b) == 3 and (ax, bx) == (2, 1):
            return (a[0], a[1], b[2])
        if len(a) == 3 and len(b) == 3 and (ax, bx) == (2, 2):
            return (a[0], a[1], b[1])
        raise ShapeError(f"layer '{self.name}' (Dot) supports (batch, n)·(batch, n) and "
                         f"batched matrix products of rank 3; got {a}, {b} with axes "
                         f"{self.axes}")

    def call(self, inputs):
        a, b = inputs
        ax, bx = self._axes((a.shape, b.shape))
        if self.normalize:
            a = a / (a * a).sum(axis=ax, keepdims=True).clip(min=1e-12).sqrt()
            b = b / (b * b).sum(axis=bx, keepdims=True).clip(min=1e-12).sqrt()
        if a.ndim == 2:
            return (a * b).sum(axis=1, keepdims=True)
        if (ax, bx) == (2, 2):
            b = b.transpose(0, 2, 1)
        return linalg.matmul(a, b)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``add([x1, x2])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``: ``subtract([x1, x2])``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``: ``concatenate([x1, x2], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of ``Dot``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
