"""Neural-network ops: softmax, log-softmax, the fused softmax-cross-entropy, dropout.

The fused cross-entropy exists for numerical stability and speed: computing
``-log(softmax(z))`` in two steps overflows for large logits and makes three passes; the
fused form works from log-softmax (a log-sum-exp) and has the famously simple gradient
``softmax(z) - y``.
"""

import math

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.jit import kernel
from minidl.ops.elementwise import underflow_is_fine
from minidl.tensor import Op, Tensor


def log_softmax_array(z, axis=-1):
    """log softmax(z) = z - m - log Σ exp(z - m), m = max z: finite for logits of ±1e4."""
    xp = get_array_module(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_array(z, axis=-1):
    """softmax(z) = exp(z - m) / Σ exp(z - m), m = max z (so exp never overflows)."""
    xp = get_array_module(z)
    e = xp.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@kernel
def softmax_rows_kernel(z, out):
    """out[i] = softmax(z[i]) for each row of a 2-D array: ``softmax_array`` in one pass
    per row (max, then exp and sum, then divide), with the sum kept in float64."""
    n, c = z.shape
    for i in range(n):
        m = z[i, 0]
        for j in range(1, c):
            if z[i, j] > m:
                m = z[i, j]
        s = 0.0
        for j in range(c):
            e = np.exp(z[i, j] - m)
            out[i, j] = e
            s += e
        for j in range(c):
            out[i, j] = out[i, j] / s


class Softmax(Op):
    """out = softmax(x) along ``axis``.   dx = out · (g - Σ(g · out) along axis).

    The last axis of a 2-D NumPy array (a classifier's output) runs in a Numba kernel;
    everything else in ``softmax_array``.
    """

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        if (config.JIT_ENABLED and type(x) is np.ndarray and x.ndim == 2 and x.shape[1]
                and self.axis in (-1, 1) and x.flags.c_contiguous and x.dtype.kind == "f"):
            self.out = np.empty_like(x)
            softmax_rows_kernel(x, self.out)  # compiled code raises no NumPy FP flags
        else:
            with np.errstate(under="ignore"):  # see elementwise.underflow_is_fine
                self.out = softmax_array(x, self.axis)
        return self.out

    @underflow_is_fine
    def backward(self, g):
        y = self.out
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Op):
    """out = log softmax(x) along ``axis``.   dx = g - softmax(x) · Σ g along axis."""

    def __init__(self, axis=-1):
        self.axis = axis

    @underflow_is_fine
    def forward(self, x):
        self.out = log_softmax_array(x, self.axis)
        return self.out

    @underflow_is_fine
    def backward(self, g):
        xp = get_array_module(g)
        return (g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)


