"""Normalization layers: ``BatchNormalization``.

The math is ``minidl.ops.norm.batch_norm`` (one op, fused backward); this layer holds the
weights and Keras's rules for when each statistic is used and how the moving ones move.
"""

from minidl import initializers, regularizers
from minidl.errors import ShapeError
from minidl.layers.base import Layer, _serialize, _shape_str
from minidl.ops.norm import batch_norm


class BatchNormalization(Layer):
    """Normalize each feature with the batch's statistics in training and the moving ones
    otherwise, then scale by ``gamma`` and shift by ``beta`` (Keras 3's rules).

    - ``training=True`` (``fit``, or a direct ``layer(x, training=True)``): the batch's
      mean and biased variance normalize ``x``, and each such call moves the statistics
      once: ``moving = moving · momentum + batch · (1 - momentum)``.
    - otherwise (``predict``, ``evaluate``, ``trainable=False``): the moving statistics;
      nothing changes.

    ``moving_mean`` and ``moving_variance`` are non-trainable weights: saved with the model,
    counted as non-trainable parameters in ``summary``, never touched by the optimizer.

    Args:
        axis: the feature axis (-1 for channels last, 1 for channels first).
        momentum: of the moving averages (0.99).
        epsilon: added to the variance (1e-3).
        center, scale: learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer, beta_regularizer, gamma_regularizer: as Keras.

    Raises:
        ValueError: ``momentum`` outside [0, 1] or ``epsilon`` <= 0.
        ShapeError: ``axis`` not in the input, or an input whose features differ from the
            built ones.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis must be an int, got {axis!r}")
        if not 0 <= momentum <= 1:  # also False for NaN
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _features(self, shape):
        if not -len(shape) <= self.axis < len(shape) or self.axis % len(shape) == 0:
            raise ShapeError(f"layer '{self.name}': axis={self.axis} is not a feature axis of "
                             f"the input of shape {_shape_str(shape)}")
        return shape[self.axis]

    def build(self, input_shape):
        n = self._features(tuple(input_shape))
        if n is None:
            raise ShapeError(f"layer '{self.name}': axis {self.axis} of the input must be "
                             f"known, got shape {_shape_str(input_shape)}")
        # Keras's order: gamma, beta, moving_mean, moving_variance.
        if self.scale:
            self.gamma = self.add_weight((n,), self.gamma_initializer, "gamma",
                                         regularizer=self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight((n,), self.beta_initializer, "beta",
                                        regularizer=self.beta_regularizer)
        self.moving_mean = self.add_weight((n,), self.moving_mean_initializer, "moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight((n,), self.moving_variance_initializer,
                                               "moving_variance", trainable=False)

    def call(self, inputs, training=False):
        n = self._features(inputs.shape)
        if n != self.moving_mean.shape[0]:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"axis {self.axis} of input shape to have value {self.moving_mean.shape[0]}, "
                f"but received input with shape {_shape_str(inputs.shape)}")
        training = bool(training) and self.trainable  # trainable=False: inference mode
        y, mean, variance = batch_norm(inputs, self.gamma, self.beta, self.moving_mean,
                                       self.moving_variance, training, self.axis,
                                       self.epsilon)
        if training:
            m = self.moving_mean.dtype.type(self.momentum)
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moving.assign(moving.data * m + batch.astype(moving.dtype) * (1 - m))
        return y

    def compute_output_shape(self, input_shape):
        self._features(tuple(input_shape))
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum,
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": _serialize(self.beta_regularizer),
            "gamma_regularizer": _serialize(self.gamma_regularizer),
        }
