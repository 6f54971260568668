"""Batch normalization: one op with a fused backward.

API:

- ``batch_norm(x, gamma, beta, moving_mean, moving_variance, training, axis=-1,
  epsilon=1e-3)`` returns ``(y, batch_mean, batch_variance)``. ``gamma``/``beta`` have one
  value per feature of ``axis`` (None: 1 and 0); with ``training=True`` the statistics are
  the batch's own (mean and *biased* variance over every axis but ``axis``: what Keras feeds
  its moving averages), and the gradient flows through them; with ``training=False`` the
  moving statistics are constants and ``batch_mean``/``batch_variance`` are None. The
  caller (the ``BatchNormalization`` layer) updates its moving statistics from them.
"""

from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.tensor import Op, Tensor


class BatchNorm(Op):
    """y = γ · x̂ + β,   x̂ = (x - μ) / √(σ² + ε), per feature along ``axis``.

    Training (μ, σ² the batch mean and biased variance over the m = N·... values of each
    feature), with ĝ = g · γ, the fused backward:

        dx = (ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂)) / √(σ² + ε)
        dγ = Σ g · x̂        dβ = Σ g

    Inference (μ, σ² the moving statistics, constants): dx = ĝ / √(σ² + ε).
    """

    def __init__(self, mean, variance, epsilon, axes, training):
        self.mean, self.variance, self.epsilon = mean, variance, epsilon
        self.axes, self.training = axes, training

    def forward(self, x, gamma, beta):
        inv_std = 1.0 / get_array_module(x).sqrt(self.variance + x.dtype.type(self.epsilon))
        inv_std = inv_std.astype(x.dtype, copy=False)
        self.count = x.size // inv_std.size  # values per feature
        self.xhat = (x - self.mean) * inv_std
        self.inv_std, self.gamma = inv_std, gamma
        return self.xhat * gamma + beta

    def backward(self, g):
        axes, xhat = self.axes, self.xhat
        dgamma = (g * xhat).sum(axis=axes, keepdims=True) if self.needs_grad[1] else None
        dbeta = g.sum(axis=axes, keepdims=True) if self.needs_grad[2] else None
        dx = None
        if self.needs_grad[0]:
            ghat = g * self.gamma
            if self.training:
                m = self.count
                mean_g = ghat.sum(axis=axes, keepdims=True) / m
                mean_gx = (ghat * xhat).sum(axis=axes, keepdims=True) / m
                dx = (ghat - mean_g - xhat * mean_gx) * self.inv_std
            else:
                dx = ghat * self.inv_std
        return dx, dgamma, dbeta


def batch_norm(x, gamma=None, beta=None, moving_mean=None, moving_variance=None,
               training=False, axis=-1, epsilon=1e-3):
    """Batch normalization of ``x`` along the features of ``axis`` (see the module docstring).

    Args:
        x: a Tensor of rank >= 2.
        gamma, beta: (C,) Tensors (trainable scale and offset), or None for 1 and 0.
        moving_mean, moving_variance: (C,) arrays or Tensors, used when not training.
        training: use (and return) the batch statistics.
        axis: the feature axis (Keras: -1 for channels last, 1 for channels first).
        epsilon: added to the variance.

    Returns:
        ``(y, batch_mean, batch_variance)``; the last two are (C,) arrays, or None when
        not training.

    Raises:
        ShapeError: ``axis`` out of range, or parameters that do not have C values.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    xp = get_array_module(x.data)
    if not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"batch_norm: axis {axis} is out of range for an input of shape "
                         f"{tuple(x.shape)}")
    axis = axis % x.ndim
    c = x.shape[axis]
    axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = tuple(c if a == axis else 1 for a in range(x.ndim))  # broadcasts against x

    def param(value, fill, name):
        if value is None:
            return Tensor(xp.full(shape, fill, dtype=x.dtype))
        value = value if isinstance(value, Tensor) else Tensor(value)
        if value.size != c:
            raise ShapeError(f"batch_norm: {name} must have {c} values (the size of axis "
                             f"{axis} of the input of shape {tuple(x.shape)}), got shape "
                             f"{tuple(value.shape)}")
        return value.reshape(shape)

    gamma, beta = param(gamma, 1, "gamma"), param(beta, 0, "beta")
    if training:
        mean = x.data.mean(axis=axes, keepdims=True)
        variance = ((x.data - mean) ** 2).mean(axis=axes, keepdims=True)
        stats = (mean.reshape(c), variance.reshape(c))
    else:
        if moving_mean is None or moving_variance is None:
            raise ValueError("batch_norm: training=False needs moving_mean and "
                             "moving_variance")
        mean, variance = (
            (v.data if isinstance(v, Tensor) else xp.asarray(v)).reshape(shape).astype(
                x.dtype, copy=False)
            for v in (moving_mean, moving_variance))
        stats = (None, None)
    y = BatchNorm.apply(x, gamma, beta, mean=mean, variance=variance, epsilon=float(epsilon),
                        axes=axes, training=bool(training))
    return (y, *stats)

