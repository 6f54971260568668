"""``torch.nn.functional``: the operations of the modules, as functions.

Every function here converts PyTorch's arguments and calls an op of ``minidl/ops`` — the
same ops the Keras face's layers call. ``linear`` is ``minidl.ops.fused.Dense`` (what
``keras.layers.Dense`` runs) with the ``(out, in)`` weight handed over as a transposed view;
``conv2d`` and the pools are ``minidl.ops.conv`` with ``data_format="channels_first"`` and
``kernel_layout="torch"``; the losses follow PyTorch's reductions and options but their
math is the engine's (the common cross-entropy case is the same fused kernel as Keras's
``SparseCategoricalCrossentropy``).
"""

import math
import warnings

import numpy as np

from minidl.ops import elementwise as _ew
from minidl.ops import fused as _fused
from minidl.ops import nn as _nn
from minidl.ops import reshaping as _shape
from minidl.ops.conv import AvgPool, MaxPool
from minidl.ops.conv import conv as conv_op
from minidl.ops.norm import batch_norm as batch_norm_op
from minidl.torch import _random
from minidl.torch._tensor import (
    Tensor,
    TorchIndexError,
    TorchShapeError,
    _cast,
    _to_tensor,
)

_REDUCTIONS = ("mean", "sum", "none")

# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------


def relu(input, inplace=False):  # noqa: A002 - PyTorch's argument names
    """max(x, 0) (ReLU'(0) = 0, as PyTorch)."""
    input = _to_tensor(input)
    if inplace:
        return input._inplace("relu_", lambda t: _ew.ReLU.apply(t))
    return _ew.ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    """x if x > 0 else negative_slope · x."""
    input = _to_tensor(input)
    if inplace:
        return input._inplace("leaky_relu_",
                              lambda t: _ew.LeakyReLU.apply(t, negative_slope=negative_slope))
    return _ew.LeakyReLU.apply(input, negative_slope=negative_slope)


def sigmoid(input):  # noqa: A002
    return _ew.Sigmoid.apply(_to_tensor(input))


def tanh(input):  # noqa: A002
    return _ew.Tanh.apply(_to_tensor(input))


def gelu(input, approximate="none"):  # noqa: A002
    return _ew.gelu(_to_tensor(input), approximate=approximate == "tanh")


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    return _ew.elu(_to_tensor(input), alpha)


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    if beta != 1.0:
        return _ew.softplus(_to_tensor(input) * beta) / beta
    return _ew.softplus(_to_tensor(input))


def _softmax_dim(x, dim):
    if dim is None:  # PyTorch's legacy choice, with its warning
        warnings.warn("Implicit dimension choice for softmax has been deprecated. Change "
                      "the call to include dim=X as an argument.", UserWarning, stacklevel=3)
        return 0 if x.dim() in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, dtype=None):  # noqa: A002
    """exp(x) / Σ exp(x) along ``dim``."""
    x = _to_tensor(input)
    x = x if dtype is None else _cast(x, np.dtype(dtype))
    return _nn.Softmax.apply(x, axis=_softmax_dim(x, dim))


def log_softmax(input, dim=None, dtype=None):  # noqa: A002
    """log softmax(x) along ``dim`` (stable: a log-sum-exp)."""
    x = _to_tensor(input)
    x = x if dtype is None else _cast(x, np.dtype(dtype))
    return _nn.LogSoftmax.apply(x, axis=_softmax_dim(x, dim))


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1/(1 - p); the identity when ``training`` is False. Masks come from minidl's stream."""
    if not 0 <= p <= 1 or p != p:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _to_tensor(input)
    if not training or p == 0:
        return x
    return _nn.Dropout.apply(x, rate=p, generator=_random.generator())


# ---------------------------------------------------------------------------------------
# Linear layers and convolutions
# ---------------------------------------------------------------------------------------


