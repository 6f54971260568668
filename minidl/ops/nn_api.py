"""Keras 3's neural-network ``keras.ops`` functions, with Keras's defaults.

Thin aliases of minidl's ops (``elementwise`` and ``nn``): no forward or backward of their
own. Two defaults differ from PyTorch's and from the lower-level ``elementwise`` functions,
and follow Keras here: ``gelu`` uses the tanh approximation unless ``approximate=False``,
and ``leaky_relu``'s slope is 0.2.
"""

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module
from minidl.ops import elementwise as _ew
from minidl.ops import nn as _nn
from minidl.tensor import Tensor

relu = _ew.relu
sigmoid = _ew.sigmoid
softplus = _ew.softplus


def softmax(x, axis=-1):
    """``exp(x) / Σ exp(x)`` along ``axis`` (the ``Softmax`` op)."""
    return _nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis`` (the ``LogSoftmax`` op)."""
    return _nn.log_softmax(x, axis=axis)


def silu(x):
    """``x · sigmoid(x)``, composed (Keras's ``silu``, also called ``swish``)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x * _ew.sigmoid(x)


swish = silu


def gelu(x, approximate=True):
    """GELU; Keras's ``ops.gelu`` defaults to the tanh approximation."""
    return _ew.gelu(x, approximate=approximate)


def elu(x, alpha=1.0):
    """``x`` if ``x > 0`` else ``alpha · (exp(x) - 1)``."""
    return _ew.elu(x, alpha=alpha)


def leaky_relu(x, negative_slope=0.2):
    """``x`` if ``x > 0`` else ``negative_slope · x``; Keras's default slope is 0.2."""
    return _ew.leaky_relu(x, negative_slope=negative_slope)


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """Integer labels as one-hot vectors (no gradient); a label outside ``[0, num_classes)``
    gives a row of zeros, as Keras.

    Args:
        x: integer labels of any shape.
        num_classes: the length of each one-hot vector.
        axis: where the new axis goes (last by default).
        dtype: the output dtype (``floatx`` by default).
        sparse: accepted for Keras compatibility; must be ``False``.

    Returns:
        A constant tensor of shape ``x.shape`` with ``num_classes`` inserted at ``axis``.
    """
    if sparse:
        raise ValueError("one_hot: minidl has no sparse tensors; use sparse=False")
    labels = x.data if isinstance(x, Tensor) else np.asarray(x)
    xp = get_array_module(labels)
    hot = labels[..., None] == xp.arange(num_classes)
    if axis != -1:
        hot = xp.moveaxis(hot, -1, axis)
    return Tensor(hot.astype(dtype or config.floatx()))


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """Keras's ``ops.batch_normalization``: ``(x - mean) / sqrt(variance + epsilon) · scale
    + offset``, with ``mean``, ``variance``, ``offset`` and ``scale`` (vectors of the size of
    ``x``'s axis ``axis``) broadcast along that axis. Composed of elementwise ops, so its
    gradient reaches ``x`` and every statistic; the layer ``BatchNormalization`` uses the
    fused ``batch_norm`` op instead.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    axis = axis % x.ndim
    shape = tuple(x.shape[axis] if i == axis else 1 for i in range(x.ndim))

    def along_axis(v):  # a vector of the axis' size, shaped to broadcast against x
        return (v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=x.dtype))).reshape(
            shape)

    inv = (along_axis(variance) + epsilon) ** -0.5
    if scale is not None:
        inv = inv * along_axis(scale)
    out = (x - along_axis(mean)) * inv
    return out if offset is None else out + along_axis(offset)
