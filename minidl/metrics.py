"""Metrics, Keras style: ``model.compile(metrics=["accuracy"])``.

A metric is a small accumulator, not part of the graph: ``update_state(y_true, y_pred)``
adds a batch, ``result()`` reads the running value (a Python float), ``reset_state()``
starts over (``fit`` does it at each epoch). Most metrics are means over samples::

    result = Σ_batches Σ_i w_i · v_i  /  Σ_batches Σ_i w_i      (w_i = 1 by default)

so an epoch's value is weighted by batch size, exactly as Keras reports it: a last batch of
8 samples counts a quarter as much as a full batch of 32. Sums are kept in float64.

Metrics read raw arrays: ``y_pred`` may be a ``Tensor`` (its ``.data`` is used) and no
graph is ever built.

How ``compile`` should use this module: ``metric = metrics.get(identifier)`` for each entry
of ``metrics=[...]``; the metric's ``name`` is the key for ``History`` (the string the user
gave: ``"acc"`` gives ``history["acc"]``); call ``update_state(y, y_pred)`` per batch and
``result()`` at the end of the epoch. ``"accuracy"``/``"acc"`` return an ``AutoAccuracy``
that picks binary, sparse or categorical accuracy from the shapes of the first batch,
following Keras 3's ``compile``.
"""

import inspect

import numpy as np

from minidl import losses as losses_module
from minidl.array_backend import backend_of, get_array_module
from minidl.errors import ShapeError
from minidl.losses import squeeze_or_expand_to_same_rank
from minidl.tensor import Tensor, no_grad
from minidl.utils.naming import snake_case


def _array(x, name):
    """The raw array of a Tensor, array or nested list (never a graph node)."""
    if isinstance(x, Tensor):
        return x.data
    return losses_module._check_numeric(x, name)


# ---------------------------------------------------------------------------------------
# Base classes
# ---------------------------------------------------------------------------------------


class Metric:
    """Base class of the metrics.

    Subclasses implement ``update_state(y_true, y_pred, sample_weight=None)``,
    ``result()`` and ``reset_state()``.

    Args:
        name: the metric's name, used as its key in ``History``.
        dtype: accepted for Keras compatibility; results are Python floats.
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state()")

    def reset_states(self):
        """Keras 2 spelling of ``reset_state``."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result (as Keras's ``Metric``)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """The (weighted) mean of the values seen so far.

    ``update_state(values, sample_weight=None)``: values of shape ``(N, ...)`` are first
    averaged to one value per sample; each sample then counts once (or ``w_i`` times).

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7])
    >>> m.result()
    4.0
    >>> m.reset_state()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    2.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        if sample_weight is None and type(values) is np.ndarray and values.ndim == 1:
            # the per-batch hot path in fit: one value per sample, no weights
            self.total += float(values.sum(dtype=np.float64))
            self.count += values.shape[0]
            return
        values = _to_numpy(_array(values, "values")).astype(np.float64)
        weights = None
        if sample_weight is not None:
            weights = _to_numpy(_array(sample_weight, "sample_weight")).astype(np.float64)
        values, weights = _samplewise(values, weights)
        self.total += float(values.sum())
        if weights is not None:
            self.count += float(weights.sum())
        else:
            self.count += values.shape[0] if values.ndim >= 1 else 1

    def result(self):
        # 0/0 gives 0, as Keras's divide_no_nan (a metric before any update).
        return self.total / self.count if self.count else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0


def _to_numpy(array):
    return np.asarray(backend_of(array).to_numpy(array))