def linear(input, weight, bias=None):  # noqa: A002
    """x · Wᵀ + b, with W of shape ``(out_features, in_features)`` (PyTorch's layout).

    The op is ``minidl.ops.fused.Dense`` — the one ``keras.layers.Dense`` runs — given
    ``Wᵀ`` as a transposed view (no copy; BLAS reads it transposed).

    Raises:
        RuntimeError: the input's last dimension is not ``in_features``, or the dtypes of
            input and weight differ.
    """
    x = _to_tensor(input)
    if x.data.ndim == 0 or x.shape[-1] != weight.shape[1]:
        rows = math.prod(x.shape[:-1]) if x.data.ndim else 1
        cols = x.shape[-1] if x.data.ndim else 1
        raise TorchShapeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and "
            f"{weight.shape[1]}x{weight.shape[0]}): the input's last dimension is {cols}, "
            f"the layer expects in_features={weight.shape[1]}"
        )
    if x.data.dtype != weight.data.dtype:
        raise TorchShapeError(
            f"mat1 and mat2 must have the same dtype, but got {x.dtype} and {weight.dtype}: "
            f"convert the input with .to({'torch.' + str(weight.dtype)}) (or the model "
            "with .to(...))"
        )
    w_t = _shape.Transpose.apply(weight, axes=None)  # (in, out): a view of W
    if x.data.ndim == 2:
        if bias is None:
            return _fused.Dense.apply(x, w_t)
        return _fused.Dense.apply(x, w_t, bias)
    out = x @ w_t  # 1-D or batched inputs: the plain matmul op
    return out if bias is None else out + bias


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value), int(value))


def _nchw(y):
    """``y`` in row-major NCHW memory, as PyTorch returns it.

    The shared conv and pooling ops compute channels-last and hand back an NCHW *view*;
    PyTorch code then calls ``view(-1, C·H·W)``, which needs NCHW memory (PyTorch's
    outputs always have it). One copy, still in the graph (``Copy``: dx = g).
    """
    return y if y.data.flags.c_contiguous else _shape.Copy.apply(y)


def _check_4d(x, name):
    if x.data.ndim != 4:
        raise TorchShapeError(f"{name}: expected a 4-D input (batch, channels, height, "
                              f"width), got shape {tuple(x.shape)}; add a batch dimension "
                              "with x.unsqueeze(0) if this is one image")


