"""Loss functions, Keras 3 style: ``model.compile(loss="sparse_categorical_crossentropy")``.

Every loss comes in two forms, as in Keras:

- a **function** ``mean_squared_error(y_true, y_pred)`` that returns one loss per sample
  (it averages over the last axis, so predictions of shape ``(N, D)`` give ``(N,)``);
- a **class** ``MeanSquaredError()`` whose call ``loss(y_true, y_pred, sample_weight=None)``
  reduces those per-sample losses to one scalar ``Tensor`` you can ``backward()`` through.

The default reduction is Keras's ``"sum_over_batch_size"``::

    loss = Σ_i w_i · l_i / N        (w_i = 1 without sample_weight; N = number of losses)

Note that with sample weights Keras still divides by N, not by Σ w_i.

Three Keras conventions shape every loss here:

1. **Rank reconciliation.** Targets of shape ``(N,)`` against predictions ``(N, 1)`` are
   expanded to ``(N, 1)``; they are never broadcast to an ``(N, N)`` matrix (the classic
   silent bug of ``y - y_pred`` in NumPy).
2. **Cross-entropy from logits.** ``softmax`` and ``sigmoid`` (in ``minidl.activations``)
   leave their input on the output as ``y_pred._logits``. A cross-entropy that receives such
   an output computes the loss from the logits with one fused, stable op (log-sum-exp), as
   Keras does with ``_keras_logits``. Otherwise probabilities are clipped to
   ``[ε, 1 - ε]`` with ε = 1e-7, so probabilities of exactly 0 or 1 give a finite loss.
3. **Targets are data.** ``y_true`` may be a NumPy array or a Tensor; it is never
   differentiated and is cast to ``y_pred``'s dtype (integer class ids for the sparse loss
   stay integers).

``get(identifier)`` turns a name, a class, an instance or a plain function into a ``Loss``.
"""

import inspect
import warnings

import numpy as np

from minidl import config
from minidl.array_backend import backend_of, get_array_module
from minidl.errors import DTypeError, ShapeError
from minidl.ops import elementwise as ew
from minidl.ops import fused, nn
from minidl.tensor import Tensor
from minidl.utils.naming import snake_case

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

# ---------------------------------------------------------------------------------------
# Helpers: turning inputs into tensors, Keras's rank reconciliation, the logits path
# ---------------------------------------------------------------------------------------


def _as_prediction(y_pred):
    """``y_pred`` as a Tensor. Floating tensors keep their dtype; anything else is converted
    to ``config.floatx()`` (an integer prediction is meaningless to differentiate)."""
    if isinstance(y_pred, Tensor):
        if y_pred.dtype.kind == "f":
            return y_pred
        return Tensor(y_pred.data.astype(config.floatx()))
    array = _check_numeric(y_pred, "y_pred")
    if array.dtype.kind != "f":
        array = array.astype(config.floatx())
    return Tensor(array)


def _check_numeric(data, name):
    """``data`` as an array, refusing strings, objects and ragged lists with a clear error."""
    if isinstance(data, Tensor):
        return data.data
    if not (hasattr(data, "dtype") and hasattr(data, "shape")):
        try:
            data = np.asarray(data)
        except ValueError as exc:  # ragged nested lists
            raise DTypeError(
                f"{name} must be a numeric array, got a ragged sequence: {exc}"
            ) from None
    if data.dtype.kind not in "biuf":
        raise DTypeError(
            f"{name} must hold numbers (bool, int or float), got dtype {data.dtype}: "
            "convert labels to numbers first (e.g. with a dict or np.unique(..., "
            "return_inverse=True))"
        )
    return data


def _as_target(y_true, y_pred):
    """``y_true`` as a raw array on ``y_pred``'s device, dtype unchanged (never a graph)."""
    array = _check_numeric(y_true, "y_true")
    return backend_of(y_pred.data).asarray(array)


def _target_like(y_true, y_pred):
    """``y_true`` as an array on ``y_pred``'s device, cast to ``y_pred``'s dtype."""
    array = _as_target(y_true, y_pred)
    if array.dtype != y_pred.dtype:
        array = array.astype(y_pred.dtype)
    return array


def _squeeze_last(x):
    """Drop the trailing size-1 axis of an array or Tensor; a Tensor keeps its logits."""
    if not isinstance(x, Tensor):
        return x.reshape(x.shape[:-1])
    out = x.squeeze(-1)
    if x._logits is not None:
        activation, logits = x._logits
        out._logits = (activation, logits.squeeze(-1))
    return out


