"""Metrics from confusion counts: ``Precision``, ``Recall``, ``AUC``, ``F1Score``/``FBetaScore``.

They accumulate true/false positive/negative counts over the batches of an epoch and compute
the ratio only in ``result()``, so an epoch's precision is ``ΣTP / (ΣTP + ΣFP)``, not a mean
of per-batch precisions. Counts are kept in float64 on the host (metrics never build a
graph). Keras 3's rules, which these follow:

- a prediction is positive when it is *strictly* above the threshold (0.5 by default: a
  score of exactly 0.5 is a negative); a label is positive when it is non-zero;
- labels and predictions of any shape are compared elementwise (a multi-class output counts
  every (sample, class) cell), unless ``class_id`` picks one column or ``top_k`` keeps only
  the k highest scores of each row;
- a ratio with a zero denominator is 0 (``divide_no_nan``).
"""

import numpy as np

from minidl.errors import ShapeError
from minidl.losses import squeeze_or_expand_to_same_rank
from minidl.metrics import Metric, _array, _to_numpy


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    safe = np.where(b == 0, 1.0, b)
    return np.where(b == 0, 0.0, a / safe)


def _host(x, name):
    return _to_numpy(_array(x, name)).astype(np.float64)


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, top_k=None,
                     class_id=None):
    """Weighted TP, FP, TN, FN at each threshold (Keras's ``update_confusion_matrix_variables``).

    Args:
        y_true: labels (non-zero = positive), any shape matching ``y_pred``'s.
        y_pred: scores, compared with each threshold: positive when ``y_pred > threshold``.
        thresholds: a 1-D array of thresholds.
        sample_weight: weights broadcastable to ``y_pred`` (one per sample, or per cell).
        top_k: keep only the ``k`` highest scores of each row (the others are -inf).
        class_id: use only this column of the last axis.

    Returns:
        ``(tp, fp, tn, fn)``, each an array with one float64 count per threshold.
    """
    y_true = _host(y_true, "y_true")
    y_pred = _host(y_pred, "y_pred")
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} "
                         "must have the same shape for a confusion metric")
    weights = None
    if sample_weight is not None:
        weights = _host(sample_weight, "sample_weight")
        if 0 < weights.ndim < y_pred.ndim:  # one weight per sample: spread over its cells
            weights = weights.reshape(weights.shape + (1,) * (y_pred.ndim - weights.ndim))
        try:
            weights = np.broadcast_to(weights, y_pred.shape)
        except ValueError:
            raise ShapeError(f"sample_weight of shape {weights.shape} cannot weight "
                             f"predictions of shape {y_pred.shape}") from None
    if top_k is not None:
        # Only the k highest scores of each row stay; ties go to the earlier index (as
        # Keras's ops.top_k), so exactly k per row survive. The others become -inf.
        order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]
        kept = np.full(y_pred.shape, -np.inf)
        np.put_along_axis(kept, order, np.take_along_axis(y_pred, order, axis=-1), axis=-1)
        y_pred = kept
    if class_id is not None:
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
        weights = None if weights is None else weights[..., class_id]
    labels = y_true.reshape(-1) != 0
    scores = y_pred.reshape(-1)
    w = np.ones_like(scores) if weights is None else weights.reshape(-1)
    # (thresholds, cells): is each cell a predicted positive at each threshold?
    predicted = scores[None, :] > np.asarray(thresholds, dtype=np.float64)[:, None]
    positive_w = np.where(labels, w, 0.0)
    negative_w = np.where(labels, 0.0, w)
    tp = predicted @ positive_w
    fp = predicted @ negative_w
    fn = positive_w.sum() - tp
    tn = negative_w.sum() - fp
    return tp, fp, tn, fn


def _thresholds_arg(thresholds, default):
    if thresholds is None:
        return np.array([default]), False
    listed = isinstance(thresholds, (list, tuple, np.ndarray))
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if np.any((values < 0) | (values > 1)) or np.any(np.isnan(values)):
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {thresholds}")
    return values, listed


