"""Pooling layers: max and average over windows, and over whole feature maps (global).

``MaxPooling1D/2D`` and ``AveragePooling1D/2D`` share ``BasePooling`` (window, strides,
padding, data format, the input checks); the math is ``minidl.ops.conv.max_pool`` /
``avg_pool``. Keras's rules: ``strides=None`` means the pool size; ``"same"`` pads at the
end when the padding is odd, and the average then divides by the real cells only.
``GlobalAveragePooling1D/2D`` and ``GlobalMaxPooling1D/2D`` reduce the spatial axes with
``mean``/``max``; ``keepdims=True`` keeps them as size-1 axes.
"""

from minidl.errors import ShapeError
from minidl.layers.base import Layer, _shape_str
from minidl.layers.convolutional import check_layer_args, conv_output_length
from minidl.ops.conv import avg_pool, global_avg_pool, global_max_pool, max_pool


class BasePooling(Layer):
    """The shared part of the max and average pooling layers (``rank`` spatial axes).

    Args:
        pool_size: an int or ``rank`` ints: the window.
        strides: an int, ``rank`` ints, or None (the default: ``pool_size``).
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Raises:
        ValueError / TypeError: a bad argument, naming it and the value received.
    """

    rank = None
    pool_function = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        cls = type(self).__name__
        pool_size, strides, _, padding, data_format = check_layer_args(
            cls, self.rank, kernel_size=pool_size, strides=strides, padding=padding,
            data_format=data_format, kernel_name="pool_size")
        super().__init__(**kwargs)
        self.pool_size, self.padding, self.data_format = pool_size, padding, data_format
        self.strides = pool_size if strides is None else strides

    def _check_rank(self, shape):
        if len(shape) != self.rank + 2:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim={self.rank + 2}, found ndim={len(shape)}. Full shape received: "
                f"{_shape_str(shape)}")

    def call(self, inputs, training=False):
        self._check_rank(inputs.shape)
        return type(self).pool_function(inputs, self.pool_size, self.strides, self.padding,
                                        self.data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        first = self.data_format == "channels_first"
        spatial = input_shape[2:] if first else input_shape[1:-1]
        out = []
        for axis, (n, k, s) in enumerate(zip(spatial, self.pool_size, self.strides)):
            size = conv_output_length(n, k, s, 1, self.padding)
            if size is not None and size <= 0:
                raise ShapeError(
                    f"layer '{self.name}': pool_size={self.pool_size} is larger than the "
                    f"input along spatial axis {axis} (input shape {_shape_str(input_shape)}"
                    f") with padding='valid'. Use padding='same' or a smaller pool_size")
            out.append(size)
        if first:
            return (input_shape[0], input_shape[1], *out)
        return (input_shape[0], *out, input_shape[-1])

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # checks the rank and the window size

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling1D(BasePooling):
    """Max over windows of a sequence (batch, steps, channels). ``pool_size`` defaults to 2.

    The gradient goes to each window's first maximum (as PyTorch and TensorFlow route it).
    """

    rank = 1
    pool_function = staticmethod(max_pool)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(BasePooling):
    """Max over windows of an image: ``MaxPooling2D(pool_size=(2, 2))`` (the default).

    >>> import numpy as np
    >>> MaxPooling2D()(np.ones((1, 5, 5, 3), dtype="float32")).shape
    (1, 2, 2, 3)
    """

    rank = 2
    pool_function = staticmethod(max_pool)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(BasePooling):
    """Mean over windows of a sequence. ``pool_size`` is required (Keras 3 has no default)."""

    rank = 1
    pool_function = staticmethod(avg_pool)


class AveragePooling2D(BasePooling):
    """Mean over windows of an image. ``pool_size`` is required (Keras 3 has no default);
    with ``padding="same"`` each window divides by its real (unpadded) cells."""

    rank = 2
    pool_function = staticmethod(avg_pool)


class BaseGlobalPooling(Layer):
    """Reduce every spatial axis (mean or max): (N, *spatial, C) -> (N, C).

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        keepdims: keep the spatial axes with size 1.
    """

    rank = None
    pool_function = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        _, _, _, _, data_format = check_layer_args(type(self).__name__, self.rank,
                                                   data_format=data_format)
        super().__init__(**kwargs)
        self.data_format, self.keepdims = data_format, bool(keepdims)

    def _check_rank(self, shape):
        if len(shape) != self.rank + 2:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim={self.rank + 2}, found ndim={len(shape)}. Full shape received: "
                f"{_shape_str(shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)

    def call(self, inputs, training=False):
        self._check_rank(inputs.shape)
        return type(self).pool_function(inputs, self.data_format, self.keepdims)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        first = self.data_format == "channels_first"
        channels = input_shape[1] if first else input_shape[-1]
        if not self.keepdims:
            return (input_shape[0], channels)
        ones = (1,) * self.rank
        return (input_shape[0], channels, *ones) if first else (input_shape[0], *ones,
                                                                 channels)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(BaseGlobalPooling):
    """Mean over the steps of a sequence: (N, steps, C) -> (N, C)."""

    rank = 1
    pool_function = staticmethod(global_avg_pool)


class GlobalAveragePooling2D(BaseGlobalPooling):
    """Mean over the height and width of an image: (N, H, W, C) -> (N, C)."""

    rank = 2
    pool_function = staticmethod(global_avg_pool)


class GlobalMaxPooling1D(BaseGlobalPooling):
    """Max over the steps of a sequence: (N, steps, C) -> (N, C)."""

    rank = 1
    pool_function = staticmethod(global_max_pool)


class GlobalMaxPooling2D(BaseGlobalPooling):
    """Max over the height and width of an image: (N, H, W, C) -> (N, C)."""

    rank = 2
    pool_function = staticmethod(global_max_pool)