def _expand_last(x):
    """Add a trailing size-1 axis to an array or Tensor; a Tensor keeps its logits."""
    if not isinstance(x, Tensor):
        return x.reshape(x.shape + (1,))
    out = x.expand_dims(-1)
    if x._logits is not None:
        activation, logits = x._logits
        out._logits = (activation, logits.expand_dims(-1))
    return out


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Make ranks agree when they differ by exactly one trailing size-1 axis (Keras's rule).

    - ``(N,)`` against ``(N, 1)``: the rank-1 one is expanded to ``(N, 1)``.
    - ``(N, T)`` against ``(N, T, 1)``: the size-1 axis is squeezed away.

    Anything else is returned unchanged (shape errors are reported by the caller, which
    knows what it expected). Works on arrays and Tensors.
    """
    rank1, rank2 = len(x1.shape), len(x2.shape)
    if rank1 == rank2 + 1 and x1.shape[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = _expand_last(x2)
        else:
            x1 = _squeeze_last(x1)
    elif rank2 == rank1 + 1 and x2.shape[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = _expand_last(x1)
        else:
            x2 = _squeeze_last(x2)
    return x1, x2


def _reconcile(y_true, y_pred, fn_name):
    """Reconcile ranks, then insist on equal shapes: an elementwise loss between arrays of
    different shapes would broadcast into a silently wrong answer."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            f"{fn_name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of "
            f"shape {tuple(y_pred.shape)}; they must have the same shape (a trailing "
            "axis of size 1 may differ)"
        )
    return y_true, y_pred


def _activation_of(y_pred):
    """``"softmax"``, ``"sigmoid"`` or ``None``: the activation that produced ``y_pred``
    from the logits it carries (``y_pred._logits = (activation, logits)``)."""
    if y_pred._logits is None:
        return None
    activation, logits = y_pred._logits
    if tuple(logits.shape) != tuple(y_pred.shape) or y_pred.size == 0:
        return None
    return activation


def _logits_or_probabilities(y_pred, from_logits, activation, fn_name):
    """Return ``(tensor, from_logits)`` for a cross-entropy, taking Keras's fused path.

    If ``y_pred`` came out of ``activation`` ("softmax" or "sigmoid") and carries its
    logits, the loss is computed from those logits: the same value where the probabilities
    are not saturated, and finite, with a useful gradient, where they are.
    """
    if _activation_of(y_pred) != activation:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(
            f"{fn_name} received from_logits=True, but y_pred is the output of a "
            f"{activation} and so holds probabilities, not logits; using the logits that "
            f"went into the {activation}. Drop the activation or set from_logits=False.",
            stacklevel=4,
        )
    return y_pred._logits[1], True


def _clip_probabilities(p):
    """Clip to [ε, 1 - ε] (ε = 1e-7, Keras's epsilon) so log() stays finite at 0 and 1."""
    eps = config.epsilon()
    return p.clip(eps, 1.0 - eps)


def _move_axis_last(x, axis):
    """Move ``axis`` of a Tensor (or array) to the end, carrying ``_logits`` along."""
    ndim = len(x.shape)
    axis = axis % ndim if ndim else 0
    if axis == ndim - 1:
        return x
    perm = [a for a in range(ndim) if a != axis] + [axis]
    if not isinstance(x, Tensor):
        return get_array_module(x).transpose(x, perm)
    out = x.transpose(perm)
    if x._logits is not None:
        activation, logits = x._logits
        out._logits = (activation, logits.transpose(perm))
    return out


def _check_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int, got axis={axis!r}")


# ---------------------------------------------------------------------------------------
# Per-sample loss functions (one value per sample; the classes reduce them)
# ---------------------------------------------------------------------------------------


def mean_squared_error(y_true, y_pred):
    """Mean squared error per sample: ``mean((y_true - y_pred)², axis=-1)``.

    Args:
        y_true: targets, shape ``(N, ..., D)`` (or ``(N,)`` against ``(N, 1)``).
        y_pred: predictions (a Tensor or an array) of the same shape.

    Returns:
        A Tensor of shape ``(N, ...)``: one loss per sample.

    Raises:
        ShapeError: the shapes differ (beyond a trailing axis of size 1).

    >>> mean_squared_error(np.array([[0.0, 1.0]]), Tensor([[1.0, 1.0]])).tolist()
    [0.5]
    """
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "mean_squared_error")
    diff = y_pred - y_true
    return (diff * diff).mean(axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Mean absolute error per sample: ``mean(|y_true - y_pred|, axis=-1)``.

    The gradient at ``y_pred == y_true`` is 0 (sign(0) = 0), as in PyTorch's ``l1_loss``.
    """
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "mean_absolute_error")
    return (y_pred - y_true).abs().mean(axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 · mean(|y_true - y_pred| / max(|y_true|, ε), axis=-1)`` (ε = 1e-7)."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(
        _target_like(y_true, y_pred), y_pred, "mean_absolute_percentage_error"
    )
    xp = get_array_module(y_true)
    scale = xp.maximum(xp.abs(y_true), y_true.dtype.type(config.epsilon()))
    return ((y_true - y_pred) / scale).abs().mean(axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, ε) + 1) - log(max(y_true, ε) + 1))², axis=-1)``."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(
        _target_like(y_true, y_pred), y_pred, "mean_squared_logarithmic_error"
    )
    xp = get_array_module(y_true)
    eps = config.epsilon()
    log_true = xp.log(xp.maximum(y_true, y_true.dtype.type(eps)) + 1)
    diff = (y_pred.clip(eps, None) + 1.0).log() - log_true
    return (diff * diff).mean(axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss per sample, with e = y_pred - y_true::

        h(e) = ½ e²                  if |e| ≤ delta
               delta·|e| - ½ delta²  otherwise          loss = mean(h(e), axis=-1)

    Quadratic near zero (like MSE), linear for outliers (like MAE); equal to PyTorch's
    ``huber_loss`` with the same ``delta``.
    """
    if not delta > 0:
        raise ValueError(f"huber: delta must be a positive number, got delta={delta!r}")
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "huber")
    error = y_pred - y_true
    abs_error = error.abs()
    quadratic = error * error * 0.5
    linear = abs_error * delta - 0.5 * delta * delta
    return ew.where(abs_error.data <= delta, quadratic, linear).mean(axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed stably as
    ``x + softplus(-2x) - log 2`` (cosh overflows for |x| > 89 in float32)."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "log_cosh")
    x = y_pred - y_true
    return (x + ew.softplus(x * -2.0) - float(np.log(2.0))).mean(axis=-1)


def _hinge_labels(y_true):
    """Keras converts 0/1 labels to -1/+1 for the hinge losses (and leaves ±1 alone)."""
    xp = get_array_module(y_true)
    if bool(xp.all((y_true == 0) | (y_true == 1))):
        return 2 * y_true - 1
    return y_true


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true·y_pred, 0), axis=-1)``; labels in {-1, 1} (or {0, 1})."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "hinge")
    return (1.0 - y_pred * _hinge_labels(y_true)).relu().mean(axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true·y_pred, 0)², axis=-1)``; labels in {-1, 1} (or {0, 1})."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "squared_hinge")
    margin = (1.0 - y_pred * _hinge_labels(y_true)).relu()
    return (margin * margin).mean(axis=-1)


