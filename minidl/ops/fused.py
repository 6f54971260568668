"""Fused ops: one graph node and one pass over memory where the composed ops make several.

They exist only for speed (``benchmarks/`` shows the gain) and are tested against the
composition of primitive ops they replace (``tests/test_fused.py``):

- ``Dense``: ``act(x @ W + b)`` — the matrix product stays on BLAS; for ReLU, adding the
  bias and applying the activation is one Numba pass, and so is the backward mask.
- ``SparseSoftmaxCrossEntropy``: mean cross-entropy of softmax(logits) against integer
  labels, forward and backward each one Numba pass over the logits.

Every kernel is written as a plain Python loop (the undecorated function is kept as
``kernel.py_func``), and every op keeps the plain ``xp`` code path that runs on CuPy and when
the JIT is off. Kernels run only on C-contiguous NumPy arrays; anything else takes the ``xp``
path.
"""

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module
from minidl.jit import kernel
from minidl.tensor import Op
from minidl.threads import note_product

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")

# ---------------------------------------------------------------------------------------
# Kernels (plain loops; compiled by Numba on first use)
# ---------------------------------------------------------------------------------------


@kernel
def bias_relu_kernel(z, b, zero):
    """In place: z[i, j] = max(z[i, j] + b[j], 0). NaN passes through, as in np.maximum.

    ``zero`` is 0 in z's dtype: a Python 0.0 would make the loop float64.
    """
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            v = z[i, j] + b[j]
            z[i, j] = zero if v <= zero else v


@kernel
def relu_backward_kernel(g, out, dz, zero):
    """dz = g where out > 0, else 0 (ReLU'(0) = 0, as torch)."""
    n, m = g.shape
    for i in range(n):
        for j in range(m):
            dz[i, j] = g[i, j] if out[i, j] > zero else zero


@kernel
def sparse_softmax_xent_kernel(logits, labels, probs):
    """probs = softmax(logits) row by row; returns the summed -log p[label] (stable).

    NOTE: its softmax loop repeats ``nn.softmax_rows_kernel`` on purpose: Numba's cache
    tracks only the kernel's own file, so kernels never call kernels from other modules.
    """
    n, c = logits.shape
    total = 0.0
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, c):
            if logits[i, j] > m:
                m = logits[i, j]
        s = 0.0
        for j in range(c):
            e = np.exp(logits[i, j] - m)
            probs[i, j] = e
            s += e
        for j in range(c):
            probs[i, j] = probs[i, j] / s
        # -log p[label] = log Σ exp(z - m) - (z[label] - m)
        total += np.log(s) - (logits[i, labels[i]] - m)
    return total


@kernel
def sparse_softmax_xent_backward_kernel(probs, labels, scale, dz):
    """dz = (probs - onehot(labels)) · scale."""
    n, c = probs.shape
    for i in range(n):
        for j in range(c):
            dz[i, j] = probs[i, j] * scale
        dz[i, labels[i]] -= scale


def _use_kernels(*arrays):
    """Kernels take C-contiguous NumPy arrays of one float dtype, when the JIT is on."""
    if not config.JIT_ENABLED:
        return False
    dtype = arrays[0].dtype
    return all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == dtype
               for a in arrays)


# ---------------------------------------------------------------------------------------
# The plain xp twins (the readable reference; what runs on CuPy)
# ---------------------------------------------------------------------------------------


def bias_activation_xp(z, b, activation):
    """act(z + b) with whole-array xp operations."""
    from minidl.ops.elementwise import stable_sigmoid

    xp = get_array_module(z)
    v = z + b
    if activation == "relu":
        return xp.maximum(v, 0)
    if activation == "sigmoid":
        return stable_sigmoid(v)
    if activation == "tanh":
        return xp.tanh(v)
    return v


def activation_backward_xp(g, out, activation):
    """g · act'(z), from the activation's output."""
    if activation == "relu":  # where, not g * mask: an infinite g must not become NaN
        return get_array_module(g).where(out > 0, g, 0)
    if activation == "sigmoid":
        return g * (out * (1 - out))
    if activation == "tanh":
        return g * (1 - out * out)
    return g