class SoftmaxCrossEntropy(Op):
    """Cross-entropy of softmax(logits) against targets, in one stable op.

    logits: (..., C). target: integer class ids (...) or probabilities (..., C) (one-hot or
    soft). With p = softmax(logits) and y the target distribution:

        loss_i = -Σ_c y_ic · log p_ic          (for integer labels: -log p_i,label_i)
        d loss_i / d logits_i = p_i - y_i

    ``reduction="mean"`` returns the mean over samples (so the gradient is (p - y)/N);
    ``"sum"`` the sum; ``"none"`` one loss per sample.
    """

    folds = "softmax"  # the softmax it takes from the logits (shown by utils.plot_graph)

    def __init__(self, reduction="mean"):
        self.reduction = reduction

    @underflow_is_fine
    def forward(self, logits, target):
        xp = get_array_module(logits)
        logp = log_softmax_array(logits, -1)
        self.sparse = target.dtype.kind in "iu"
        if self.sparse:
            if target.shape != logits.shape[:-1]:
                raise ShapeError(
                    f"integer labels must have shape {tuple(logits.shape[:-1])} for logits "
                    f"of shape {tuple(logits.shape)}, got {tuple(target.shape)}"
                )
            classes = logits.shape[-1]
            if target.size and (target.min() < 0 or target.max() >= classes):
                # NOTE: checked because -1 would silently pick the last class.
                bad = int(xp.argmax((target < 0) | (target >= classes)))
                where = tuple(int(i) for i in np.unravel_index(bad, target.shape))
                where = where[0] if len(where) == 1 else where
                raise ValueError(
                    f"label {int(target.reshape(-1)[bad])} at index {where} is outside the "
                    f"valid range [0, {classes}) for logits of shape {tuple(logits.shape)}"
                )
            picked = xp.take_along_axis(logp, target[..., None].astype(xp.intp), axis=-1)
            losses = -picked[..., 0]
        else:
            if target.shape != logits.shape:
                raise ShapeError(
                    f"target probabilities must have the logits' shape {tuple(logits.shape)}, "
                    f"got {tuple(target.shape)}"
                )
            losses = -(target * logp).sum(axis=-1)
        self.logp, self.target = logp, target
        self.count = max(losses.size, 1)
        if self.reduction == "mean":
            return losses.mean() if losses.size else losses.sum()
        if self.reduction == "sum":
            return losses.sum()
        return losses

    @underflow_is_fine
    def backward(self, g):
        xp = get_array_module(g)
        grad = xp.exp(self.logp)  # p = softmax(logits)
        if self.sparse:
            xp.put_along_axis(
                grad,
                self.target[..., None].astype(xp.intp),
                xp.take_along_axis(grad, self.target[..., None].astype(xp.intp), axis=-1) - 1,
                axis=-1,
            )
        else:
            grad = grad - self.target
        if self.reduction == "mean":
            grad *= g / self.count
        elif self.reduction == "sum":
            grad *= g
        else:
            grad *= g[..., None]
        return grad, None


class SigmoidBinaryCrossEntropy(Op):
    """Binary cross-entropy of sigmoid(logits) against targets y in [0, 1], stable.

        loss = max(z, 0) - z·y + log(1 + e^(-|z|))      (= -y log σ(z) - (1-y) log(1-σ(z)))
        d loss / dz = σ(z) - y

    Returned elementwise (same shape as the logits); losses reduce it.
    """

    folds = "sigmoid"  # the sigmoid it takes from the logits (shown by utils.plot_graph)

    @underflow_is_fine
    def forward(self, z, y):
        xp = get_array_module(z)
        self.z, self.y = z, y
        return xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))

    @underflow_is_fine
    def backward(self, g):
        from minidl.ops.elementwise import stable_sigmoid

        dz = g * (stable_sigmoid(self.z) - self.y)
        dy = -g * self.z if self.needs_grad[1] else None
        return dz, dy


def bernoulli_keep(generator, shape, rate):
    """A boolean host array, each element True with probability 1 - rate.

    Each element compares 32 random bits with rate·2³²: the resolution of a float32
    uniform draw (24 bits) and better, at a third of ``generator.random``'s cost, since the
    bits come straight from the bit generator with no conversion to floats.
    """
    size = math.prod(shape)
    bits = generator.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size]
    threshold = np.uint32(min(round(rate * 2.0**32), 2**32 - 1))
    return (bits >= threshold).reshape(shape)


class Dropout(Op):
    """Inverted dropout: out = x · mask / (1 - rate), mask ~ Bernoulli(1 - rate).

    dx = g · mask / (1 - rate). Scaling at training time keeps E[out] = x, so nothing
    changes at inference (where dropout is the identity and this op is not applied).
    The mask comes from ``generator`` (a ``numpy.random.Generator`` from ``minidl.random``).
    """

    def __init__(self, rate, generator, noise_shape=None):
        self.rate, self.generator, self.noise_shape = rate, generator, noise_shape

    def forward(self, x):
        xp = get_array_module(x)
        shape = x.shape if self.noise_shape is None else self.noise_shape
        if self.rate >= 1:
            self.mask = xp.zeros(shape, dtype=x.dtype)  # everything dropped; no 0/0
        else:
            keep = bernoulli_keep(self.generator, shape, self.rate)
            self.mask = xp.asarray(keep, dtype=x.dtype) * x.dtype.type(1 / (1 - self.rate))
        return x * self.mask

    def backward(self, g):
        return (g * self.mask,)