def kl_divergence(y_true, y_pred):
    """``Σ y_true · log(y_true / y_pred)`` over the last axis, both clipped to [ε, 1]."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "kl_divergence")
    xp = get_array_module(y_true)
    t = xp.clip(y_true, config.epsilon(), 1)
    return (Tensor(t * xp.log(t)) - y_pred.clip(config.epsilon(), 1.0).log() * t).sum(axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true · log(y_pred + ε), axis=-1)``."""
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "poisson")
    return (y_pred - (y_pred + config.epsilon()).log() * y_true).mean(axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy, averaged over ``axis`` (one value per sample).

    With p the predicted probability of class 1 and y the target in [0, 1]::

        bce = -(y · log p + (1 - y) · log(1 - p))

    From logits z (``from_logits=True``, or ``y_pred`` straight out of a ``sigmoid``) it is
    computed stably as ``max(z, 0) - z·y + log(1 + e^-|z|)``, finite for any z. From
    probabilities, p is clipped to [1e-7, 1 - 1e-7] first, as in Keras.

    Args:
        y_true: targets in [0, 1], same shape as ``y_pred`` (``(N,)`` against ``(N, 1)``
            is fine).
        y_pred: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; targets become ``y·(1 - ls) + 0.5·ls``.
        axis: the axis to average over.

    Returns:
        A Tensor with ``axis`` reduced: shape ``(N,)`` for predictions ``(N, 1)``.
    """
    _check_axis(axis)
    _check_smoothing(label_smoothing)
    y_pred = _as_prediction(y_pred)
    y_true, y_pred = _reconcile(_target_like(y_true, y_pred), y_pred, "binary_crossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    source, from_logits = _logits_or_probabilities(
        y_pred, from_logits, "sigmoid", "binary_crossentropy"
    )
    if from_logits:
        elementwise = nn.sigmoid_binary_cross_entropy(source, Tensor(y_true))
    else:
        p = _clip_probabilities(source)
        elementwise = -((p.log() * y_true) + ((1.0 - p).log() * (1 - y_true)))
    return elementwise.mean(axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy against one-hot (or soft) targets, one value per sample.

    With p = y_pred normalised to sum to 1 along ``axis``::

        cce = -Σ_c y_c · log p_c

    From logits z it is ``logsumexp(z) - Σ_c y_c z_c``, computed by the fused, stable
    ``ops.softmax_cross_entropy`` (also used when ``y_pred`` is a softmax output that
    carries its logits). From probabilities, p is clipped to [1e-7, 1 - 1e-7], as in Keras.

    Args:
        y_true: one-hot targets of the same shape as ``y_pred``.
        y_pred: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]; targets become ``y·(1 - ls) + ls / C`` (C classes) —
            the same as PyTorch's ``cross_entropy(label_smoothing=ls)``.
        axis: the class axis.

    Raises:
        ShapeError: the targets' shape differs from the predictions' (e.g. integer labels,
            or one-hot targets with another number of classes).
    """
    _check_axis(axis)
    _check_smoothing(label_smoothing)
    y_pred = _as_prediction(y_pred)
    y_true = _target_like(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(_one_hot_mismatch(y_true.shape, y_pred.shape, axis))
    y_true = _move_axis_last(y_true, axis)
    y_pred = _move_axis_last(y_pred, axis)
    if label_smoothing:
        num_classes = y_true.shape[-1]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    source, from_logits = _logits_or_probabilities(
        y_pred, from_logits, "softmax", "categorical_crossentropy"
    )
    if from_logits:
        return nn.softmax_cross_entropy(source, y_true, reduction="none")
    p = _clip_probabilities(source / source.sum(axis=-1, keepdims=True))
    return -(p.log() * y_true).sum(axis=-1)


def _one_hot_mismatch(true_shape, pred_shape, axis):
    true_shape, pred_shape = tuple(true_shape), tuple(pred_shape)
    classes = pred_shape[axis] if pred_shape else 1
    message = (
        f"categorical_crossentropy expects one-hot targets of the predictions' shape "
        f"{pred_shape}, got y_true of shape {true_shape}"
    )
    if len(true_shape) == len(pred_shape) - 1 or (true_shape and true_shape[-1] == 1):
        return message + (
            ": these look like integer class ids; use loss='sparse_categorical_crossentropy'"
            f" or one-hot encode them with keras.utils.to_categorical(y, {classes})"
        )
    if len(true_shape) == len(pred_shape):
        return message + (
            f": the targets have {true_shape[axis]} classes but the model outputs "
            f"{classes}; make the last layer's units equal to the number of classes"
        )
    return message


def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits=False, ignore_class=None, axis=-1
):
    """Categorical cross-entropy against integer class ids, one value per sample.

    For labels k_i and predicted probabilities p_i: ``loss_i = -log p_i[k_i]``. From logits
    (or a softmax output carrying its logits) the fused ``ops.softmax_cross_entropy`` is
    used; from probabilities, p is normalised and clipped to [1e-7, 1 - 1e-7] as in Keras.

    Args:
        y_true: class ids of shape ``(N,)`` or ``(N, 1)`` for predictions ``(N, C)``. Float
            arrays of whole numbers (``2.0``) are accepted, as Keras does.
        y_pred: probabilities ``(N, C)``, or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label value (e.g. -1 or 255) whose samples get loss 0 and are left
            out of the mean by the ``SparseCategoricalCrossentropy`` class.
        axis: the class axis.

    Raises:
        ShapeError: the labels' shape does not fit the predictions (e.g. one-hot labels).
        DTypeError: the labels are not whole numbers.
        ValueError: a label is outside ``[0, C)``.
    """
    losses, _ = _sparse_categorical_crossentropy(y_true, y_pred, from_logits, ignore_class, axis)
    return losses


def _sparse_categorical_crossentropy(
    y_true, y_pred, from_logits, ignore_class, axis, mean_only=False
):
    """The sparse cross-entropy and the mask of samples that count (None: all of them).

    With ``mean_only`` the fused op may return the mean directly (one graph node fewer per
    training step) instead of per-sample losses.
    """
    name = "sparse_categorical_crossentropy"
    _check_axis(axis)
    y_pred = _as_prediction(y_pred)
    labels = _as_target(y_true, y_pred)
    if y_pred.ndim == 0:
        raise ShapeError(f"{name} needs predictions with a class axis, got a scalar")
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    y_pred = _move_axis_last(y_pred, axis)
    num_classes = y_pred.shape[-1]
    expected = tuple(y_pred.shape[:-1])
    if tuple(labels.shape) != expected:
        message = (
            f"{name} expects integer class ids of shape {expected} (or {expected + (1,)}) "
            f"for predictions of shape {tuple(y_pred.shape)}, got y_true of shape "
            f"{tuple(labels.shape)}"
        )
        if labels.ndim == y_pred.ndim:
            message += (
                ": these look one-hot; use loss='categorical_crossentropy', or turn them "
                "into class ids with y.argmax(axis=-1)"
            )
        raise ShapeError(message)
    labels = _integer_labels(labels, name)
    xp = get_array_module(labels)
    valid = None if ignore_class is None else labels != ignore_class
    _check_label_range(labels, valid, num_classes, name)
    if valid is not None:
        labels = xp.where(valid, labels, 0)  # any in-range id; those losses are zeroed below
    source, from_logits = _logits_or_probabilities(y_pred, from_logits, "softmax", name)
    if from_logits and mean_only and valid is None and source.ndim == 2:
        # the training hot path: one fused op (Numba on the CPU) for the batch mean
        losses = fused.sparse_softmax_cross_entropy(source, labels.astype(xp.int64, copy=False))
    elif from_logits:
        reduction = "mean" if mean_only and valid is None else "none"
        losses = nn.softmax_cross_entropy(source, labels, reduction=reduction)
    else:
        p = _clip_probabilities(source / source.sum(axis=-1, keepdims=True))
        one_hot = xp.eye(num_classes, dtype=y_pred.dtype)[labels]
        losses = -(p.log() * one_hot).sum(axis=-1)
    if valid is not None:
        losses = losses * valid.astype(losses.dtype)
    return losses, valid


def _integer_labels(labels, name):
    """Labels as an integer array: ints pass, bools become 0/1, and float arrays must hold
    whole numbers (Keras casts them; a 0.3 would silently become class 0 there)."""
    kind = labels.dtype.kind
    if kind in "iu":
        return labels
    if kind == "b":
        return labels.astype(np.int64)
    xp = get_array_module(labels)
    whole = labels == xp.floor(labels)  # False for NaN and ±inf too
    if not bool(xp.all(whole)):
        flat = np.asarray(backend_of(labels).to_numpy(whole)).ravel()
        i = int(np.argmin(flat))
        value = backend_of(labels).to_numpy(labels).ravel()[i]
        index = np.unravel_index(i, labels.shape)
        index = int(index[0]) if len(index) == 1 else tuple(int(j) for j in index)
        raise DTypeError(
            f"{name} expects integer class ids, got {labels.dtype} labels with the "
            f"non-integer value {value} at index {index}; for one-hot or probability "
            "targets use loss='categorical_crossentropy'"
        )
    return labels.astype(np.int64)


def _check_label_range(labels, valid, num_classes, name):
    """Raise ValueError naming the first label outside [0, num_classes) (ignored ones aside)."""
    xp = get_array_module(labels)
    if labels.size == 0:
        return
    if valid is None and 0 <= int(labels.min()) and int(labels.max()) < num_classes:
        return  # the common case: two reductions, no temporary arrays
    bad = (labels < 0) | (labels >= num_classes)
    if valid is not None:
        bad &= valid
    if not bool(xp.any(bad)):
        return
    flat_bad = np.asarray(backend_of(labels).to_numpy(bad)).ravel()
    i = int(np.argmax(flat_bad))
    label = int(backend_of(labels).to_numpy(labels).ravel()[i])
    index = np.unravel_index(i, labels.shape)
    index = int(index[0]) if len(index) == 1 else tuple(int(j) for j in index)
    raise ValueError(
        f"{name}: label {label} at index {index} is outside the valid range "
        f"[0, {num_classes}); the model has {num_classes} outputs, so labels must be class "
        f"ids 0..{num_classes - 1} (give the last layer one unit per class)"
    )


def _check_smoothing(label_smoothing):
    if not 0.0 <= label_smoothing <= 1.0:  # also False for NaN
        raise ValueError(
            f"label_smoothing must be in [0, 1], got label_smoothing={label_smoothing!r}"
        )


# ---------------------------------------------------------------------------------------
# Reduction (Keras 3's reduce_weighted_values)
# ---------------------------------------------------------------------------------------


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"Invalid reduction={reduction!r}; expected one of {list(_REDUCTIONS)}"
        )
    return reduction


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weight per-sample losses and reduce them to a scalar (Keras's rule).

    - ``"sum_over_batch_size"`` / ``"mean"``: Σ w·l / (number of losses);
    - ``"mean_with_sample_weight"``: Σ w·l / Σ w;
    - ``"sum"``: Σ w·l;  ``None`` / ``"none"``: the weighted losses themselves.

    ``mask`` (booleans, from ``ignore_class``) removes samples: with a mean reduction the
    remaining ones are averaged over their own count, exactly (Keras adds 1e-7 to it).

    Args:
        values: per-sample losses (a Tensor).
        sample_weight: None, a scalar, or an array of the losses' leading shape
            (``(N,)`` or ``(N, 1)`` for losses of shape ``(N,)``).
        mask: None or a boolean array shaped like ``values``.
        reduction: see above.

    Raises:
        ShapeError: ``sample_weight`` cannot be matched to the losses.
    """
    _check_reduction(reduction)
    xp = get_array_module(values.data)
    dtype = values.dtype
    if mask is not None:
        mask = mask.astype(dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            valid = float(mask.sum())
            # Each kept sample weighs total/valid, so Σ(w·l)/total = Σ_kept(l)/valid.
            mask = mask * dtype.type(mask.size / valid if valid > 0 else 0.0)
    if sample_weight is not None:
        weights = xp.asarray(_check_numeric(sample_weight, "sample_weight"), dtype=dtype)
        if mask is not None:
            mask, weights = squeeze_or_expand_to_same_rank(mask, weights)
            weights = weights * mask
    else:
        weights = mask
    if weights is not None:
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        try:
            shape = np.broadcast_shapes(tuple(values.shape), tuple(weights.shape))
        except ValueError:
            shape = None
        if shape != tuple(values.shape):
            raise ShapeError(
                f"sample_weight of shape {tuple(weights.shape)} cannot weight per-sample "
                f"losses of shape {tuple(values.shape)}; give one weight per sample"
            )
        values = values * weights
    if reduction in (None, "none") or values.ndim == 0 or values.size == 0:
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(xp.broadcast_to(weights, values.shape).sum())
        return values.sum() / divisor if divisor else values.sum() * 0.0
    return values.mean()  # Σ w·l / N: one node, gradient w/N


# ---------------------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------------------


class Loss:
    """Base class of the losses: ``loss(y_true, y_pred, sample_weight=None) -> scalar``.

    Subclasses implement ``call(y_true, y_pred)`` returning one loss per sample; the base
    class converts the inputs, applies ``sample_weight`` and the reduction.

    Args:
        name: the loss's name (defaults to the snake_case class name).
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"`` or ``None``/``"none"``.
        dtype: unused; accepted for Keras compatibility (the loss follows ``y_pred``).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction)
        self.dtype = dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss: a scalar Tensor (per-sample Tensor with ``reduction=None``)."""
        y_pred = _as_prediction(y_pred)
        y_true = _as_target(y_true, y_pred)
        losses, mask = self._call_with_mask(y_true, y_pred, sample_weight)
        return reduce_weighted_values(losses, sample_weight, mask, self.reduction)

    def _call_with_mask(self, y_true, y_pred, sample_weight=None):
        """(per-sample losses, mask of the samples that count or None). ``sample_weight`` is
        only for losses that can fuse the reduction when there is none."""
        return self.call(y_true, y_pred), None

    def call(self, y_true, y_pred):
        """Per-sample losses for ``y_true`` (an array) and ``y_pred`` (a Tensor)."""
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` made from a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    This is how a plain function (yours or a built-in one named by string) becomes a loss
    in ``compile``: ranks are reconciled, then ``fn`` runs, then the reduction applies.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        out = self.fn(y_true, y_pred, **self._fn_kwargs)
        return out if isinstance(out, Tensor) else Tensor(out)

    def get_config(self):
        config = super().get_config()
        config["fn"] = getattr(self.fn, "__name__", repr(self.fn))
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config):
        if "fn" not in config:  # a subclass such as MeanSquaredError: fn is built in
            return cls(**config)
        config = dict(config)
        fn = config.pop("fn")
        if isinstance(fn, str):
            if fn not in _FUNCTIONS:
                raise ValueError(f"Unknown loss function {fn!r} in config")
            fn = _FUNCTIONS[fn]
        return cls(fn, **config)

    def __repr__(self):
        return f"<LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)}, {self._fn_kwargs})>"


class BuiltinLoss(LossFunctionWrapper):
    """A built-in loss class: its options (``from_logits``, ``delta``, ...) become attributes,
    and its config is ``Loss``'s (name and reduction) plus those options, never the wrapped
    function (the class implies it)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **options):
        super().__init__(fn, reduction=reduction, name=name, **options)
        for key, value in options.items():
            setattr(self, key, value)

    def get_config(self):
        return {**Loss.get_config(self), **self._fn_kwargs}


