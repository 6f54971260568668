"""More convolution layers: ``Conv2DTranspose``, ``DepthwiseConv2D``, ``SeparableConv2D``.

Each is configuration and weights around the convolution ops of ``minidl.ops.conv`` (the
math lives there, once): ``conv_transpose``, ``depthwise_conv`` and ``conv``. Kernels use
Keras's layouts, so weights copied from Keras fit:

- ``Conv2DTranspose``: (kh, kw, filters, in_channels): the kernel of the convolution that
  this layer transposes (that convolution maps ``filters`` channels to ``in_channels``);
- ``DepthwiseConv2D``: (kh, kw, in_channels, depth_multiplier);
- ``SeparableConv2D``: a depthwise (kh, kw, in_channels, depth_multiplier) then a pointwise
  (1, 1, in_channels · depth_multiplier, filters) kernel.
"""

from minidl import activations, config, initializers, regularizers
from minidl.errors import ShapeError
from minidl.layers.base import Layer, _check_positive_int, _serialize
from minidl.ops.conv import conv, conv_transpose, depthwise_conv, normalize_tuple


def _pair(value, arg, owner):
    """An int or a pair of ints as a pair of positive ints (a clear error naming ``arg``)."""
    try:
        return normalize_tuple(value, 2, arg)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{owner}: {exc}") from None


def _padding(value, owner):
    mode = value.lower() if isinstance(value, str) else value
    if mode not in ("valid", "same"):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got padding={value!r}")
    return mode


def _conv_output_length(n, k, s, d, padding):
    """Keras's output size of a convolution along one axis (None stays None)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    span = d * (k - 1) + 1
    return (n - span) // s + 1


class _BaseConv2D(Layer):
    """What the three layers share: kernel size, strides, padding, layout, dilation, the
    activation and bias, and the input checks (rank 4, a known channel count that stays
    the same, a window that fits a ``valid`` input)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 bias_initializer="zeros", bias_regularizer=None, **kwargs):
        name = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.strides = _pair(strides, "strides", name)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", name)
        self.padding = _padding(padding, name)
        self.data_format = config.standardize_data_format(data_format, name)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{name}: strides > 1 together with dilation_rate > 1 is not "
                             f"supported (as in Keras), got strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias = None

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape):
        return tuple(shape[1:3]) if self.data_format == "channels_last" else tuple(shape[2:4])

    def _check_input(self, shape):
        if len(shape) != 4:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim=4, found ndim={len(shape)}. Full shape received: {tuple(shape)}"
            )
        channels = shape[self._channel_axis()]
        if channels is None:
            raise ShapeError(f"layer '{self.name}': the channel axis of the input shape "
                             f"{tuple(shape)} ({self.data_format}) must be known")
        return channels

    def _check_channels(self, inputs):
        channels = inputs.shape[self._channel_axis()]
        if inputs.ndim != 4 or channels != self.in_channels:
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"axis {self._channel_axis()} of input shape to have value "
                f"{self.in_channels} ({self.data_format}), but received input with shape "
                f"{tuple(inputs.shape)}"
            )

    def _check_window_fits(self, input_shape):
        if self.padding != "valid":
            return
        for axis, (n, k, d) in enumerate(zip(self._spatial(input_shape), self.kernel_size,
                                             self.dilation_rate)):
            span = d * (k - 1) + 1
            if n is not None and n < span:
                raise ShapeError(
                    f"layer '{self.name}': kernel_size={self.kernel_size} (dilation_rate="
                    f"{self.dilation_rate}) spans {span} cells, more than the {n} of spatial "
                    f"axis {axis} of the input shape {tuple(input_shape)} with "
                    f"padding='valid'; use padding='same' or a smaller kernel"
                )

    def _with_spatial(self, input_shape, sizes, channels):
        if self.data_format == "channels_last":
            return (input_shape[0], *sizes, channels)
        return (input_shape[0], channels, *sizes)

    def _finish(self, out):
        return self.activation(out)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": _serialize(self.bias_regularizer),
        }


