"""Keras-style callbacks: hooks that ``fit``, ``evaluate`` and ``predict`` call as they run.

The training loop calls, in this order (as Keras 3's trainer does)::

    callbacks = CallbackList(user_callbacks, add_history=True, add_progbar=verbose != 0,
                             model=model, verbose=verbose, epochs=epochs, steps=steps)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            ...                                     # one optimizer step
            callbacks.on_train_batch_end(step, logs)   # logs: running means of this epoch
        callbacks.on_epoch_end(epoch, epoch_logs)      # epoch means, plus val_* if validating
        if model.stop_training:
            break
    callbacks.on_train_end(epoch_logs)

``evaluate`` calls ``on_test_begin``, ``on_test_batch_begin/end`` and ``on_test_end``;
``predict`` the ``on_predict_*`` twins. ``epoch`` and ``batch`` are 0-based, as in Keras;
messages and file names show epochs 1-based (``Epoch 3/10``, ``{epoch:02d}`` -> ``03``).

Callbacks that watch a quantity (``EarlyStopping``, ``ModelCheckpoint``,
``ReduceLROnPlateau``) decide from its name whether lower or higher is better when
``mode="auto"`` (see ``infer_mode``). Where Keras silently falls back to ``"auto"`` for an
unknown ``mode`` string, minidl raises a ``ValueError`` that lists the valid modes.
"""

import csv
import inspect
import math
import numbers
import os
import warnings

import numpy as np

from minidl.progbar import Progbar

_MODES = ("auto", "min", "max")

# Name fragments of quantities that are better when higher / lower. Keras 3 reads the
# direction from the compiled metric objects; these tables give the same answers for the
# built-in metrics when the model cannot say (Keras 2 used the "acc" test alone).
_LOSS_LIKE = ("loss", "crossentropy", "error")  # checked first: "layer2_loss" is a loss
_HIGHER_IS_BETTER = (
    "acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2_score",
    "cosine_similarity", "specificity", "sensitivity",
)  # fmt: skip
_LOWER_IS_BETTER = (
    "mse", "mae", "mape", "msle", "hinge", "kl_divergence", "kld", "poisson", "logcosh",
    "log_cosh",
)  # fmt: skip


def infer_mode(monitor, model=None):
    """Whether ``monitor`` should be minimised (``"min"``) or maximised (``"max"``).

    The ``val_`` prefix is ignored. ``loss`` is minimised. Then a metric object on
    ``model.metrics`` with this name and a ``direction`` (or Keras's ``_direction``) of
    ``"up"``/``"down"`` decides; then the name: ``accuracy``, ``auc``, ``precision``... are
    maximised, ``mse``, ``mae``, ``*_crossentropy``, ``*_error``... are minimised.

    Args:
        monitor: The name of the monitored quantity, e.g. ``"val_accuracy"``.
        model: Optional model whose ``metrics`` may carry directions.

    Returns:
        ``"min"``, ``"max"``, or ``None`` when the name says nothing.

    >>> infer_mode("val_loss"), infer_mode("val_accuracy"), infer_mode("mean_squared_error")
    ('min', 'max', 'min')
    """
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    for metric in _model_metrics(model):
        if getattr(metric, "name", None) == name:
            direction = getattr(metric, "direction", getattr(metric, "_direction", None))
            if direction in ("up", "down"):
                return "max" if direction == "up" else "min"
    lowered = name.lower()
    if any(fragment in lowered for fragment in _LOSS_LIKE):
        return "min"
    if any(fragment in lowered for fragment in _HIGHER_IS_BETTER):
        return "max"
    if any(fragment in lowered for fragment in _LOWER_IS_BETTER):
        return "min"
    return None


def _model_metrics(model):
    """The metric objects of ``model`` (containers with a ``.metrics`` list are unpacked)."""
    metrics = getattr(model, "metrics", None)
    if not isinstance(metrics, (list, tuple)):
        return []
    found = []
    for metric in metrics:
        inner = getattr(metric, "metrics", None)
        found.extend(inner if isinstance(inner, (list, tuple)) else [metric])
    return found


def _check_mode(owner, mode):
    if mode not in _MODES:
        raise ValueError(
            f"{owner} got mode={mode!r}; expected one of {', '.join(map(repr, _MODES))} "
            "('min': lower is better, 'max': higher is better, 'auto': decide from the name)."
        )


