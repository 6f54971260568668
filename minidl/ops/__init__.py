"""The op library, and its functional forms (``minidl.ops.relu(x)``, like ``keras.ops``).

Each op is a class with ``forward`` and ``backward`` side by side (see ``minidl.tensor.Op``);
the lowercase functions here are thin wrappers that apply them.
"""

from minidl.ops.conv import (
    avg_pool,
    conv,
    conv_transpose,
    depthwise_conv,
    global_avg_pool,
    global_max_pool,
    max_pool,
)
from minidl.ops.elementwise import (
    abs,
    clip,
    elu,
    erf,
    exp,
    gelu,
    leaky_relu,
    log,
    maximum,
    minimum,
    relu,
    sigmoid,
    softplus,
    sqrt,
    tanh,
    where,
)
from minidl.ops.linalg import matmul
from minidl.ops.nn import (
    dropout,
    embedding,
    log_softmax,
    sigmoid_binary_cross_entropy,
    softmax,
    softmax_cross_entropy,
)
from minidl.ops.norm import batch_norm
from minidl.ops.reduce import logsumexp, max, mean, min, sum, var
from minidl.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    pad,
    reshape,
    squeeze,
    stack,
    transpose,
)

__all__ = [
    "abs", "clip", "elu", "erf", "exp", "gelu", "leaky_relu", "log", "maximum", "minimum",
    "relu", "sigmoid", "softplus", "sqrt", "tanh", "where", "matmul", "dropout", "log_softmax",
    "sigmoid_binary_cross_entropy", "softmax", "softmax_cross_entropy", "logsumexp", "max",
    "mean", "min", "sum", "var", "broadcast_to", "concatenate", "expand_dims", "flatten",
    "reshape", "squeeze", "stack", "transpose",
    "avg_pool", "conv", "conv_transpose", "depthwise_conv", "global_avg_pool",
    "global_max_pool", "max_pool", "batch_norm", "embedding", "pad",
]  # fmt: skip