def _samplewise(values, weights):
    """Keras's ``reduce_to_samplewise_values``: one value (and one weight) per sample.

    ``weights`` is matched to ``values`` by rank reconciliation, extra value axes are
    averaged away, and the weighted values returned; the weights are averaged over any
    axes beyond the first so that each sample's weight is one number.
    """
    if weights is not None:
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        if values.ndim > weights.ndim:
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weights = np.broadcast_to(weights, values.shape)
        except ValueError:
            raise ShapeError(
                f"sample_weight of shape {weights.shape} cannot weight values of shape "
                f"{values.shape}; give one weight per sample"
            ) from None
        values = values * weights
        if weights.ndim > 1:
            weights = weights.mean(axis=tuple(range(1, weights.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, weights


class MeanMetricWrapper(Mean):
    """A ``Mean`` of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    ``fn`` may work on NumPy arrays or on Tensors (the loss functions do); it runs
    without recording a graph.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _array(y_true, "y_true")
        y_pred = _array(y_pred, "y_pred")
        if type(y_pred) is np.ndarray and type(y_true) is np.ndarray:
            values = self._fn(y_true, y_pred, **self._fn_kwargs)  # arrays: no graph anyway
        else:
            with no_grad():
                values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(_array(values, "values"), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def _loss_metric(fn):
    """A per-sample loss function as a metric function on raw arrays."""

    def metric_fn(y_true, y_pred, **kwargs):
        return fn(y_true, Tensor(y_pred), **kwargs).data

    metric_fn.__name__ = fn.__name__
    return metric_fn


# ---------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------


def accuracy(y_true, y_pred):
    """1.0 where ``y_pred == y_true`` exactly, else 0.0 (for class ids, not probabilities)."""
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _same_shape(y_true, y_pred, "accuracy")
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``(y_pred > threshold) == y_true``, elementwise (labels 0 or 1).

    >>> binary_accuracy(np.array([1, 1, 0, 0]), np.array([0.98, 1.0, 0.0, 0.6])).tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    _same_shape(y_true, y_pred, "binary_accuracy")
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return (predicted == y_true).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """1.0 per sample where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets).

    Raises:
        ShapeError: the targets are not one-hot of the predictions' shape.
    """
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            f"categorical_accuracy expects one-hot y_true of the predictions' shape "
            f"{tuple(y_pred.shape)}, got {tuple(y_true.shape)}; for integer class ids use "
            "sparse_categorical_accuracy"
        )
    xp = get_array_module(y_pred)
    return (xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 per sample where ``argmax(y_pred) == y_true`` (integer class ids).

    Raises:
        ShapeError: the labels' shape is not the predictions' minus the class axis.
    """
    y_true, y_pred = _array(y_true, "y_true"), _array(y_pred, "y_pred")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ShapeError(
            f"sparse_categorical_accuracy expects class ids of shape "
            f"{tuple(y_pred.shape[:-1])} for predictions of shape {tuple(y_pred.shape)}, "
            f"got {tuple(y_true.shape)}; for one-hot targets use categorical_accuracy"
        )
    xp = get_array_module(y_pred)
    return (xp.argmax(y_pred, axis=-1) == y_true).astype(np.float64)


def _same_shape(y_true, y_pred, name):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ShapeError(
            f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
            f"{tuple(y_pred.shape)}"
        )


class Accuracy(MeanMetricWrapper):
    """How often ``y_pred`` equals ``y_true`` exactly (compare class ids, not scores)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches 0/1 labels.

    Args:
        threshold: in (0, 1); a probability above it predicts class 1.

    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> m.result()
    0.75
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if not 0 < threshold < 1:
            raise ValueError(
                f"BinaryAccuracy: threshold must be in (0, 1), got threshold={threshold!r}"
            )
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of ``y_pred`` matches the one-hot ``y_true``.

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of ``y_pred`` equals the integer label.

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> m.result()
    0.5
    """

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class AutoAccuracy(Metric):
    """``metrics=["accuracy"]``: the right accuracy for the data, chosen at the first batch.

    Keras 3's rule (``keras/src/trainers/compile_utils.py``), from the shapes alone:

    - predictions whose last axis is 1: ``BinaryAccuracy`` (threshold 0.5);
    - labels of lower rank than the predictions, or labels with last axis 1 against
      several classes: ``SparseCategoricalAccuracy``;
    - otherwise: ``CategoricalAccuracy``.

    NOTE: for 1-D predictions (one score per sample) Keras's rule would pick categorical
    accuracy and take an arg-max over the batch; here they count as binary.
    The choice is kept across ``reset_state`` (Keras builds it once).
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.resolved = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.resolved is None:
            self.resolved = self._resolve(
                _array(y_true, "y_true").shape, _array(y_pred, "y_pred").shape
            )
        self.resolved.update_state(y_true, y_pred, sample_weight=sample_weight)

    def _resolve(self, true_shape, pred_shape):
        is_binary, is_sparse = losses_module._is_binary_or_sparse_categorical(
            true_shape, pred_shape
        )
        if is_binary or len(pred_shape) <= 1:
            return BinaryAccuracy(name=self.name)
        if is_sparse:
            return SparseCategoricalAccuracy(name=self.name)
        return CategoricalAccuracy(name=self.name)

    def result(self):
        return 0.0 if self.resolved is None else self.resolved.result()

    def reset_state(self):
        if self.resolved is not None:
            self.resolved.reset_state()


# ---------------------------------------------------------------------------------------
# Regression and probabilistic metrics (means of the per-sample loss functions)
# ---------------------------------------------------------------------------------------


class MeanSquaredError(MeanMetricWrapper):
    """Mean over samples of ``mean((y_true - y_pred)², axis=-1)``."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_loss_metric(losses_module.mean_squared_error), name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean over samples of ``mean(|y_true - y_pred|, axis=-1)``."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(
            _loss_metric(losses_module.mean_absolute_error), name=name, dtype=dtype
        )


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Mean over samples of ``100 · mean(|y_true - y_pred| / |y_true|, axis=-1)``."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(
            _loss_metric(losses_module.mean_absolute_percentage_error), name=name, dtype=dtype
        )


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean over samples of ``mean((log(y_pred + 1) - log(y_true + 1))², axis=-1)``."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(
            _loss_metric(losses_module.mean_squared_logarithmic_error), name=name, dtype=dtype
        )