def _copy_weights(weights):
    """An independent snapshot: later in-place updates must not change saved weights."""
    return [np.array(w, copy=True) for w in weights]


class Callback:
    """Base class of callbacks: override the hooks you need; the others do nothing.

    Attributes:
        model: The model being trained, set by ``set_model`` (``None`` until then).
        params: Dict of the run's parameters, set by ``set_params``: ``verbose``, ``epochs``
            and ``steps`` (steps per epoch, ``None`` if unknown).

    Example:

    >>> class PrintEpoch(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch} loss {logs['loss']:.2f}")
    >>> PrintEpoch().on_epoch_end(0, {"loss": 0.25})
    epoch 0 loss 0.25
    """

    def __init__(self):
        self.model = None
        self.params = None

    def set_params(self, params):
        """Store the run's parameters (``verbose``, ``epochs``, ``steps``)."""
        self.params = params

    def set_model(self, model):
        """Store the model the callback acts on."""
        self.model = model

    # Epoch hooks: fit only.
    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of epoch ``epoch`` (0-based) in ``fit``."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with its metrics (``val_*`` included) in ``logs``."""

    # Whole-run hooks.
    def on_train_begin(self, logs=None):
        """Called once at the start of ``fit``."""

    def on_train_end(self, logs=None):
        """Called once at the end of ``fit``, with the last epoch's logs."""

    def on_test_begin(self, logs=None):
        """Called at the start of ``evaluate`` (and of each validation run in ``fit``)."""

    def on_test_end(self, logs=None):
        """Called at the end of ``evaluate`` with the final metrics."""

    def on_predict_begin(self, logs=None):
        """Called at the start of ``predict``."""

    def on_predict_end(self, logs=None):
        """Called at the end of ``predict``."""

    # Batch hooks; ``logs`` at a batch end holds the running means of the current epoch.
    def on_batch_begin(self, batch, logs=None):
        """Older name of ``on_train_batch_begin`` (still called by it, as in Keras)."""

    def on_batch_end(self, batch, logs=None):
        """Older name of ``on_train_batch_end`` (still called by it, as in Keras)."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch`` with the epoch's running metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before an ``evaluate`` (or validation) batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after an ``evaluate`` (or validation) batch with the running metrics."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before a ``predict`` batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after a ``predict`` batch."""


def _flatten_callbacks(callbacks):
    """A flat list from ``None``, one callback, or (nested) lists/tuples of callbacks."""
    if callbacks is None:
        return []
    if isinstance(callbacks, (list, tuple)):
        flat = []
        for item in callbacks:
            flat.extend(_flatten_callbacks(item))
        return flat
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, type) and issubclass(callbacks, Callback):
        raise TypeError(
            f"callbacks got the class {callbacks.__name__}, not an instance: "
            f"pass {callbacks.__name__}(...) instead."
        )
    raise TypeError(
        f"callbacks must be Callback instances, got {callbacks!r} of type "
        f"{type(callbacks).__name__}: subclass minidl.callbacks.Callback, or wrap a function "
        "in LambdaCallback(on_epoch_end=...)."
    )


