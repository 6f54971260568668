"""Weight regularizers, Keras style: ``Dense(64, kernel_regularizer="l2")``.

A regularizer maps a weight tensor to a scalar penalty that is added to the loss, pulling
the weights towards zero::

    L1(l1)(w)       = l1 · Σ |w|          gradient: l1 · sign(w)
    L2(l2)(w)       = l2 · Σ w²           gradient: 2 · l2 · w
    L1L2(l1, l2)(w) = L1(l1)(w) + L2(l2)(w)

NOTE: Keras's L2 has no ½ in front, so its gradient is ``2·l2·w``; PyTorch's
``weight_decay=λ`` corresponds to ``l2 = λ / 2`` (for plain SGD).
"""

import inspect
import math

from minidl.array_backend import get_array_module
from minidl.tensor import Tensor


def _validate_factor(value, name):
    """A penalty factor must be a finite, non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or math.isinf(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative finite number, "
            f"got {name}={value!r}"
        )
    return float(value)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class Regularizer:
    """Base class: ``regularizer(weight) -> scalar Tensor`` penalty.

    Subclasses implement ``__call__`` and ``get_config``. Any function from a weight tensor
    to a scalar Tensor can also be used wherever a regularizer is accepted.
    """

    def __call__(self, x):
        xp = get_array_module(_as_tensor(x).data)
        return Tensor(xp.zeros((), dtype=_as_tensor(x).dtype))

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1(Regularizer):
    """``l1 · Σ |x|``: pushes weights to exactly zero (sparse weights).

    Args:
        l1: the penalty factor (non-negative).

    >>> float(L1(0.5)(Tensor([1.0, -2.0, 3.0])).item())
    3.0
    """

    def __init__(self, l1=0.01):
        self.l1 = _validate_factor(0.01 if l1 is None else l1, "l1")

    def __call__(self, x):
        return _as_tensor(x).abs().sum() * self.l1

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 · Σ x²`` ("weight decay"): shrinks every weight in proportion to its size.

    Args:
        l2: the penalty factor (non-negative).

    >>> float(L2(2.0)(Tensor([[1.0, 1.0], [1.0, 1.0]])).item())
    8.0
    """

    def __init__(self, l2=0.01):
        self.l2 = _validate_factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _as_tensor(x)
        return (x * x).sum() * self.l2

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 · Σ |x| + l2 · Σ x²``. Both factors default to 0, as in Keras.

    The string ``"l1_l2"`` gives ``L1L2(l1=0.01, l2=0.01)``, as Keras documents for it.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _validate_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate_factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _as_tensor(x)
        penalty = None
        if self.l1:
            penalty = x.abs().sum() * self.l1
        if self.l2:
            l2_term = (x * x).sum() * self.l2
            penalty = l2_term if penalty is None else penalty + l2_term
        if penalty is None:  # both factors 0: a constant zero of the weight's dtype
            return Tensor(get_array_module(x.data).zeros((), dtype=x.dtype))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    """An ``L1L2`` regularizer with both factors defaulting to 0.01 (Keras 2's helper)."""
    return L1L2(l1=l1, l2=l2)


_CLASSES = {"Regularizer": Regularizer, "L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "l1l2": L1L2}


def serialize(regularizer):
    """``{"class_name": ..., "config": ...}`` for a regularizer (None stays None)."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config):
    """The inverse of ``serialize``."""
    class_name = config.get("class_name")
    if class_name not in _CLASSES:
        raise ValueError(
            f"Unknown regularizer class_name {class_name!r}; expected one of "
            f"{sorted(_CLASSES)}"
        )
    return _CLASSES[class_name].from_config(config.get("config", {}))


def get(identifier):
    """Resolve a regularizer identifier.

    Args:
        identifier: ``None``; a name (``"l1"``, ``"l2"``, ``"l1_l2"``, or a class name such
            as ``"L2"``) giving default factors; a ``Regularizer`` instance or class; a dict
            from ``serialize``; or any callable ``fn(weight) -> scalar``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: an identifier of another type.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        maker = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if maker is None or maker is Regularizer:
            valid = sorted(set(_NAMES) | {"L1", "L2", "L1L2"})
            raise ValueError(
                f"Unknown regularizer {identifier!r}. Valid names: {', '.join(valid)}"
            )
        return maker()
    if inspect.isclass(identifier) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret regularizer identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass 'l1', 'l2', 'l1_l2', a Regularizer, or a function"
    )


__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1_l2", "get", "serialize", "deserialize"]
