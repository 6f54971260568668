"""The PyTorch face of minidl: ``import minidl.torch as torch`` runs PyTorch-style programs.

A thin face over the same engine and ops as the Keras face (``import minidl as keras``):
tensors with PyTorch's conventions (``Tensor``), ``nn`` modules that call the same ops as the
Keras layers, ``optim`` with PyTorch's update rules, ``utils.data`` and ``save``/``load`` of
state dicts in minidl's safe format.

>>> import minidl.torch as torch
>>> x = torch.ones(2, 3, requires_grad=True)
>>> (x * 2).sum().backward()
>>> x.grad
array([[2., 2., 2.],
       [2., 2., 2.]], dtype=float32)
"""

from minidl import threads as _threads
from minidl.array_backend import get_backend as _get_backend
from minidl.tensor import enable_grad, is_grad_enabled, no_grad
from minidl.torch._dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from minidl.torch._functions import (
    abs,
    add,
    allclose,
    amax,
    amin,
    arange,
    argmax,
    argmin,
    as_tensor,
    cat,
    clamp,
    clip,
    clone,
    concat,
    concatenate,
    div,
    empty,
    empty_like,
    equal,
    exp,
    eye,
    flatten,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    log,
    log_softmax,
    max,
    mean,
    min,
    mul,
    neg,
    numel,
    ones,
    ones_like,
    permute,
    pow,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    t,
    tanh,
    tensor,
    transpose,
    unsqueeze,
    var,
    where,
    zeros,
    zeros_like,
)
from minidl.torch._random import initial_seed, manual_seed
from minidl.torch._tensor import Tensor, matmul, maximum, minimum, mm
from minidl.torch.serialization import load, save

FloatTensor = LongTensor = Tensor  # the names older code checks with isinstance


def device(name="cpu"):
    """A device name as PyTorch code writes it (``torch.device("cpu")``); minidl uses the
    string itself."""
    return str(name)


def set_num_threads(n):
    """Use ``n`` threads for the matrix products (BLAS) from now on, as PyTorch's
    ``torch.set_num_threads``; it is then the user's choice, which ``fit`` does not change.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    _threads.set_process_threads(n)


def get_num_threads():
    """The number of threads the matrix products (BLAS) use now."""
    return _threads.current()


class set_grad_enabled:
    """Context manager: record the graph (``True``) or not (``False``), as PyTorch."""

    def __init__(self, mode):
        self._context = enable_grad() if mode else no_grad()

    def __enter__(self):
        self._context.__enter__()

    def __exit__(self, *exc):
        self._context.__exit__(*exc)


class inference_mode(no_grad):
    """``no_grad`` under PyTorch's newer name."""

    def __init__(self, mode=True):
        pass


class cuda:
    """``torch.cuda.is_available()``: True when minidl's GPU backend (CuPy) works here."""

    @staticmethod
    def is_available():
        try:
            _get_backend("gpu")
        except Exception:  # noqa: BLE001 - any failure means "no GPU" here
            return False
        return True

    @staticmethod
    def manual_seed(seed):
        manual_seed(seed)

    manual_seed_all = manual_seed


# The sub-packages, reachable as attributes after `import minidl.torch as torch`, as in
# PyTorch. `optim` is built separately: the face imports without it.
from minidl.torch import nn, utils  # noqa: E402

try:
    from minidl.torch import optim  # noqa: E402
except ImportError:  # pragma: no cover - only while minidl.torch.optim does not exist yet
    optim = None

__all__ = [
    "Tensor", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "eye",
    "arange", "linspace", "rand", "randn", "randint", "randperm", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "randint_like", "cat", "concat",
    "concatenate", "stack", "where", "matmul", "mm", "mul", "add", "sub", "div", "pow",
    "maximum", "minimum", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clamp",
    "clip", "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "flatten", "reshape", "transpose", "permute", "squeeze", "unsqueeze", "t", "softmax",
    "log_softmax", "neg", "clone", "allclose", "equal", "is_tensor", "numel", "no_grad",
    "enable_grad", "is_grad_enabled", "set_grad_enabled", "inference_mode", "manual_seed",
    "initial_seed", "save", "load", "device", "cuda", "set_num_threads", "get_num_threads",
    "float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "float", "double", "half", "long", "int", "short", "get_default_dtype",
    "set_default_dtype", "nn", "optim", "utils",
]  # fmt: skip
