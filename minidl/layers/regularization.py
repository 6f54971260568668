"""Regularization layers: ``Dropout``."""

import numpy as np

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