class Conv2DTranspose(_BaseConv2D):
    """Transposed 2-D convolution (sometimes called deconvolution): the map whose matrix is
    the transpose of a convolution's, so it upsamples by ``strides``.

    Each input pixel adds ``x[p, :] @ kernel[i, j, :, :]ᵀ`` to output pixel ``p·stride +
    (i, j)·dilation``; the output size per spatial axis (Keras's rule), with span =
    dilation·(kernel - 1) + 1:

    - ``output_padding=None``: ``n·s`` (``"same"``), ``n·s + max(span - s, 0)`` (``"valid"``);
    - else ``(n - 1)·s + span - 2·pad + output_padding``, pad = span // 2 for ``"same"``
      and 0 for ``"valid"``.

    Its gradient with respect to the input is an ordinary convolution with the same kernel.

    Args:
        filters: the number of output channels.
        kernel_size: an int or (kh, kw).
        strides: an int or a pair (default 1).
        padding: ``"valid"`` or ``"same"``.
        output_padding: None, an int or a pair, each smaller than its stride: extra cells
            at the bottom/right of the output.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None:
            ``keras.config.image_data_format()``).
        dilation_rate, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as ``Conv2D``.

    Raises:
        ValueError / TypeError: a bad setting, naming it and the value.
        ShapeError: inputs that are not 4-D, or whose channel count changes.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1),
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        _check_positive_int(filters, "filters", "Conv2DTranspose")
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, bias_initializer, bias_regularizer, **kwargs)
        self.filters = int(filters)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = normalize_tuple(output_padding, 2,
                                                           "output_padding", allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(f"Conv2DTranspose: each output_padding must be smaller than "
                                 f"its stride, got output_padding={self.output_padding}, "
                                 f"strides={self.strides}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel = None

    def build(self, input_shape):
        self.in_channels = self._check_input(input_shape)
        self.kernel = self.add_weight((*self.kernel_size, self.filters, self.in_channels),
                                      self.kernel_initializer, "kernel",
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        sizes = []
        for axis, n in enumerate(self._spatial(input_shape)):
            k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
            span = d * (k - 1) + 1
            if n is None:
                sizes.append(None)
            elif self.output_padding is None:
                sizes.append(n * s if self.padding == "same" else n * s + max(span - s, 0))
            else:
                pad = span // 2 if self.padding == "same" else 0
                sizes.append((n - 1) * s + span - 2 * pad + self.output_padding[axis])
        return self._with_spatial(input_shape, sizes, self.filters)

    def call(self, inputs, training=False):
        self._check_channels(inputs)
        out = conv_transpose(
            inputs, self.kernel, self.strides, self.padding, self.output_padding,
            self.data_format, self.dilation_rate, bias=self.bias, kernel_layout="keras")
        return self._finish(out)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(
                self.output_padding),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": _serialize(self.kernel_regularizer),
        }


class DepthwiseConv2D(_BaseConv2D):
    """Depthwise 2-D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters, never mixed with the other channels.

    out[..., c·M + m] = Σ_{i,j} x[p·s + (i, j)·d, c] · kernel[i, j, c, m] + bias[c·M + m]

    (a convolution with ``groups`` = the number of input channels).

    Args:
        kernel_size: an int or (kh, kw).
        strides, padding, data_format, dilation_rate, activation, use_bias: as ``Conv2D``.
        depth_multiplier: filters per input channel (output channels = in · multiplier).
        depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer:
            for the kernel (kh, kw, in, multiplier) and the bias (in · multiplier,).

    Raises:
        ValueError / TypeError: a bad setting, naming it and the value.
        ShapeError: inputs that are not 4-D, whose channel count changes, or smaller than
            the kernel with ``padding="valid"``.
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, **kwargs):
        _check_positive_int(depth_multiplier, "depth_multiplier", type(self).__name__)
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, bias_initializer, bias_regularizer, **kwargs)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.kernel = None

    def build(self, input_shape):
        self.in_channels = self._check_input(input_shape)
        self._check_window_fits(input_shape)
        self.kernel = self.add_weight(
            (*self.kernel_size, self.in_channels, self.depth_multiplier),
            self.depthwise_initializer, "kernel", regularizer=self.depthwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.in_channels * self.depth_multiplier,),
                                        self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)

    def _out_sizes(self, input_shape):
        return [_conv_output_length(n, k, s, d, self.padding) for n, k, s, d in zip(
            self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate)]

    def compute_output_shape(self, input_shape):
        channels = input_shape[self._channel_axis()]
        return self._with_spatial(input_shape, self._out_sizes(input_shape),
                                  None if channels is None else channels * self.depth_multiplier)

    def _depthwise(self, inputs, kernel, bias):
        self._check_channels(inputs)
        self._check_window_fits(inputs.shape)
        return depthwise_conv(inputs, kernel, self.strides, self.padding,
                                       self.data_format, self.dilation_rate, bias=bias,
                                       kernel_layout="keras")

    def call(self, inputs, training=False):
        return self._finish(self._depthwise(inputs, self.kernel, self.bias))

    def get_config(self):
        return {
            **super().get_config(), "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "depthwise_regularizer": _serialize(self.depthwise_regularizer),
        }


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise separable 2-D convolution: a depthwise convolution (each channel on its
    own, ``depth_multiplier`` filters each), then a pointwise (1×1) convolution that mixes
    the channels into ``filters`` outputs, then the bias and the activation.

    Far fewer weights than a ``Conv2D`` of the same size: kh·kw·in·M + in·M·filters
    instead of kh·kw·in·filters.

    Args:
        filters: the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
        activation, use_bias: as ``DepthwiseConv2D`` (strides and padding apply to the
            depthwise step).
        depthwise_initializer, pointwise_initializer, bias_initializer,
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: per weight.

    Raises:
        As ``DepthwiseConv2D``; also ``filters`` not a positive int.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), depth_multiplier=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, **kwargs):
        _check_positive_int(filters, "filters", "SeparableConv2D")
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer, **kwargs)
        self.filters = int(filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape):
        self.in_channels = self._check_input(input_shape)
        self._check_window_fits(input_shape)
        self.depthwise_kernel = self.add_weight(
            (*self.kernel_size, self.in_channels, self.depth_multiplier),
            self.depthwise_initializer, "depthwise_kernel",
            regularizer=self.depthwise_regularizer)
        self.pointwise_kernel = self.add_weight(
            (1, 1, self.in_channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer, "pointwise_kernel",
            regularizer=self.pointwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight((self.filters,), self.bias_initializer, "bias",
                                        regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        return self._with_spatial(input_shape, self._out_sizes(input_shape), self.filters)

    def call(self, inputs, training=False):
        depthwise = self._depthwise(inputs, self.depthwise_kernel, None)
        out = conv(depthwise, self.pointwise_kernel, data_format=self.data_format,
                            bias=self.bias, kernel_layout="keras")
        return self._finish(out)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": _serialize(self.pointwise_regularizer),
        }