class MeanSquaredError(BuiltinLoss):
    """Mean of squared errors: ``mean((y_true - y_pred)²)`` (PyTorch's ``mse_loss``).

    >>> MeanSquaredError()(np.array([[0.0, 1.0], [0.0, 0.0]]),
    ...                    Tensor([[1.0, 1.0], [1.0, 0.0]])).item()
    0.5
    """

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name)


class MeanAbsoluteError(BuiltinLoss):
    """Mean of absolute errors: ``mean(|y_true - y_pred|)`` (PyTorch's ``l1_loss``)."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name)


class MeanAbsolutePercentageError(BuiltinLoss):
    """``100 · mean(|y_true - y_pred| / max(|y_true|, ε))``."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None
    ):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name)


class MeanSquaredLogarithmicError(BuiltinLoss):
    """``mean((log(y_pred + 1) - log(y_true + 1))²)`` (inputs floored at ε)."""

    def __init__(
        self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None
    ):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name)


class Huber(BuiltinLoss):
    """Huber loss: quadratic for errors up to ``delta``, linear beyond (see ``huber``).

    Args:
        delta: where the loss turns from quadratic to linear (> 0).
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        if not delta > 0:
            raise ValueError(f"Huber: delta must be a positive number, got delta={delta!r}")
        super().__init__(huber, reduction=reduction, name=name, delta=delta)


class LogCosh(BuiltinLoss):
    """``mean(log(cosh(y_pred - y_true)))``: like MSE for small errors, MAE for large."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name)