def _padding_pairs(padding, name):
    if isinstance(padding, str):
        raise ValueError(f"{name}: padding={padding!r} is not supported here; give ints")
    return tuple((p, p) for p in _pair(padding, "padding"))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D cross-correlation of an NCHW input with a ``(out, in/groups, kh, kw)`` weight.

    The op is ``minidl.ops.conv`` (what ``keras.layers.Conv2D`` runs), in channels-first
    layout with PyTorch's kernel layout: the same windows, seen through other strides.

    Raises:
        RuntimeError: the input is not 4-D, or its channels do not match the weight.
    """
    x = _to_tensor(input)
    _check_4d(x, "conv2d")
    if x.shape[1] != weight.shape[1] * groups:
        raise TorchShapeError(
            f"conv2d: weight of size {list(weight.shape)} (groups={groups}) expected input "
            f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    if x.data.dtype != weight.data.dtype:
        raise TorchShapeError(f"conv2d: input dtype {x.dtype} and weight dtype "
                              f"{weight.dtype} should be the same")
    padding = "valid" if padding == "valid" else _padding_pairs(padding, "conv2d")
    try:
        return _nchw(conv_op(x, weight, strides=_pair(stride, "stride"), padding=padding,
                             dilation_rate=_pair(dilation, "dilation"), bias=bias,
                             groups=groups, data_format="channels_first",
                             kernel_layout="torch"))
    except TorchShapeError:
        raise
    except ValueError as exc:  # ShapeError: e.g. a kernel larger than the padded input
        raise TorchShapeError(f"conv2d: {exc}") from None


def _pool_padding(x, kernel, stride, padding, dilation, ceil_mode):
    """Explicit (before, after) padding per spatial axis, extended at the end for PyTorch's
    ``ceil_mode`` (a last, partial window, which must start inside the input or the left
    padding)."""
    pads = []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        if p > k // 2:
            raise ValueError(f"pad should be at most half of effective kernel size, but got "
                             f"pad={p}, kernel_size={k}")
        extra = 0
        if ceil_mode:
            span = n + 2 * p - d * (k - 1) - 1
            out = -(-span // s) + 1
            if (out - 1) * s >= n + p:
                out -= 1
            extra = max((out - 1) * s + d * (k - 1) + 1 - (n + 2 * p), 0)
        pads.append((p, p + extra))
    return tuple(pads)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode=False, return_indices=False):
    """Max over each ``kernel_size`` window (NCHW). The output floors (5×5 by 2 → 2×2)
    unless ``ceil_mode``; the gradient goes to the first maximum of each window."""
    if return_indices:
        raise NotImplementedError("max_pool2d(return_indices=True) is not supported")
    x = _to_tensor(input)
    _check_4d(x, "max_pool2d")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    if _pair(dilation, "dilation") != (1, 1):
        raise NotImplementedError("max_pool2d with dilation > 1 is not supported")
    pads = _pool_padding(x, kernel, stride, _pair(padding, "padding"), (1, 1), ceil_mode)
    return _nchw(MaxPool.apply(x, pool_size=kernel, strides=stride, padding=pads,
                               data_format="channels_first"))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """Mean over each window (NCHW); zero padding counts in the mean
    (``count_include_pad=True``, PyTorch's default)."""
    if ceil_mode or not count_include_pad or divisor_override is not None:
        raise NotImplementedError("avg_pool2d supports ceil_mode=False, "
                                  "count_include_pad=True and no divisor_override")
    x = _to_tensor(input)
    _check_4d(x, "avg_pool2d")
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    pads = _pool_padding(x, kernel, stride, _pair(padding, "padding"), (1, 1), False)
    return _nchw(AvgPool.apply(x, pool_size=kernel, strides=stride, padding=pads,
                               data_format="channels_first"))


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average pooling to a given output size: window i of an axis of size n spans
    [floor(i·n/out), ceil((i+1)·n/out)), as PyTorch."""
    x = _to_tensor(input)
    _check_4d(x, "adaptive_avg_pool2d")
    h, w = x.shape[2:]
    oh, ow = _pair(output_size, "output_size") if output_size is not None else (h, w)
    oh, ow = oh or h, ow or w
    if (oh, ow) == (1, 1):
        return x.mean(dim=(2, 3), keepdim=True)
    if h % oh == 0 and w % ow == 0:  # equal windows: one average pool
        return avg_pool2d(x, (h // oh, w // ow))
    rows = []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        cells = []
        for j in range(ow):
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            cells.append(x[:, :, r0:r1, c0:c1].mean(dim=(2, 3)))
        rows.append(_shape.Stack.apply(*cells, axis=-1))
    return _shape.Stack.apply(*rows, axis=-2)


def flatten(input, start_dim=0, end_dim=-1):  # noqa: A002
    return _to_tensor(input).flatten(start_dim, end_dim)


# ---------------------------------------------------------------------------------------
# Normalisation and embeddings
# ---------------------------------------------------------------------------------------


def batch_norm(input, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training=False, momentum=0.1, eps=1e-5):
    """(x - mean) / √(var + eps) · weight + bias per channel (axis 1).

    The op is ``minidl.ops.norm.batch_norm`` (what ``keras.layers.BatchNormalization``
    runs) on axis 1. In training the batch's statistics are used (the biased variance) and
    the running ones updated in place: r ← (1 - momentum)·r + momentum·batch, with the
    *unbiased* variance for ``running_var`` (PyTorch's rule; Keras uses the biased one).
    In evaluation the running statistics are used.

    Raises:
        ValueError: training on a single value per channel.
    """
    x = _to_tensor(input)
    if x.data.ndim < 2:
        raise TorchShapeError(f"batch_norm: expected at least 2-D input, got shape "
                              f"{tuple(x.shape)}")
    count = x.data.size // x.shape[1]
    if training and count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got "
                         f"input size {tuple(x.shape)}")
    y, mean, var = batch_norm_op(x, weight, bias, running_mean, running_var,
                                    training=training, axis=1, epsilon=eps)
    if training and running_mean is not None:
        m = momentum
        running_mean.data[...] = (1 - m) * running_mean.data + m * mean
        running_var.data[...] = (1 - m) * running_var.data + m * var * (count / (count - 1))
        running_mean._version += 1
        running_var._version += 1
    return y


def embedding(input, weight, padding_idx=None):  # noqa: A002
    """Rows of ``weight`` picked by the integer tensor ``input`` (``minidl.ops.nn.Embedding``:
    a gather; its backward scatter-adds, so a repeated index gets every gradient).

    Raises:
        IndexError: an index outside [0, num_embeddings).
    """
    idx = _to_tensor(input).data
    if idx.dtype.kind not in "iu":
        raise TorchShapeError(f"embedding: expected an integer index tensor, got dtype "
                              f"{idx.dtype}: convert it with .long()")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].reshape(-1)[0]
        raise TorchIndexError(f"index {int(bad)} is out of range for an embedding of "
                              f"{n} rows (valid: 0 to {n - 1})")
    out = _nn.Embedding.apply(weight, Tensor._wrap(idx))  # the op keras.layers.Embedding runs
    if padding_idx is not None:  # that row gets no gradient (and holds zeros)
        keep = (idx != padding_idx % n)[..., None].astype(weight.data.dtype)
        out = out * Tensor._wrap(keep)
    return out


def one_hot(tensor, num_classes=-1):
    """Integer labels as one-hot int64 rows of length ``num_classes`` (max + 1 if -1)."""
    labels = _to_tensor(tensor).data
    if labels.dtype.kind not in "iu":
        raise TorchShapeError("one_hot is only applicable to index tensor (int64)")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise TorchShapeError(f"one_hot: class values must be in [0, {num_classes}), got "
                              f"min {int(labels.min())} and max {int(labels.max())}")
    return Tensor._wrap((labels[..., None] == np.arange(num_classes)).astype(np.int64))


def pad(input, pad, mode="constant", value=0.0):  # noqa: A002
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``
    starting from the last dimension, as PyTorch. Only ``mode="constant"`` with value 0."""
    x = _to_tensor(input)
    if mode != "constant" or value != 0:
        raise NotImplementedError("pad supports mode='constant' with value=0")
    if len(pad) % 2 or len(pad) // 2 > x.data.ndim:
        raise ValueError(f"pad: padding length must be even and at most twice the number of "
                         f"dimensions ({x.data.ndim}), got {tuple(pad)}")
    widths = [(0, 0)] * x.data.ndim
    for i in range(len(pad) // 2):
        widths[x.data.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if any(a < 0 or b < 0 for a, b in widths):
        raise NotImplementedError("pad: negative padding (cropping) is not supported")
    # x[idx] scattered into zeros: composed from GetItem's backward would need a new op;
    # zeros concatenated on each side keep the gradient simple (each side is one slice).
    out = x
    for axis, (before, after) in enumerate(widths):
        parts = []
        if before:
            shape = list(out.shape)
            shape[axis] = before
            parts.append(Tensor._wrap(np.zeros(shape, out.data.dtype)))
        parts.append(out)
        if after:
            shape = list(out.shape)
            shape[axis] = after
            parts.append(Tensor._wrap(np.zeros(shape, out.data.dtype)))
        if len(parts) > 1:
            out = _shape.Concatenate.apply(*parts, axis=axis)
    return out


# ---------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use one of "
                         f"{', '.join(repr(r) for r in _REDUCTIONS)}")


def _reduce_loss(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _classes_last(x):
    """(N, C, d1, ...) → (N·d1·..., C): the class axis last, one row per prediction."""
    if x.data.ndim == 2:
        return x
    perm = (0,) + tuple(range(2, x.data.ndim)) + (1,)
    return _shape.Transpose.apply(x, axes=perm).reshape(-1, x.shape[1])


def _check_class_targets(input, target, name):
    """Shapes of (input, class-index target); returns the flat int64 labels."""
    n_in = input.shape[0]
    if target.data.ndim == 0 or target.shape[0] != n_in:
        raise ValueError(
            f"Expected input batch_size ({n_in}) to match target batch_size "
            f"({target.shape[0] if target.data.ndim else 0}) in {name}"
        )
    if input.data.ndim >= 2 and tuple(target.shape) != (n_in,) + tuple(input.shape[2:]):
        raise TorchShapeError(f"{name}: expected target of shape "
                              f"{(n_in,) + tuple(input.shape[2:])}, got {tuple(target.shape)}")
    return target.data.reshape(-1).astype(np.int64, copy=False)


def _check_labels(labels, classes, ignore_index):
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise TorchIndexError(f"Target {int(labels[bad][0])} is out of bounds: labels must "
                              f"be in [0, {classes}) (or ignore_index={ignore_index})")
    return valid


def _nll_rows(logp, labels, weight, ignore_index, reduction, label_smoothing=0.0):
    """Negative log-likelihood of rows ``logp`` (M, C) at integer ``labels`` (M,), with
    PyTorch's class ``weight``, ``ignore_index`` and ``label_smoothing``. The weighted mean
    divides by the sum of the counted targets' weights."""
    classes = logp.shape[1]
    valid = _check_labels(labels, classes, ignore_index)
    safe = np.where(valid, labels, 0)
    dtype = logp.data.dtype
    w_rows = valid.astype(dtype) if weight is None else \
        (weight.data[safe] * valid).astype(dtype)
    picked = _shape.GetItem.apply(logp, index=(np.arange(len(safe)), safe))
    losses = -(picked * Tensor._wrap(w_rows))
    if label_smoothing:
        w_classes = Tensor._wrap(np.ones(classes, dtype)) if weight is None else weight
        smooth = -(logp * w_classes).sum(dim=1) * Tensor._wrap(valid.astype(dtype))
        eps = label_smoothing
        if reduction == "mean":
            total = w_rows.sum()
            return ((1 - eps) * losses.sum() + eps / classes * smooth.sum()) / total
        losses = (1 - eps) * losses + (eps / classes) * smooth
    if reduction == "mean":
        return losses.sum() / Tensor._wrap(np.asarray(w_rows.sum(), dtype))
    return losses.sum() if reduction == "sum" else losses


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of softmax(input) against class indices or class probabilities.

    Args:
        input: logits (N, C), (C,) or (N, C, d1, ...).
        target: class indices (N,) / (N, d1, ...) (any integer dtype), or probabilities
            of the input's shape (float).
        weight: a weight per class (C,); the mean then divides by the sum of the targets'
            weights.
        ignore_index: targets equal to it count in neither the sum nor the mean.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: ε in [0, 1]: the target becomes (1 - ε)·target + ε/C.

    The common case (2-D logits, integer labels, no weight or smoothing, mean) is the
    fused kernel Keras's ``SparseCategoricalCrossentropy`` uses.

    Raises:
        ValueError: batch sizes differ; an unknown reduction.
        IndexError: a label outside [0, C).
        RuntimeError: float targets whose shape is not the input's.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x, target = _to_tensor(input), _to_tensor(target)
    if x.data.ndim == 1:  # one unbatched sample
        out = cross_entropy(x.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index,
                            None, reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    classes = x.shape[1]
    if target.data.dtype.kind == "f":  # class probabilities
        if target.shape != x.shape:
            raise TorchShapeError(
                f"cross_entropy: float targets are class probabilities and must have the "
                f"input's shape {tuple(x.shape)}, got {tuple(target.shape)}; class indices "
                "must be an integer tensor (use target.long())"
            )
        logp = _classes_last(_nn.LogSoftmax.apply(x, axis=1))
        probs = _classes_last(_cast(target, x.data.dtype))
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / classes
        if weight is not None:
            probs = probs * weight
        losses = -(logp * probs).sum(dim=1)
        if reduction == "none":
            return losses.reshape((x.shape[0],) + tuple(x.shape[2:]))
        return _reduce_loss(losses, reduction)
    labels = _check_class_targets(x, target, "cross_entropy")
    if (x.data.ndim == 2 and weight is None and not label_smoothing and reduction == "mean"
            and labels.size and labels.min() >= 0 and labels.max() < classes
            and not (0 <= ignore_index < classes and (labels == ignore_index).any())):
        # The fused softmax + cross-entropy kernel (Keras's sparse categorical path).
        return _fused.SparseSoftmaxCrossEntropy.apply(x, Tensor._wrap(labels))
    logp = _classes_last(_nn.LogSoftmax.apply(x, axis=1))
    out = _nll_rows(logp, labels, weight, ignore_index, reduction, label_smoothing)
    return out.reshape(target.shape) if reduction == "none" else out


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002
             reduce=None, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``
    (``log_softmax`` then ``nll_loss`` is ``cross_entropy``)."""
    _check_reduction(reduction)
    x, target = _to_tensor(input), _to_tensor(target)
    if x.data.ndim == 1:
        out = nll_loss(x.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index, None,
                       reduction)
        return out.squeeze(0) if reduction == "none" else out
    labels = _check_class_targets(x, target, "nll_loss")
    out = _nll_rows(_classes_last(x), labels, weight, ignore_index, reduction)
    return out.reshape(target.shape) if reduction == "none" else out


def _check_pair(x, target, name):
    if tuple(target.shape) != tuple(x.shape):
        warnings.warn(
            f"Using a target size ({tuple(target.shape)}) that is different to the input "
            f"size ({tuple(x.shape)}) in {name}. This will likely lead to incorrect results "
            "due to broadcasting. Please ensure they have the same size.",
            UserWarning, stacklevel=3,
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """Mean of (input - target)². Shapes that differ broadcast, with PyTorch's warning."""
    _check_reduction(reduction)
    x, target = _to_tensor(input), _to_tensor(target)
    _check_pair(x, target, "mse_loss")
    diff = x - target
    return _reduce_loss(diff * diff, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """Mean of |input - target|."""
    _check_reduction(reduction)
    x, target = _to_tensor(input), _to_tensor(target)
    _check_pair(x, target, "l1_loss")
    return _reduce_loss((x - target).abs(), reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None,  # noqa: A002
                         reduce=None, reduction="mean"):
    """-(y·log p + (1 - y)·log(1 - p)), each log clamped at -100 (PyTorch's rule: a hopeless
    prediction costs 100, not infinity).

    Raises:
        ValueError: the target's shape differs from the input's.
        RuntimeError: an input outside [0, 1].
    """
    _check_reduction(reduction)
    x, target = _to_tensor(input), _to_tensor(target)
    if tuple(target.shape) != tuple(x.shape):
        raise ValueError(f"Using a target size ({tuple(target.shape)}) that is different to "
                         f"the input size ({tuple(x.shape)}) is deprecated. Please ensure "
                         "they have the same size.")
    if x.data.size and (x.data.min() < 0 or x.data.max() > 1):
        raise TorchShapeError("all elements of input should be between 0 and 1 (binary_"
                              "cross_entropy takes probabilities: use binary_cross_entropy_"
                              "with_logits for logits)")
    losses = _nn.ClampedBinaryCrossEntropy.apply(x, _cast(target, x.data.dtype))
    if weight is not None:
        losses = losses * weight
    return _reduce_loss(losses, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,  # noqa: A002
                                     reduce=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of sigmoid(input), stable for any logit.

    With ``pos_weight`` p the positive term is weighted:
    loss = p·y·softplus(-z) + (1 - y)·softplus(z)  (= -p·y·log σ(z) - (1-y)·log(1-σ(z))).

    Raises:
        ValueError: the target's shape differs from the input's.
    """
    _check_reduction(reduction)
    x, target = _to_tensor(input), _to_tensor(target)
    if tuple(target.shape) != tuple(x.shape):
        raise ValueError(f"Target size ({tuple(target.shape)}) must be the same as input "
                         f"size ({tuple(x.shape)})")
    target = _cast(target, x.data.dtype)
    if pos_weight is None:
        losses = _nn.SigmoidBinaryCrossEntropy.apply(x, target)
    else:
        losses = (pos_weight * target * _ew.Softplus.apply(-x)
                  + (1 - target) * _ew.Softplus.apply(x))
    if weight is not None:
        losses = losses * weight
    return _reduce_loss(losses, reduction)


__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "softplus", "softmax",
    "log_softmax", "dropout", "linear", "conv2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "flatten", "batch_norm", "embedding", "one_hot", "pad",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]  # fmt: skip