def _pythonify_logs(logs):
    """Logs as Keras 3 hands them to batch hooks: keys sorted, numbers as Python floats,
    nested dicts flattened."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass  # Non-numeric entries pass through unchanged, as in Keras.
        result[key] = value
    return result


def _keras_log_order(logs):
    """A copy of ``logs`` in the order Keras 3's ``fit``/``evaluate`` produce: the training
    names sorted, then the ``val_*`` names sorted. It decides the column order of the
    ``verbose=2`` line and the key order of ``History.history``."""
    logs = logs or {}
    train = sorted(k for k in logs if not k.startswith("val_"))
    val = sorted(k for k in logs if k.startswith("val_"))
    return {k: logs[k] for k in train + val}


class CallbackList(Callback):
    """Calls every hook on a list of callbacks, in order.

    Args:
        callbacks: A callback, a list of them, or ``None``.
        add_history: Append a ``History`` callback unless the list already has one.
        add_progbar: Append a ``ProgbarLogger`` unless the list already has one.
        model: The model to hand to every callback (``model.history`` is set to the
            ``History`` callback, as in Keras).
        **params: The run's parameters (``verbose``, ``epochs``, ``steps``) handed to every
            callback's ``set_params``.

    Raises:
        TypeError: If an entry is not a ``Callback`` instance.

    Attributes:
        callbacks: The list, user callbacks first, then ``History``, then ``ProgbarLogger``
            (so the bar prints what the other callbacks added to ``logs``).
        history: The ``History`` callback, or ``None``; ``fit`` returns it.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten_callbacks(callbacks)
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self.progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if self.progbar is None and add_progbar:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        """Add one more callback (it gets the list's model and params)."""
        (callback,) = _flatten_callbacks(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def implements(self, *hooks):
        """True if some callback does something in one of ``hooks`` (its own method, or a
        function set on it as LambdaCallback does), rather than ``Callback``'s no-op."""
        return any(getattr(getattr(callback, hook), "__func__", None)
                   is not getattr(Callback, hook)
                   for callback in self.callbacks for hook in hooks)

    def __len__(self):
        return len(self.callbacks)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        self.model = model
        if self.history is not None:
            model.history = self.history
        for callback in self.callbacks:
            callback.set_model(model)

    # Keras passes run and epoch logs positionally and batch logs by keyword; user code
    # (LambdaCallback functions in particular) may rely on either, so the same is done here.
    # All callbacks of one hook share one ``logs`` dict, so what one callback adds
    # (LearningRateScheduler's ``learning_rate``) reaches History and the progress bar.
    # Epoch and evaluation logs are handed over as a copy in Keras's key order, whatever
    # order the caller built them in; the caller's dict is left untouched.
    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _call_batch(self, hook, batch, logs):
        for callback in self.callbacks:
            getattr(callback, hook)(batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, _keras_log_order(logs))

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs or {})

    def on_train_end(self, logs=None):
        self._call("on_train_end", {} if logs is None else logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs or {})

    def on_test_end(self, logs=None):
        self._call("on_test_end", _keras_log_order(logs))

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs or {})

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", {} if logs is None else logs)

    def on_batch_begin(self, batch, logs=None):
        self._call_batch("on_batch_begin", batch, logs or {})

    def on_batch_end(self, batch, logs=None):
        self._call_batch("on_batch_end", batch, _pythonify_logs(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._call_batch("on_train_batch_begin", batch, logs or {})

    def on_train_batch_end(self, batch, logs=None):
        self._call_batch("on_train_batch_end", batch, _pythonify_logs(logs))

    def on_test_batch_begin(self, batch, logs=None):
        self._call_batch("on_test_batch_begin", batch, logs or {})

    def on_test_batch_end(self, batch, logs=None):
        self._call_batch("on_test_batch_end", batch, _pythonify_logs(logs))

    def on_predict_batch_begin(self, batch, logs=None):
        self._call_batch("on_predict_batch_begin", batch, logs or {})

    def on_predict_batch_end(self, batch, logs=None):
        # Prediction logs hold output arrays: handed over untouched, as in Keras.
        self._call_batch("on_predict_batch_end", batch, logs or {})


class History(Callback):
    """Records the logs of every epoch; ``fit`` returns this object.

    Attributes:
        history: Dict from each log name (``loss``, ``accuracy``, ``val_loss``...) to the
            list of its values, one per epoch.
        epoch: The 0-based indices of the epochs recorded.
        params: The run's parameters (``verbose``, ``epochs``, ``steps``).
        model: The model trained.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self  # As Keras: the latest History is the model's.


class ProgbarLogger(Callback):
    """Prints progress to stdout: the bar of ``fit(verbose=1)``, the epoch lines of
    ``verbose=2``.

    Added by ``fit``/``evaluate``/``predict`` when ``verbose != 0``. It prints
    ``Epoch i/N`` before each epoch when ``N > 1``, then feeds a ``Progbar`` with the batch
    logs (verbose 1) and finishes it with the epoch logs, validation metrics included.
    Validation inside ``fit`` is not shown separately. Logs are already running means, so the
    bar shows them as given (Keras 3 releases before keras-team/keras#23030 averaged them a
    second time during the epoch, so mid-epoch values there can differ slightly; the final
    line of each epoch is the same either way).
    """

    def __init__(self):
        super().__init__()
        self.progbar = None
        self.seen = 0
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(
                target=self.target, verbose=self.verbose, unit_name="step", stateless_metrics=()
            )

    def _update_progbar(self, batch, logs):
        self._maybe_init_progbar()
        self.seen = batch + 1  # The bar counts steps done: batch 0 done is step 1.
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:  # Steps were unknown: now we know them.
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # Validation runs inside fit stay silent.

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # Predictions are arrays, not metrics to print.

    def on_predict_end(self, logs=None):
        self._finalize_progbar(None)


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    At the end of each epoch (from ``start_from_epoch`` on), the value ``current`` of
    ``monitor`` is an improvement when ``current < best - min_delta`` (``mode="min"``) or
    ``current > best + min_delta`` (``mode="max"``); the first value always is. ``wait``
    counts the epochs since the last improvement that also beat ``baseline``; when it
    reaches ``patience`` (and the epoch is not the first), ``model.stop_training`` is set.

    Args:
        monitor: Name of the quantity to watch, e.g. ``"val_loss"``, ``"val_accuracy"``.
        min_delta: Smallest change that counts as an improvement (its absolute value is used).
        patience: Epochs without improvement after which training stops.
        verbose: 1 prints ``Epoch 7: early stopping`` and the restore message.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (from the name; see ``infer_mode``).
        baseline: If given, training stops after ``patience`` epochs unless the quantity
            improves on this value.
        restore_best_weights: Put the weights of the best epoch back at the end of training,
            whether or not training was stopped early (Keras 3 behaviour).
        start_from_epoch: Epochs to wait before watching (a warm-up period).

    Raises:
        ValueError: For an unknown ``mode``, a negative ``patience`` or ``start_from_epoch``,
            or (at the first epoch end) when ``mode="auto"`` cannot tell the direction.

    Example:

    >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        _check_mode("EarlyStopping", mode)
        if patience < 0:
            raise ValueError(f"EarlyStopping patience must be >= 0 epochs, got {patience!r}.")
        if start_from_epoch < 0:
            raise ValueError(
                f"EarlyStopping start_from_epoch must be >= 0, got {start_from_epoch!r}."
            )
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._direction = None  # "min" or "max", resolved at the first epoch end.
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        # Reset, so one instance can serve several fit calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _resolve_direction(self):
        direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        if direction is None:
            raise ValueError(
                f"EarlyStopping got monitor={self.monitor!r} with mode='auto', and cannot tell "
                "whether it should be maximised or minimised. Pass mode='max' to stop on the "
                "highest value, or mode='min' for the lowest."
            )
        self._direction = direction

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        # The value must beat the reference by more than min_delta.
        if self._direction == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        if self._direction is None:
            self._resolve_direction()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs or {})}",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first watched epoch is the best so far by definition.
            self.best_weights = _copy_weights(self.model.get_weights())
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.model.get_weights())
            # Patience restarts only for a value that beats the baseline as well.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) during training.

    The path may hold ``str.format`` fields filled from ``epoch`` (1-based, as Keras),
    ``batch`` (1-based, when saving every N batches) and the logs:
    ``"ckpt/{epoch:02d}-{val_loss:.2f}.keras"`` -> ``ckpt/03-0.12.keras``. Missing folders
    are created.

    Args:
        filepath: Where to save (``str`` or ``os.PathLike``), possibly with format fields.
        monitor: Quantity compared when ``save_best_only=True``.
        verbose: 1 prints a line each time the callback saves or declines to.
        save_best_only: Save only when ``monitor`` improves on the best value so far.
        save_weights_only: Call ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see ``infer_mode``).
        save_freq: ``"epoch"``, or an integer N: save after every N training batches.
        initial_value_threshold: Starting "best" value: nothing is saved until ``monitor``
            beats it (with ``save_best_only=True``).

    Raises:
        ValueError: For an unknown ``mode`` or ``save_freq``, or when ``mode="auto"``
            cannot tell the direction of ``monitor``.
        KeyError: When the path names a field the logs do not have.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        _check_mode("ModelCheckpoint", mode)
        valid_freq = save_freq == "epoch" or (
            isinstance(save_freq, numbers.Integral)
            and not isinstance(save_freq, bool)
            and save_freq > 0
        )
        if not valid_freq:
            raise ValueError(
                f"ModelCheckpoint got save_freq={save_freq!r}; expected 'epoch' or a positive "
                "integer number of batches."
            )
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._direction = None
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch_seen = -1

    def _resolve_direction(self):
        direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        if direction is None:
            raise ValueError(
                f"ModelCheckpoint got monitor={self.monitor!r} with mode='auto', and cannot "
                "tell whether it should be maximised or minimised. Pass mode='max' or "
                "mode='min'."
            )
        self._direction = direction
        if self.best is None:
            self.best = math.inf if direction == "min" else -math.inf

    def _is_improvement(self, value):
        return value < self.best if self._direction == "min" else value > self.best

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # A batch index that does not grow means a new epoch began.
        steps = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._last_batch_seen = batch
        self._batches_since_save += steps
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._direction is None:
            self._resolve_direction()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f"ModelCheckpoint cannot fill the field {error} of filepath "
                f"{self.filepath!r}: the available fields are {', '.join(sorted(fields))}."
            ) from None

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        if self._direction is None:  # A batch-level save before the first epoch end.
            self._resolve_direction()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available; saving anyway. "
                f"Available metrics are: {','.join(logs or {})}",
                stacklevel=3,
            )
            return True
        best_text = f"{self.best:.5f}"
        if self._is_improvement(current):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save(self, epoch, batch, logs):
        path = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"ModelCheckpoint filepath {path!r} is an existing folder: give a file name "
                "inside it, e.g. os.path.join(folder, 'model.keras')."
            )
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite.

    minidl's ``fit`` does not apply the step whose loss is not finite, so the weights are
    those after the last step with a finite loss (they may already be extreme); combine
    with ``EarlyStopping(restore_best_weights=True)`` or ``ModelCheckpoint`` to keep good
    weights.

    Args:
        raise_error: If True, raise ``RuntimeError`` at once instead of setting
            ``model.stop_training`` (then ``on_train_end`` hooks do not run).
        detect_anomaly: If True, train under ``minidl.debug.detect_anomaly(raise_error=
            False)`` (slow) and, when the loss turns non-finite, report the op that made
            the first NaN/Inf, the line of code that created it and its inputs' ranges.
    """

    def __init__(self, raise_error=False, detect_anomaly=False):
        super().__init__()
        self.raise_error = raise_error
        self.detect_anomaly = detect_anomaly
        self._detector = None

    def on_train_begin(self, logs=None):
        if self.detect_anomaly:
            from minidl import debug

            self._detector = debug.detect_anomaly(raise_error=False).__enter__()

    def on_train_end(self, logs=None):
        if self._detector is not None:
            self._detector.__exit__(None, None, None)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        origin = ""
        if self._detector is not None and self._detector.anomaly is not None:
            origin = f"\nThe first non-finite value: {self._detector.anomaly}"
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                f"Terminating training immediately.{origin}"
            )
        print(f"Batch {batch}: Invalid loss, terminating training{origin}")
        self.model.stop_training = True


def _learning_rate(model, owner):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"{owner} needs model.optimizer.learning_rate; got optimizer {optimizer!r}. "
            "Call model.compile(optimizer=...) first."
        )
    return float(optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when a quantity stops improving.

    An epoch improves when ``current < best - min_delta`` (``mode="min"``) or
    ``current > best + min_delta`` (``"max"``). After ``patience`` epochs without
    improvement, ``lr <- max(lr * factor, min_lr)``; then ``cooldown`` epochs pass during
    which no reduction happens and the count of bad epochs stays at zero. The learning rate
    is added to the epoch logs as ``learning_rate`` (so ``History`` records it).

    Args:
        monitor: Quantity to watch.
        factor: Multiplier of the learning rate, in ``[0, 1)``.
        patience: Epochs without improvement before a reduction.
        verbose: 1 prints a message at each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name; unknown names count as
            ``"min"`` here, as in Keras).
        min_delta: Threshold of a significant change.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: Lower bound of the learning rate.

    Raises:
        ValueError: If ``factor`` is not in ``[0, 1)`` or ``mode`` is unknown.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        if not 0.0 <= factor < 1.0:
            raise ValueError(
                f"ReduceLROnPlateau factor must be in [0, 1) (new_lr = lr * factor), got "
                f"factor={factor!r}."
            )
        _check_mode("ReduceLROnPlateau", mode)
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        self._direction = direction or "min"
        self.best = math.inf if self._direction == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        """Whether a recent reduction still suspends the counting."""
        return self.cooldown_counter > 0

    def _is_improvement(self, current):
        if self._direction == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = _learning_rate(self.model, "ReduceLROnPlateau")
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = logs["learning_rate"]
        # Compared in float32, as Keras does, so a float32 copy of min_lr counts as reached.
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from ``schedule(epoch, lr)``.

    Args:
        schedule: Function of the 0-based epoch index and the current learning rate that
            returns the new learning rate; a one-argument ``schedule(epoch)`` also works.
        verbose: 1 prints the new learning rate at each epoch.

    Raises:
        ValueError: At an epoch start, if ``schedule`` returns something other than a
            finite number >= 0.

    Example:

    >>> def halve_after_ten(epoch, lr):
    ...     return lr if epoch < 10 else lr * 0.5
    >>> scheduler = LearningRateScheduler(halve_after_ten)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler schedule must be a function (epoch, lr) -> lr, got "
                f"{schedule!r}."
            )
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        lr = _learning_rate(self.model, "LearningRateScheduler")
        new_lr = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        is_number = isinstance(new_lr, numbers.Real) and not isinstance(new_lr, bool)
        if not is_number or not math.isfinite(new_lr) or new_lr < 0:
            raise ValueError(
                f"The schedule of LearningRateScheduler returned {new_lr!r} at epoch {epoch}; "
                "it must return the learning rate as a finite float >= 0."
            )
        self.model.optimizer.learning_rate = float(new_lr)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{float(new_lr)}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model, "LearningRateScheduler")


