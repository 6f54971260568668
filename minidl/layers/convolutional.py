"""Convolution layers: ``Conv1D`` and ``Conv2D``, on one base class as in Keras.

``BaseConv`` holds what every convolution shares (filters, kernel size, strides, padding,
data format, dilation, groups, the initializers and regularizers, the input checks); the
subclasses only say how many spatial axes they have. The math is ``minidl.ops.conv.conv``:
im2col (the input's windows as the rows of a matrix) times the kernel on BLAS, with the
bias and a ReLU fused into one pass.

The kernel keeps Keras's layout, ``(*kernel_size, input_channels // groups, filters)``, so
weights load from and save to Keras's order unchanged.
"""

from minidl import activations, initializers, regularizers
from minidl.errors import ShapeError
from minidl.layers.base import Layer, _check_positive_int, _serialize, _shape_str
from minidl.ops.conv import conv, normalize_tuple


def conv_output_length(length, kernel, stride, dilation, padding):
    """One spatial axis of a convolution's or pooling's output (None stays None).

    ``padding``: ``"valid"``, ``"same"``, ``"causal"`` or a ``(before, after)`` pair.
    """
    if length is None:
        return None
    span = dilation * (kernel - 1) + 1
    if padding == "same":
        return -(-length // stride)
    if padding == "causal":
        return (length - 1) // stride + 1
    before, after = (0, 0) if padding == "valid" else padding
    return (length + before + after - span) // stride + 1


def check_layer_args(layer, rank, *, kernel_size=None, strides=None, dilation_rate=None,
                     padding=None, data_format=None, paddings=("valid", "same"),
                     kernel_name="kernel_size"):
    """Normalize and check a conv or pooling layer's window arguments.

    Returns:
        ``(kernel_size, strides, dilation_rate, padding, data_format)``, tuples of ``rank``
        ints and lowercase strings (None where not given).

    Raises:
        TypeError / ValueError: naming the layer, the argument and the value received.
    """
    def norm(value, name, allow_none=False):
        if value is None and allow_none:
            return None
        try:
            return normalize_tuple(value, rank, name)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{layer}: {exc}") from None

    kernel_size = norm(kernel_size, kernel_name, allow_none=True)
    strides = norm(strides, "strides", allow_none=True)
    dilation_rate = norm(dilation_rate, "dilation_rate", allow_none=True)
    if padding is not None:
        if not isinstance(padding, str) or padding.lower() not in paddings:
            raise ValueError(f"{layer}: padding must be one of {list(paddings)}, got "
                             f"{padding!r}")
        padding = padding.lower()
    if data_format is None:
        from minidl import config

        data_format = getattr(config, "image_data_format", lambda: "channels_last")()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return kernel_size, strides, dilation_rate, padding, data_format


class BaseConv(Layer):
    """The shared part of ``Conv1D`` and ``Conv2D`` (``rank`` spatial axes).

    Args:
        filters: the number of output channels (a positive int).
        kernel_size: an int or ``rank`` ints: the window.
        strides: an int or ``rank`` ints (default 1).
        padding: ``"valid"`` (no padding) or ``"same"`` (output ``ceil(n / stride)``; the
            odd extra cell of padding goes to the end); ``Conv1D`` also takes ``"causal"``
            (all the padding before: output t sees only inputs up to t).
        data_format: ``"channels_last"`` (N, *spatial, C), the default, or
            ``"channels_first"`` (N, C, *spatial).
        dilation_rate: an int or ``rank`` ints: the spacing of the window's cells.
        groups: input channels and filters split into this many independent groups.
        activation: name or callable (default: none, i.e. linear). ``"relu"`` is fused
            with the bias into one pass.
        use_bias: add a bias vector.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: as Dense.

    Raises:
        ValueError / TypeError: a bad argument, naming it and the value received.
    """

    rank = None  # set by subclasses
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        cls = type(self).__name__
        _check_positive_int(filters, "filters", cls)
        _check_positive_int(groups, "groups", cls)
        kernel_size, strides, dilation_rate, padding, data_format = check_layer_args(
            cls, self.rank, kernel_size=kernel_size, strides=strides,
            dilation_rate=dilation_rate, padding=padding, data_format=data_format,
            paddings=self.paddings)
        if max(strides) > 1 and max(dilation_rate) > 1:  # as Keras
            raise ValueError(f"{cls}: strides > 1 cannot be combined with dilation_rate > 1, "
                             f"got strides={strides} and dilation_rate={dilation_rate}")
        if filters % groups:
            raise ValueError(f"{cls}: filters ({filters}) must be divisible by groups "
                             f"({groups})")
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), kernel_size, strides
        self.padding, self.data_format = padding, data_format
        self.dilation_rate, self.groups = dilation_rate, int(groups)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = self.bias = None
        self._fused_activation = "relu" if activations.serialize(
            self.activation) == "relu" else None

    @property
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _check_rank(self, shape):
        if len(shape) != self.rank + 2:
            layout = ("(batch, " + ", ".join(["length"] if self.rank == 1 else
                                             ["height", "width"]) + ", channels)")
            if self.data_format == "channels_first":
                layout = layout.replace(", channels)", ")").replace("(batch, ",
                                                                    "(batch, channels, ")
            hint = ""
            if len(shape) == self.rank + 1 and self.data_format == "channels_last":
                hint = (": add a channel axis, e.g. np.expand_dims(x, -1) or "
                        f"Input(shape=({', '.join(str(s) for s in shape[1:])}, 1))")
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim={self.rank + 2} {layout}, found ndim={len(shape)}. Full shape "
                f"received: {_shape_str(shape)}{hint}")

    def _padding_arg(self):
        """The op's padding: 'valid'/'same', or Conv1D's causal as explicit pairs."""
        if self.padding == "causal":
            return ((self.dilation_rate[0] * (self.kernel_size[0] - 1), 0),)
        return self.padding

    def build(self, input_shape):
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError(f"layer '{self.name}': the channel axis of the input must be "
                             f"known, got shape {_shape_str(input_shape)}")
        if channels % self.groups:
            raise ShapeError(f"layer '{self.name}': the input's {channels} channels are not "
                             f"divisible by groups={self.groups}")
        self.compute_output_shape(input_shape)  # a window too large fails here, named
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape, self.kernel_initializer, "kernel",
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)

    def call(self, inputs, training=False):
        self._check_rank(inputs.shape)
        expected = self.kernel.shape[-2] * self.groups
        if inputs.shape[self._channel_axis] != expected:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"axis {self._channel_axis} of input shape to have value {expected}, but "
                f"received input with shape {_shape_str(inputs.shape)}")
        out = conv(inputs, self.kernel, self.strides, self._padding_arg(), self.data_format,
                   self.dilation_rate, bias=self.bias, groups=self.groups,
                   activation=self._fused_activation or "linear")
        return out if self._fused_activation else self.activation(out)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        first = self.data_format == "channels_first"
        spatial = input_shape[2:] if first else input_shape[1:-1]
        out = []
        for axis, (n, k, s, d) in enumerate(zip(spatial, self.kernel_size, self.strides,
                                                self.dilation_rate)):
            size = conv_output_length(n, k, s, d, self.padding)
            if size is not None and size <= 0:
                raise ShapeError(
                    f"layer '{self.name}': the kernel (kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate}) is larger than the input along "
                    f"spatial axis {axis} with padding='{self.padding}': input shape "
                    f"{_shape_str(input_shape)}. Use padding='same', a smaller kernel_size, "
                    "or a larger input")
            out.append(size)
        if first:
            return (input_shape[0], self.filters, *out)
        return (input_shape[0], *out, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _serialize(self.kernel_regularizer),
            "bias_regularizer": _serialize(self.bias_regularizer),
        }


class Conv1D(BaseConv):
    """1-D convolution over (batch, steps, channels): ``Conv1D(filters, kernel_size)``.

    Also takes ``padding="causal"`` (pads ``dilation_rate · (kernel_size - 1)`` cells before
    the sequence only, so output t depends on inputs up to t: WaveNet's convolution).
    See ``BaseConv`` for the arguments. Kernel: (kernel_size, channels // groups, filters).

    >>> import numpy as np
    >>> Conv1D(4, 3)(np.ones((2, 10, 5), dtype="float32")).shape
    (2, 8, 4)
    """

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(BaseConv):
    """2-D convolution over images: ``Conv2D(32, kernel_size=(3, 3), activation="relu")``.

    See ``BaseConv`` for the arguments. Kernel: (kh, kw, channels // groups, filters), as
    Keras.

    >>> import numpy as np
    >>> Conv2D(8, 3, padding="same")(np.ones((2, 28, 28, 1), dtype="float32")).shape
    (2, 28, 28, 8)
    """

    rank = 2


__all__ = ["BaseConv", "Conv1D", "Conv2D", "conv_output_length", "check_layer_args"]