class Hinge(BuiltinLoss):
    """``mean(max(1 - y_true·y_pred, 0))`` with labels in {-1, 1} (0/1 are converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name)


class SquaredHinge(BuiltinLoss):
    """``mean(max(1 - y_true·y_pred, 0)²)`` with labels in {-1, 1} (0/1 are converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name)


class KLDivergence(BuiltinLoss):
    """Kullback-Leibler divergence ``Σ y_true · log(y_true / y_pred)`` per sample."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name)


class Poisson(BuiltinLoss):
    """``mean(y_pred - y_true · log(y_pred + ε))``: for count targets."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name)


class BinaryCrossentropy(BuiltinLoss):
    """Binary cross-entropy for 0/1 (or soft) targets; see ``binary_crossentropy``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities. A sigmoid
            output is recognised and its logits used either way.
        label_smoothing: in [0, 1]; targets become ``y·(1 - ls) + 0.5·ls``.
        axis: the axis averaged over per sample.
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(BuiltinLoss):
    """Cross-entropy against one-hot targets; see ``categorical_crossentropy``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities. A softmax
            output is recognised and its logits used either way.
        label_smoothing: in [0, 1]; targets become ``y·(1 - ls) + ls / C``.
        axis: the class axis.
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(BuiltinLoss):
    """Cross-entropy against integer class ids; see ``sparse_categorical_crossentropy``.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        ignore_class: a label value whose samples are left out of the loss and of the mean.
        axis: the class axis.

    >>> loss = SparseCategoricalCrossentropy()
    >>> round(loss(np.array([1, 2]), Tensor([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])).item(), 4)
    1.1769
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        axis=-1,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        fast = self._training_fast_path(y_true, y_pred, sample_weight)
        if fast is not None:
            return fast
        return super().__call__(y_true, y_pred, sample_weight)

    def _training_fast_path(self, y_true, y_pred, sample_weight):
        """The common case of every training step, with the same result and fewer checks:
        integer labels (N,) in a NumPy array, a 2-D softmax output carrying its logits, no
        weights, default options. Anything else (or a bad label) returns None and takes the
        general path, which validates everything and explains what is wrong."""
        if (sample_weight is not None or self.ignore_class is not None or self.from_logits
                or self.axis not in (-1, 1) or self.reduction != "sum_over_batch_size"
                or type(y_true) is not np.ndarray or y_true.dtype.kind not in "iu"
                or not isinstance(y_pred, Tensor) or y_pred.ndim != 2
                or y_true.shape != y_pred.shape[:1] or not y_true.size
                or type(y_pred.data) is not np.ndarray
                or _activation_of(y_pred) != "softmax"):
            return None
        # NOTE: kept per call although fit checked its labels once: the fused kernel indexes
        # with the labels unchecked, so this guards memory, not just the message.
        if y_true.min() < 0 or y_true.max() >= y_pred.shape[1]:
            return None  # the general path raises the clear error
        return fused.sparse_softmax_cross_entropy(y_pred._logits[1],
                                                  y_true.astype(np.int64, copy=False))

    def _call_with_mask(self, y_true, y_pred, sample_weight=None):
        # NOTE: no squeeze_or_expand here: labels (N,) against (N, C) are already right, and
        # the function itself squeezes labels of shape (N, 1).
        # Without weights, the mean over samples is all the reduction needs: the fused op
        # computes it (same value and gradient, one graph node fewer).
        mean_only = sample_weight is None and self.reduction in (
            "sum_over_batch_size", "mean", "mean_with_sample_weight")
        return _sparse_categorical_crossentropy(
            y_true, y_pred, self.from_logits, self.ignore_class, self.axis, mean_only=mean_only,
        )  # fmt: skip


class Crossentropy(Loss):
    """``loss="crossentropy"`` (or ``"ce"``): picks the cross-entropy from the data's shapes
    at the first call, as Keras 3's ``compile`` does:

    - predictions with a last axis of size 1: binary cross-entropy;
    - targets of lower rank than the predictions, or with a last axis of 1 against several
      classes: sparse categorical cross-entropy;
    - otherwise: categorical cross-entropy.
    """

    def __init__(self, reduction="sum_over_batch_size", name="crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction)
        self.resolved = None

    def _call_with_mask(self, y_true, y_pred, sample_weight=None):
        if self.resolved is None:
            is_binary, is_sparse = _is_binary_or_sparse_categorical(y_true.shape, y_pred.shape)
            if is_binary:
                self.resolved = BinaryCrossentropy(reduction=self.reduction)
            elif is_sparse:
                self.resolved = SparseCategoricalCrossentropy(reduction=self.reduction)
            else:
                self.resolved = CategoricalCrossentropy(reduction=self.reduction)
        return self.resolved._call_with_mask(y_true, y_pred, sample_weight)


def _is_binary_or_sparse_categorical(true_shape, pred_shape):
    """Keras 3's rule (``trainers/compile_utils.py``) for "accuracy" and "crossentropy"."""
    true_last = true_shape[-1] if len(true_shape) else 1
    pred_last = pred_shape[-1] if len(pred_shape) else 1
    is_binary = pred_last == 1
    is_sparse = len(true_shape) < len(pred_shape) or (true_last == 1 and pred_last > 1)
    return is_binary, is_sparse