class _ConfusionRatio(Metric):
    """Shared by Precision and Recall: counts at one or more thresholds."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        # With top_k the default threshold is -inf: every kept (top-k) score is positive.
        default = 0.5 if top_k is None else -np.inf
        self.thresholds, self._listed = _thresholds_arg(thresholds, default)
        self.reset_state()

    def reset_state(self):
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, _, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                         self.top_k, self.class_id)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _result(self, ratio):
        # One float for one threshold; a list when thresholds were given as a list.
        return [float(r) for r in ratio] if self._listed else float(ratio[0])

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ConfusionRatio):
    """``TP / (TP + FP)``: the fraction of predicted positives that are positive.

    Args:
        thresholds: a float in [0, 1] or a list of them (the result is then a list);
            default 0.5. A score counts as positive when strictly above it.
        top_k: count only the ``k`` highest scores of each row as candidates.
        class_id: compute the metric for this class (column) only.
        name: defaults to ``precision``, then ``precision_1``, ... within a session (as
            Keras; ``keras.backend.clear_session()`` restarts the count).
        dtype: accepted for Keras compatibility.

    >>> m = Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(m.result(), 4)
    0.6667
    """

    def result(self):
        return self._result(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_positives))


class Recall(_ConfusionRatio):
    """``TP / (TP + FN)``: the fraction of positives that were predicted positive.

    Arguments as ``Precision``'s (the default name is ``recall``).

    >>> m = Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(m.result(), 4)
    0.6667
    """

    def result(self):
        return self._result(_divide_no_nan(self.true_positives,
                                           self.true_positives + self.false_negatives))


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from counts at fixed thresholds.

    The thresholds are ``num_thresholds`` evenly spaced values with the end ones just
    outside [0, 1] (``-1e-7`` and ``1 + 1e-7``), so scores of exactly 0 and 1 are counted
    on both sides. The area is a Riemann sum between consecutive thresholds:

    - ROC: x = false positive rate ``FP / (FP + TN)``, y = recall; with
      ``summation_method="interpolation"`` each piece is a trapezoid;
    - PR: x = recall, y = precision; ``"interpolation"`` uses Davis & Goadrich's
      interpolation (precision varies along the line between the counts at two thresholds);
    - ``"minoring"`` / ``"majoring"`` take the lower / upper of the two heights.

    Args:
        num_thresholds: the number of thresholds (> 1, default 200).
        curve: ``"ROC"`` (default) or ``"PR"``.
        summation_method: ``"interpolation"`` (default), ``"minoring"`` or ``"majoring"``.
        name: defaults to ``auc``, ``auc_1``, ... within a session.
        dtype: accepted for Keras compatibility.
        thresholds: explicit thresholds in [0, 1] (the end points are added).
        multi_label: one curve per label (column), averaged (``label_weights``-weighted).
        num_labels: accepted for Keras compatibility (inferred from the data here).
        label_weights: weights of the per-label areas when ``multi_label``.
        from_logits: apply a sigmoid to the predictions first.

    Raises:
        ValueError: ``num_thresholds <= 1``, an unknown curve or summation method.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are '
                             '["ROC", "PR"]')
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". '
                             'Expected values are ["interpolation", "majoring", "minoring"]')
        epsilon = 1e-7
        if thresholds is not None:
            inner, _ = _thresholds_arg(sorted(thresholds), 0.5)
            self._init_thresholds = [float(t) for t in inner]
            num_thresholds = len(inner) + 2
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._init_thresholds = None
        self.thresholds = np.array([0.0 - epsilon, *inner, 1.0 + epsilon])
        self.num_thresholds = num_thresholds
        self.curve = curve
        self.summation_method = summation_method
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights,
                                                                           dtype=np.float64)
        self.from_logits = from_logits
        self.reset_state()

    def reset_state(self):
        self._counts = None  # (tp, fp, tn, fn), each (thresholds,) or (thresholds, labels)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _host(y_pred, "y_pred")
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        if self.multi_label:
            y_true = _host(y_true, "y_true")
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
            columns = [confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                        class_id=j) for j in range(y_pred.shape[-1])]
            counts = tuple(np.stack([c[k] for c in columns], axis=1) for k in range(4))
        else:
            counts = confusion_counts(y_true, y_pred, self.thresholds, sample_weight)
        if self._counts is None:
            self._counts = counts
        else:
            self._counts = tuple(a + b for a, b in zip(self._counts, counts))

    def _interpolate_pr_auc(self, tp, fp, fn):
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        return _divide_no_nan(slope * (dtp + intercept * np.log(np.where(both, ratio, 1.0))),
                              np.maximum(tp[1:] + fn[1:], 0))

    def result(self):
        if self._counts is None:
            return 0.0
        tp, fp, tn, fn = self._counts
        if self.curve == "PR" and self.summation_method == "interpolation":
            pieces = self._interpolate_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            pieces = (x[:-1] - x[1:]) * heights
        if not self.multi_label:
            return float(pieces.sum())
        by_label = pieces.sum(axis=0)
        if self.label_weights is None:
            return float(by_label.mean())
        return float(_divide_no_nan((by_label * self.label_weights).sum(),
                                    self.label_weights.sum()))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self._init_thresholds, "multi_label": self.multi_label,
                "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None
                else self.label_weights.tolist(),
                "from_logits": self.from_logits}


class FBetaScore(Metric):
    """The F-beta score per class: ``(1 + β²) · P · R / (β² · P + R)``.

    Labels and predictions must be 2-D ``(batch, classes)`` (one-hot or multi-hot labels).
    Without ``threshold`` each row's highest score is its positive prediction; with one, a
    score strictly above it is positive. Precision ``P`` and recall ``R`` come from the
    per-class counts of the whole epoch.

    Args:
        average: ``None`` (one value per class, a NumPy array), ``"micro"`` (counts summed
            over classes first), ``"macro"`` (the mean over classes) or ``"weighted"`` (the
            mean weighted by each class's number of true positives + false negatives).
        beta: the weight of recall (> 0).
        threshold: a float in (0, 1], or ``None`` for the row's arg-max.
        name, dtype: as every metric.

    Raises:
        ValueError: an unknown ``average``, ``beta <= 0``, a bad ``threshold``, or inputs
            that are not 2-D.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("Invalid `average` argument value. Expected one of: "
                             f"[None, 'micro', 'macro', 'weighted']. Received: "
                             f"average={average}")
        if not isinstance(beta, (int, float)) or beta <= 0:
            raise ValueError(f"`beta` should be a float > 0. Received: beta={beta}")
        if threshold is not None and not (isinstance(threshold, float) and 0 < threshold <= 1):
            raise ValueError("`threshold` should be a float between 0 and 1. Received: "
                             f"threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.reset_state()

    def reset_state(self):
        self._counts = None  # tp, fp, fn, support: one value per class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _host(y_true, "y_true")
        y_pred = _host(y_pred, "y_pred")
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, "
                f"output_dim). Received input shapes: y_pred.shape={y_pred.shape} and "
                f"y_true.shape={y_true.shape}; for integer labels use "
                "keras.utils.to_categorical(y) first"
            )
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            predicted = (y_pred > self.threshold).astype(np.float64)
        weights = np.ones((len(y_true), 1))
        if sample_weight is not None:
            weights = _host(sample_weight, "sample_weight").reshape(len(y_true), -1)
        counts = ((predicted * y_true * weights).sum(axis=0),
                  (predicted * (1 - y_true) * weights).sum(axis=0),
                  ((1 - predicted) * y_true * weights).sum(axis=0),
                  (y_true * weights).sum(axis=0))
        self._counts = counts if self._counts is None else tuple(
            a + b for a, b in zip(self._counts, counts))

    def result(self):
        if self._counts is None:
            return 0.0 if self.average is not None else np.zeros(0)
        tp, fp, fn, support = self._counts
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = _divide_no_nan(tp, tp + fp)
        recall = _divide_no_nan(tp, tp + fn)
        b2 = self.beta**2
        score = _divide_no_nan((1 + b2) * precision * recall, b2 * precision + recall)
        if self.average == "weighted":
            return float(_divide_no_nan((score * support).sum(), support.sum()))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score (``FBetaScore`` with β = 1): ``2 · P · R / (P + R)`` per class.

    >>> m = F1Score(average="macro")
    >>> m.update_state([[1, 0], [0, 1], [0, 1]], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> round(m.result(), 4)
    0.6667
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("beta")
        return config