def _accepts_two_arguments(function):
    """Whether ``function(epoch, lr)`` is a valid call (else it is ``function(epoch)``).

    Keras tries the two-argument call and falls back on ``TypeError``, which also hides
    TypeErrors raised inside the schedule; reading the signature avoids that.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # Some builtins have no signature: assume the new API.
        return True
    try:
        signature.bind(0, 0.0)
    except TypeError:
        return False
    return True


class CSVLogger(Callback):
    """Streams the logs of every epoch to a CSV file, as Keras does.

    The header is ``epoch`` then the log names in sorted order (plus any ``val_*`` name in
    ``model.metrics_names`` not yet seen); ``epoch`` is 0-based; a missing value is written
    ``NA``. Rows use Python's ``csv`` "excel" dialect, so lines end in ``\\r\\n`` like
    Keras's files.

    Args:
        filename: Path of the CSV file.
        separator: Field separator.
        append: Append to an existing file (no second header) instead of overwriting it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.csv_file = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        if self.append:
            self._write_header = not (
                os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
            )
        else:
            self._write_header = True
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        # newline="": the csv module writes its own line endings.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            for name in getattr(self.model, "metrics_names", None) or []:
                if name.startswith("val_") and name not in self.keys:
                    self.keys.append(name)
        if self.writer is None:
            self.writer = csv.writer(self.csv_file, dialect="excel", delimiter=self.sep)
            if self._write_header:
                self.writer.writerow(["epoch", *self.keys])
        self.writer.writerow([epoch, *(_csv_value(logs.get(key, "NA")) for key in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """Strings and scalars as they are; a 1-D iterable as the text ``"[a, b, c]"``."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, value))}]"


_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """A callback built from plain functions, for quick one-off hooks.

    Functions are called as the loop calls the hooks: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``. Any other
    hook of ``Callback`` (``on_test_end=...``, ``on_predict_batch_end=...``) can be given by
    keyword.

    Raises:
        TypeError: For a keyword that is not a hook name, or a hook that is not callable.

    Example:

    >>> losses = []
    >>> record = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    >>> record.on_epoch_end(0, {"loss": 0.5}); losses
    [0.5]
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook name(s) {', '.join(unknown)}; valid hooks: "
                f"{', '.join(_HOOKS)}."
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback {name} must be callable, got {function!r}.")
            setattr(self, name, function)  # The instance attribute replaces the hook.


# TensorBoard lives in its own file: it needs the optional `tensorboard` package.
from minidl.tensorboard_logger import TensorBoard  # noqa: E402

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
    "TensorBoard",
    "infer_mode",
]
