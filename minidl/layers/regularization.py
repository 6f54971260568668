"""Regularization layers: ``Dropout``, ``SpatialDropout1D``, ``SpatialDropout2D``."""

import numpy as np

from minidl import config
from minidl import random as mrandom
from minidl.errors import ShapeError
from minidl.layers.base import Layer
from minidl.ops import nn as nn_ops


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 during training, scaling the rest by
    1/(1 - rate); the identity in ``evaluate`` and ``predict``.

    Masks come from this layer's own random stream (derived from the global seed and the
    layer's name, or from ``seed``), so they are reproducible and independent per layer.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)):
            raise TypeError(f"Dropout: rate must be a float in [0, 1], got {rate!r}")
        if not 0 <= rate <= 1:  # also False for NaN
            raise ValueError(f"Dropout: rate must be a float in [0, 1], got {rate}")
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            self._generator = mrandom.generator(f"{self.random_key}/dropout", seed=self.seed)
        return self._generator

    def reseed(self, key):
        self._generator = mrandom.generator(f"{self.random_key}/dropout/{key}",
                                            seed=self.seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        noise_shape = None
        if self.noise_shape is not None:  # None entries follow the input (Keras)
            if len(self.noise_shape) != inputs.ndim:
                raise ShapeError(f"Dropout '{self.name}': noise_shape {self.noise_shape} has "
                                 f"{len(self.noise_shape)} axes but the input has shape "
                                 f"{tuple(inputs.shape)}; give one entry per axis")
            noise_shape = tuple(n if n is not None else s
                                for n, s in zip(self.noise_shape, inputs.shape))
        return nn_ops.Dropout.apply(inputs, rate=self.rate, generator=self.generator,
                                    noise_shape=noise_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                "seed": self.seed}


class SpatialDropout1D(Dropout):
    """Dropout of whole feature maps: for inputs (batch, steps, channels) one draw per
    (sample, channel) drops or keeps that channel at every step, scaling kept ones by
    1/(1 - rate). Adjacent steps are strongly correlated, so dropping single values would
    hardly regularize; dropping channels does. The identity outside training.

    Args:
        rate: the fraction of channels to drop, in [0, 1].
        seed: an int for a stream independent of the global seed.

    Raises:
        ShapeError: inputs that are not 3-D.
    """

    _rank, _layout = 3, "(batch, steps, channels)"

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != self._rank:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim={self._rank} {self._layout}, found ndim={len(input_shape)}. Full "
                f"shape received: {tuple(input_shape)}"
            )

    def _noise_shape(self, shape):
        return (shape[0], 1, shape[2])

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return nn_ops.Dropout.apply(inputs, rate=self.rate, generator=self.generator,
                                    noise_shape=self._noise_shape(inputs.shape))

    def get_config(self):
        config_ = super().get_config()
        del config_["noise_shape"]
        return config_


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole feature maps of images: one draw per (sample, channel) drops or
    keeps that channel's entire (height, width) map (see ``SpatialDropout1D``).

    Args:
        rate: the fraction of channels to drop, in [0, 1].
        data_format: ``"channels_last"`` or ``"channels_first"`` (None:
            ``keras.config.image_data_format()``).
        seed: an int for a stream independent of the global seed.

    Raises:
        ShapeError: inputs that are not 4-D.
        ValueError: an unknown ``data_format``.
    """

    _rank, _layout = 4, "(batch, height, width, channels) or (batch, channels, height, width)"

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        self.data_format = config.standardize_data_format(data_format, "SpatialDropout2D")
        super().__init__(rate, seed=seed, **kwargs)

    def _noise_shape(self, shape):
        if self.data_format == "channels_last":
            return (shape[0], 1, 1, shape[3])
        return (shape[0], shape[1], 1, 1)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
