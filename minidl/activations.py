"""Activation functions, by name as in Keras: ``Dense(128, activation="relu")``.

Each is a function from Tensor to Tensor built on the ops in ``minidl.ops``. ``softmax`` and
``sigmoid`` also remember their input (``out._logits = (name, input)``) so that a
cross-entropy loss after them can use the stable fused path from logits, as Keras does.
"""

from minidl.ops import elementwise as ew
from minidl.ops import nn
from minidl.tensor import Tensor


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x):
    """The identity: ``linear(x) = x``."""
    return _tensor(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, with Keras's options.

    f(x) = max_value             if x >= max_value
           x                     if threshold < x < max_value
           negative_slope·(x − threshold)   otherwise

    NOTE: ``x > threshold`` is strict, as Keras computes it (its docstring says ``<=``, but
    its own example ``relu([5.], threshold=5.)`` gives 0). At the kinks the gradient is
    PyTorch's (relu6'(0) = relu6'(6) = 0): the identity branch counts only strictly
    inside (threshold, max_value).
    """
    x = _tensor(x)
    if negative_slope == 0 and max_value is None and threshold == 0:
        return ew.ReLU.apply(x)
    if threshold == 0 and max_value is None:
        return ew.LeakyReLU.apply(x, negative_slope=negative_slope)
    out = ew.where(x.data > threshold, x, (x - threshold) * negative_slope)
    if max_value is not None:
        # where(x >= max), not a clip: a NaN input stays NaN, and the gradient at max is 0.
        out = ew.where(x.data >= max_value, max_value, out)
    return out


def relu6(x):
    """min(max(x, 0), 6)."""
    return relu(x, max_value=6.0)


def leaky_relu(x, negative_slope=0.2):
    """x if x > 0 else negative_slope·x (Keras 3's default slope is 0.2)."""
    return ew.LeakyReLU.apply(_tensor(x), negative_slope=negative_slope)


def sigmoid(x):
    """σ(x) = 1 / (1 + e⁻ˣ); remembers ``x`` for a following binary cross-entropy."""
    x = _tensor(x)
    out = ew.Sigmoid.apply(x)
    out._logits = ("sigmoid", x)
    return out


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along ``axis``; remembers ``x`` for a following cross-entropy."""
    x = _tensor(x)
    out = nn.Softmax.apply(x, axis=axis)
    if axis == -1 or axis == x.ndim - 1:
        out._logits = ("softmax", x)
    return out


def log_softmax(x, axis=-1):
    return nn.LogSoftmax.apply(_tensor(x), axis=axis)


def tanh(x):
    return ew.Tanh.apply(_tensor(x))


def elu(x, alpha=1.0):
    """x if x > 0 else α(eˣ − 1)."""
    return ew.ELU.apply(_tensor(x), alpha=alpha)


def selu(x):
    """scale · elu(x, α) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return ew.ELU.apply(_tensor(x), alpha=alpha) * scale


def gelu(x, approximate=False):
    """x·Φ(x) (exact, Keras 3's default) or its tanh approximation."""
    return ew.GELU.apply(_tensor(x), approximate=approximate)


def softplus(x):
    """ln(1 + eˣ)."""
    return ew.Softplus.apply(_tensor(x))


def softsign(x):
    """x / (1 + |x|)."""
    x = _tensor(x)
    return x / (ew.Abs.apply(x) + 1)


def silu(x):
    """x·σ(x) (also called swish)."""
    x = _tensor(x)
    return x * ew.Sigmoid.apply(x)


swish = silu


def exponential(x):
    return ew.Exp.apply(_tensor(x))


def hard_sigmoid(x):
    """relu6(x + 3) / 6 (Keras 3's definition); its gradient is 0 at x = ±3, as torch's."""
    return relu6(_tensor(x) + 3.0) / 6.0


_ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "tanh": tanh,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "softplus": softplus,
    "softsign": softsign,
    "silu": silu,
    "swish": swish,
    "exponential": exponential,
    "hard_sigmoid": hard_sigmoid,
}


def get(identifier):
    """Resolve an activation: a name (``"relu"``), a callable, or ``None`` (linear).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _ACTIVATIONS.get(identifier.lower())
        if fn is None:
            from minidl import saving  # a registered or custom_objects activation

            fn = saving.lookup(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation {identifier!r}. Valid names: {sorted(_ACTIVATIONS)}"
            )
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activation must be a string, a callable or None, got {type(identifier).__name__}"
    )


def serialize(fn):
    """The name of a built-in activation (for ``get_config``), else the function itself."""
    for name, f in _ACTIVATIONS.items():
        if f is fn:
            return name
    from minidl import saving

    return saving.registered_name(fn) or getattr(fn, "__name__", fn)