# ---------------------------------------------------------------------------------------
# get(): names, aliases, classes, instances, functions
# ---------------------------------------------------------------------------------------


_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        Huber,
        LogCosh,
        Hinge,
        SquaredHinge,
        KLDivergence,
        Poisson,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}

_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        huber,
        log_cosh,
        hinge,
        squared_hinge,
        kl_divergence,
        poisson,
        binary_crossentropy,
        categorical_crossentropy,
        sparse_categorical_crossentropy,
    )
}

_CLASS_OF_FUNCTION = {cls().fn: cls for cls in _CLASSES.values()}

# Keras 3's aliases, plus a few short names people type ("cce", "scce").
_ALIASES = {
    "mse": mean_squared_error,
    "MSE": mean_squared_error,
    "mae": mean_absolute_error,
    "MAE": mean_absolute_error,
    "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
    "kld": kl_divergence,
    "KLD": kl_divergence,
    "kullback_leibler_divergence": kl_divergence,
    "logcosh": log_cosh,
    "huber_loss": huber,
    "bce": binary_crossentropy,
    "BCE": binary_crossentropy,
    "cce": categorical_crossentropy,
    "CCE": categorical_crossentropy,
    "scce": sparse_categorical_crossentropy,
    "SCCE": sparse_categorical_crossentropy,
}