class ClampedBinaryCrossEntropy(Op):
    """Binary cross-entropy of probabilities p against targets y, each log clamped at -100
    (PyTorch's ``BCELoss``: a prediction of exactly 0 or 1 costs at most 100, never inf).

        loss = -(y · max(log p, -100) + (1 - y) · max(log(1 - p), -100))
        d loss / dp = (p - y) / max(p · (1 - p), 1e-12)   (1e-12 rounded to float32, as PyTorch)
        d loss / dy = max(log(1 - p), -100) - max(log p, -100)

    Returned elementwise; the caller reduces. Composing it from Log and Clip would give
    0 · ∞ = NaN in the backward at p = 0 or 1, hence one op with PyTorch's guarded
    gradient.
    """

    @underflow_is_fine
    def forward(self, p, y):
        xp = get_array_module(p)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
            self.log_p = xp.maximum(xp.log(p), -100)
            self.log_q = xp.maximum(xp.log1p(-p), -100)
        self.p, self.y = p, y
        return -(y * self.log_p + (1 - y) * self.log_q)

    def backward(self, g):
        xp = get_array_module(g)
        p = self.p
        dp = g * (p - self.y) / xp.maximum(p * (1 - p), p.dtype.type(np.float32(1e-12)))
        dy = g * (self.log_q - self.log_p) if self.needs_grad[1] else None
        return dp, dy


# ---- functional forms -----------------------------------------------------------------


def softmax(x, axis=-1):
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(x, axis=axis)


def softmax_cross_entropy(logits, target, reduction="mean"):
    """Cross-entropy from logits; ``target`` is integer labels or (one-hot/soft) probabilities."""
    target = target.data if isinstance(target, Tensor) else target
    return SoftmaxCrossEntropy.apply(logits, Tensor(target), reduction=reduction)


def sigmoid_binary_cross_entropy(logits, target):
    """Elementwise binary cross-entropy from logits (stable for any logit)."""
    return SigmoidBinaryCrossEntropy.apply(logits, target)


def dropout(x, rate, training=True, generator=None, noise_shape=None):
    """Inverted dropout (identity when ``training`` is False or ``rate`` is 0)."""
    if not training or rate == 0:
        return x if isinstance(x, Tensor) else Tensor(x)
    if generator is None:
        from minidl.random import generator as make_generator

        generator = make_generator("dropout")
    return Dropout.apply(x, rate=rate, generator=generator, noise_shape=noise_shape)


class Embedding(Op):
    """out[..., :] = weights[indices[...], :]  (a gather of rows).

    d weights = zeros with g's rows added at their indices (a scatter-add: an index used
    twice gets both gradients). The indices get no gradient.
    """

    def forward(self, weights, indices):
        self.indices, self.shape = indices, weights.shape
        return weights[indices]

    def backward(self, g):
        xp = get_array_module(g)
        dw = xp.zeros(self.shape, dtype=g.dtype)
        xp.add.at(dw, self.indices.reshape(-1), g.reshape(-1, self.shape[1]))
        return dw, None


def embedding(indices, weights):
    """Rows of ``weights`` (vocabulary, dim) picked by integer ``indices`` of any shape.

    Returns:
        A Tensor of shape ``indices.shape + (dim,)``.

    Raises:
        DTypeError: the indices are not integers.
        ValueError: an index outside [0, vocabulary) (a negative one would silently pick a
            row from the end).
    """
    from minidl.errors import DTypeError

    indices = indices.data if isinstance(indices, Tensor) else indices
    weights = weights if isinstance(weights, Tensor) else Tensor(weights)
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    vocabulary = weights.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= vocabulary):
        xp = get_array_module(indices)
        bad = int(xp.argmax(((indices < 0) | (indices >= vocabulary)).reshape(-1)))
        where = tuple(int(i) for i in np.unravel_index(bad, indices.shape))
        raise ValueError(f"embedding: index {int(indices.reshape(-1)[bad])} at position "
                         f"{where} is outside the valid range [0, {vocabulary}) of the "
                         f"embedding matrix of shape {tuple(weights.shape)}")
    return Embedding.apply(weights, Tensor(indices))