class RootMeanSquaredError(Mean):
    """``sqrt`` of the mean squared error over all samples seen (not a mean of roots)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._fn = _loss_metric(losses_module.mean_squared_error)

    def update_state(self, y_true, y_pred, sample_weight=None):
        with no_grad():
            values = self._fn(_array(y_true, "y_true"), _array(y_pred, "y_pred"))
        super().update_state(values, sample_weight=sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7])."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):  # fmt: skip
        super().__init__(
            _loss_metric(losses_module.binary_crossentropy), name=name, dtype=dtype,
            from_logits=from_logits, label_smoothing=label_smoothing,
        )  # fmt: skip


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy against one-hot targets."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):  # fmt: skip
        super().__init__(
            _loss_metric(losses_module.categorical_crossentropy), name=name, dtype=dtype,
            from_logits=from_logits, label_smoothing=label_smoothing,
        )  # fmt: skip


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy against integer class ids."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(
            _loss_metric(losses_module.sparse_categorical_crossentropy), name=name,
            dtype=dtype, from_logits=from_logits,
        )  # fmt: skip


class Hinge(MeanMetricWrapper):
    """Mean hinge loss (labels in {-1, 1} or {0, 1})."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(_loss_metric(losses_module.hinge), name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """Mean Kullback-Leibler divergence between target and predicted distributions."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(_loss_metric(losses_module.kl_divergence), name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """Mean Poisson loss ``y_pred - y_true · log(y_pred)``."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(_loss_metric(losses_module.poisson), name=name, dtype=dtype)


# ---------------------------------------------------------------------------------------
# get()
# ---------------------------------------------------------------------------------------

_CLASSES = {
    cls.__name__: cls
    for cls in (
        Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
        MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError, RootMeanSquaredError, BinaryCrossentropy,
        CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge, KLDivergence, Poisson,
    )
}  # fmt: skip

# Keras maps each class's snake_case name to it, plus these short aliases.
_NAMES = {snake_case(name): cls for name, cls in _CLASSES.items()}
_NAMES.update(
    {
        "mse": MeanSquaredError, "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
        "rmse": RootMeanSquaredError,
        "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
        "cce": CategoricalCrossentropy, "scce": SparseCategoricalCrossentropy,
        "kld": KLDivergence, "KLD": KLDivergence,
    }
)  # fmt: skip
_NAMES.pop("accuracy")  # "accuracy" means AutoAccuracy in compile, as in Keras


def _valid_names():
    return sorted(set(_CLASSES) | set(_NAMES) | {"accuracy", "acc"})


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` for a metric."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config):
    """The inverse of ``serialize`` (for the built-in metric classes)."""
    class_name = config.get("class_name")
    if class_name not in _CLASSES and class_name != "AutoAccuracy":
        raise ValueError(
            f"Unknown metric class_name {class_name!r}; expected one of {sorted(_CLASSES)}"
        )
    cls = AutoAccuracy if class_name == "AutoAccuracy" else _CLASSES[class_name]
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """Resolve a metric identifier to a ``Metric`` whose ``name`` is the History key.

    Args:
        identifier: one of

            - ``"accuracy"`` / ``"acc"`` (any case): an ``AutoAccuracy`` that becomes
              binary, sparse-categorical or categorical accuracy at its first update;
            - a name: a snake_case metric name (``"binary_accuracy"``,
              ``"mean_squared_error"``), an alias (``"mse"``, ``"mae"``) or a class name
              (``"BinaryAccuracy"``); the metric is named by that string, as Keras's
              compile does;
            - a ``Metric`` instance (returned as is) or class (instantiated);
            - a dict from ``serialize``;
            - a function ``fn(y_true, y_pred)`` returning one value per sample (wrapped in
              a ``MeanMetricWrapper`` named after the function).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: an identifier of another type.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return AutoAccuracy(name=identifier)
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            from minidl import saving  # a registered or custom_objects metric

            custom = saving.lookup(identifier)
            if custom is not None:
                return get(custom)
            raise ValueError(
                f"Unknown metric {identifier!r}. Valid names: {', '.join(_valid_names())}"
            )
        return cls(name=identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"Could not interpret metric identifier {identifier!r} of type "
        f"{type(identifier).__name__}: pass a name such as 'accuracy', a Metric, or a "
        "function fn(y_true, y_pred)"
    )


__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "AutoAccuracy", "MeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "RootMeanSquaredError",
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Hinge",
    "KLDivergence", "Poisson", "accuracy", "binary_accuracy", "categorical_accuracy",
    "sparse_categorical_accuracy", "get", "serialize", "deserialize",
]  # fmt: skip
