"""``Conv2d`` and the pooling modules (NCHW, PyTorch's layouts)."""

from minidl.torch import _functions as _torch
from minidl.torch.nn import functional as F
from minidl.torch.nn import init
from minidl.torch.nn.modules.module import Module
from minidl.torch.nn.parameter import Parameter


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Conv2d(Module):
    """2-D convolution (a cross-correlation) over NCHW inputs.

    ``weight`` has PyTorch's shape ``(out_channels, in_channels / groups, kh, kw)``; the
    forward is ``F.conv2d``, i.e. ``minidl.ops.conv`` — the op ``keras.layers.Conv2D`` runs
    — with ``data_format="channels_first"`` and ``kernel_layout="torch"``. Initialised as
    PyTorch: weight and bias uniform in ±1/√fan_in, fan_in = in_channels/groups · kh · kw.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: an int or ``(kh, kw)``.
        stride, padding, dilation: an int or a pair each (``padding`` symmetric zeros;
            ``"valid"`` means 0).
        groups: channel groups (``in_channels`` for a depthwise convolution).
        bias: learn a bias per output channel.

    Raises:
        ValueError: channels not divisible by ``groups``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels})"
                             f" must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError("Conv2d supports padding_mode='zeros' only")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation, self.groups = _pair(dilation), groups
        self.weight = Parameter(_torch.empty(out_channels, in_channels // groups,
                                             *self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(_torch.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """Max over ``kernel_size`` windows (stride = kernel_size by default); floors the
    output size unless ``ceil_mode``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input):  # noqa: A002
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over ``kernel_size`` windows (zero padding counted, PyTorch's default)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):  # noqa: A002
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (``(1, 1)`` is global average pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):  # noqa: A002
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