def _valid_names():
    return sorted(set(_CLASSES) | set(_FUNCTIONS) | set(_ALIASES) | {"crossentropy", "ce"})


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` for a ``Loss``; a built-in function's name."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return getattr(loss, "__name__", None)


def deserialize(config):
    """The inverse of ``serialize``."""
    if isinstance(config, str):
        return get(config)
    class_name = config.get("class_name")
    cls = _CLASSES.get(class_name) or {
        "LossFunctionWrapper": LossFunctionWrapper, "Crossentropy": Crossentropy,
    }.get(class_name)  # fmt: skip
    if cls is None:
        raise ValueError(
            f"Unknown loss class_name {class_name!r}; expected one of {sorted(_CLASSES)}"
        )
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """Resolve a loss identifier to a callable ``Loss`` (or ``None`` for ``None``).

    Accepted identifiers, as in Keras 3's ``compile``:

    - a function name or alias (``"mse"``, ``"mean_squared_error"``, ``"bce"``,
      ``"sparse_categorical_crossentropy"``, ...): the loss class that wraps that per-sample
      function (a ``LossFunctionWrapper`` subclass, e.g. ``MeanSquaredError``), with default
      arguments and named after the string;
    - a class name (``"MeanSquaredError"``): an instance with default arguments;
    - ``"crossentropy"`` / ``"ce"``: a ``Crossentropy`` that picks binary, sparse or
      categorical from the data's shapes;
    - a ``Loss`` instance (returned as is), a ``Loss`` class (instantiated), a dict from
      ``serialize``, or any function ``fn(y_true, y_pred)`` returning per-sample losses
      (wrapped).

    NOTE: ``keras.losses.get("mse")`` returns the bare function; ``compile`` then wraps it.
    Here ``get`` does the wrapping, so every result reduces to a scalar the same way.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: an identifier of another type.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            return Crossentropy(name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        fn = _FUNCTIONS.get(identifier) or _ALIASES.get(identifier)
        if fn is None:
            from minidl import saving  # a registered or custom_objects loss

            custom = saving.lookup(identifier)
            if custom is not None:
                return get(custom)
            raise ValueError(
                f"Unknown loss {identifier!r}. Valid names: {', '.join(_valid_names())}"
            )
        # The class wrapping this function with its default arguments (the same loss as
        # LossFunctionWrapper(fn), and the sparse one has a faster path).
        return _CLASS_OF_FUNCTION[fn](name=identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        f"Could not interpret loss identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass a name such as 'mse', a Loss, or a function "
        "fn(y_true, y_pred)"
    )


__all__ = [
    "Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "Huber", "LogCosh", "Hinge",
    "SquaredHinge", "KLDivergence", "Poisson", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "Crossentropy", "mean_squared_error",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "huber", "log_cosh", "hinge", "squared_hinge", "kl_divergence", "poisson",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "squeeze_or_expand_to_same_rank", "reduce_weighted_values", "get", "serialize",
    "deserialize",
]  # fmt: skip
