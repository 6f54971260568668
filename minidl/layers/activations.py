"""Activation layers: ``ReLU`` (with Keras's options), ``LeakyReLU``, ``Softmax``."""

from minidl import activations
from minidl.layers.base import Layer


class ReLU(Layer):
    """Keras's ReLU layer: ``max_value``, ``negative_slope`` and ``threshold`` options."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0, got {max_value}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope}")
        if threshold is None or threshold < 0:  # as Keras: the threshold is >= 0
            raise ValueError(f"ReLU: threshold must be >= 0, got {threshold}")
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs, training=False):
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """x if x > 0 else negative_slope·x (Keras 3 default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2 name
            negative_slope = kwargs.pop("alpha")
        if (isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float))
                or not negative_slope >= 0):  # also refuses None and NaN, as Keras 3
            raise ValueError(f"LeakyReLU: negative_slope must be a number >= 0, got "
                             f"{negative_slope!r}")
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along ``axis``."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, training=False):
        return activations.softmax(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
