"""``Linear`` and ``Identity``."""

from minidl.torch import _functions as _torch
from minidl.torch.nn import functional as F
from minidl.torch.nn import init
from minidl.torch.nn.modules.module import Module
from minidl.torch.nn.parameter import Parameter


def _check_features(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


class Identity(Module):
    """Returns its input (a placeholder, e.g. to remove a layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):  # noqa: A002
        return input


class Linear(Module):
    """y = x · Wᵀ + b, with ``weight`` of shape ``(out_features, in_features)``.

    Its forward is ``F.linear``: the same fused op as ``keras.layers.Dense``, given the
    transposed weight as a view. Initialised as PyTorch: weight and bias uniform in
    ±1/√in_features (``kaiming_uniform_(a=√5)``).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        dtype: the parameters' dtype (float32 by default).

    >>> import minidl.torch as torch
    >>> fc = torch.nn.Linear(784, 128)
    >>> tuple(fc.weight.shape), tuple(fc(torch.zeros(2, 784)).shape)
    ((128, 784), (2, 128))
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = _check_features(in_features, "in_features")
        self.out_features = _check_features(out_features, "out_features")
        self.weight = Parameter(_torch.empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(_torch.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