def sparse_softmax_xent_xp(logits, labels):
    """(softmax(logits), per-row -log softmax[label]) with whole-array xp operations:
    the same arithmetic as ``sparse_softmax_xent_kernel``."""
    xp = get_array_module(logits)
    rows = xp.arange(logits.shape[0])
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = xp.exp(shifted)
    s = e.sum(axis=-1)
    return e / s[:, None], xp.log(s) - shifted[rows, labels]


# ---------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------


class Dense(Op):
    """out = act(x @ W + b) for 2-D x, act in {linear, relu, sigmoid, tanh}.

    With z = x @ W + b and dz = g · act'(z) (computed from ``out``):
        dx = dz @ Wᵀ,   dW = xᵀ @ dz,   db = Σ_rows dz.
    ``b`` may be None (no bias).
    """

    def __init__(self, activation="linear"):
        self.activation = activation

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        note_product(x.shape[-2] if x.ndim > 1 else 1, w.shape[0], w.shape[1])
        z = xp.matmul(x, w)
        if b is not None and self.activation == "relu" and _use_kernels(z, b):
            bias_relu_kernel(z, b, z.dtype.type(0))
            out = z
        else:
            out = bias_activation_xp(z, 0 if b is None else b, self.activation)
        self.x, self.w, self.out = x, w, out
        return out

    def backward(self, g):
        if self.activation == "relu" and _use_kernels(g, self.out):
            dz = np.empty_like(g)
            relu_backward_kernel(g, self.out, dz, g.dtype.type(0))
        else:
            dz = activation_backward_xp(g, self.out, self.activation)
        needs = self.needs_grad
        dx = dz @ self.w.T if needs[0] else None
        dw = None
        if needs[1]:
            if self.w.flags.f_contiguous and not self.w.flags.c_contiguous:
                # W is a transposed view (PyTorch's (out, in) weight, seen as (in, out)):
                # dW = (dzᵀ x)ᵀ has W's layout, so transposed back it is row-major and the
                # weight's gradient needs no strided copy.
                dw = (dz.T @ self.x).T
            else:
                dw = self.x.T @ dz
        db = dz.sum(axis=0) if len(needs) > 2 and needs[2] else None
        return dx, dw, db


class SparseSoftmaxCrossEntropy(Op):
    """Mean over rows of -log softmax(logits)[label], for 2-D logits and integer labels.

    d/d logits = (softmax(logits) - onehot(labels)) / N. Same result as
    ``nn.SoftmaxCrossEntropy`` (the readable version); labels must be in [0, C) — the
    caller (the loss) has checked them.
    """

    folds = "softmax"  # the softmax it takes from the logits (shown by utils.plot_graph)

    def forward(self, logits, labels):
        n = logits.shape[0]
        self.labels, self.n = labels, n
        if n and _use_kernels(logits) and labels.dtype == np.int64:
            self.probs = np.empty_like(logits)
            total = sparse_softmax_xent_kernel(logits, labels, self.probs)
            return np.asarray(total / n, dtype=logits.dtype)
        with np.errstate(under="ignore"):  # e^-1e4 = 0 is intended (underflow_is_fine)
            self.probs, losses = sparse_softmax_xent_xp(logits, labels)
        return losses.mean() if n else losses.sum()

    def backward(self, g):
        scale = g / self.n
        probs, labels = self.probs, self.labels
        if _use_kernels(probs) and labels.dtype == np.int64:
            dz = np.empty_like(probs)
            sparse_softmax_xent_backward_kernel(probs, labels, probs.dtype.type(scale), dz)
            return dz, None
        xp = get_array_module(probs)
        with np.errstate(under="ignore"):
            dz = probs * scale
        dz[xp.arange(self.n), labels] -= scale
        return dz, None


# ---- functional forms -----------------------------------------------------------------


def dense(x, w, b=None, activation="linear"):
    """act(x @ w + b) as one op (2-D x; activation linear, relu, sigmoid or tanh)."""
    if b is None:
        return Dense.apply(x, w, activation=activation)
    return Dense.apply(x, w, b, activation=activation)


def sparse_softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) against integer labels (already range-checked)."""
    from minidl.tensor import Tensor

    labels = labels.data if isinstance(labels, Tensor) else labels
    return SparseSoftmaxCrossEntropy.apply(logits, Tensor(labels))
