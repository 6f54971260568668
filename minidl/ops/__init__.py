"""The op library, and its functional forms: this package is ``keras.ops``.

Each op is a class with ``forward`` and ``backward`` side by side (see ``minidl.tensor.Op``),
in ``elementwise``, ``reduce``, ``reshaping``, ``linalg``, ``nn`` and ``fused``. The lowercase
functions here are thin wrappers that apply them: Keras 3's ``keras.ops`` names and
signatures (``numpy.py`` for the NumPy-like ones, ``nn_api.py`` for ``relu``, ``softmax``,
``one_hot``, ...), plus minidl's own (``softmax_cross_entropy``, ``flatten``, ``var(ddof=)``).

    >>> import minidl as keras
    >>> keras.ops.square(keras.ops.convert_to_tensor([1.0, -2.0]))
    Tensor([1., 4.], dtype=float32)
"""

# minidl's own functional forms (Keras has no such names, or ours is a superset: var's ddof),
# and convolution, pooling, normalization and embedding (minidl's signatures: see ops/conv.py).
from minidl.ops.conv import (
    avg_pool,
    conv,
    conv_transpose,
    depthwise_conv,
    global_avg_pool,
    global_max_pool,
    max_pool,
)
from minidl.ops.elementwise import erf
from minidl.ops.nn import (
    dropout,
    embedding,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

# Keras 3's keras.ops names, signatures and defaults.
from minidl.ops.nn_api import (
    batch_normalization,
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    one_hot,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    swish,
)
from minidl.ops.norm import batch_norm
from minidl.ops.numpy import (
    abs,
    absolute,
    add,
    all,
    amax,
    amin,
    any,
    arange,
    argmax,
    argmin,
    broadcast_to,
    cast,
    ceil,
    clip,
    concatenate,
    convert_to_numpy,
    convert_to_tensor,
    divide,
    dot,
    equal,
    exp,
    expand_dims,
    eye,
    floor,
    full,
    full_like,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    ndim,
    negative,
    not_equal,
    ones,
    ones_like,
    power,
    ravel,
    reshape,
    round,
    shape,
    sign,
    size,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    tanh,
    transpose,
    true_divide,
    where,
    zeros,
    zeros_like,
)
from minidl.ops.reduce import var
from minidl.ops.reshaping import flatten, pad

__all__ = [
    "abs", "absolute", "add", "all", "amax", "amin", "any", "arange", "argmax", "argmin",
    "broadcast_to", "cast", "ceil", "clip", "concatenate", "convert_to_numpy", "convert_to_tensor",
    "divide", "dot", "dropout", "elu", "equal", "erf", "exp", "expand_dims", "eye", "flatten",
    "floor", "full", "full_like", "gelu", "greater", "greater_equal", "leaky_relu", "less",
    "less_equal", "log", "log_softmax", "logical_and", "logical_not", "logical_or", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "ndim", "negative",
    "not_equal", "one_hot", "ones", "ones_like", "power", "ravel", "relu", "reshape", "round",
    "shape", "sigmoid", "sigmoid_binary_cross_entropy", "sign", "silu", "size", "softmax",
    "softmax_cross_entropy", "softplus", "sqrt", "square", "squeeze", "stack", "std", "subtract",
    "sum", "swish", "tanh", "transpose", "true_divide", "var", "where", "zeros", "zeros_like",
    "avg_pool", "conv", "conv_transpose", "depthwise_conv", "global_avg_pool",
    "global_max_pool", "max_pool", "batch_norm", "embedding", "pad", "average_pool",
    "batch_normalization",
]  # fmt: skip

# Keras's name for the average pooling of ops/conv.py (same arguments).
average_pool = avg_pool
