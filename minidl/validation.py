"""Checks on what users pass to ``fit``/``evaluate``/``predict``, run once per call.

Every check runs before anything is mutated (no weight, optimizer slot, random stream or
file changes when one fails), and says what was expected, what was received, and what to
do. None of them runs inside the batch loop: the training step itself stays lean.

The NaN/Inf scan of the data reads every element once per call. To skip it (for a huge
dataset you have already cleaned), set ``minidl.validation.CHECK_FINITE = False``.
"""

import math
import numbers

import numpy as np

from minidl.errors import DTypeError, NonFiniteError, ShapeError

# Opt-out of the NaN/Inf scan of the data (it reads every element once per fit call).
CHECK_FINITE = True


def check_batch_size(batch_size, name="batch_size"):
    """``None`` -> 32 (Keras's default); otherwise a positive int."""
    return 32 if batch_size is None else check_positive_int(batch_size, name)


def check_positive_int(value, name):
    """A positive int (``validation_freq``, ...); anything else names the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} "
                        f"{value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_optional_positive_int(value, name):
    """``None``, or a positive int (``steps_per_epoch``, ``validation_batch_size``)."""
    return None if value is None else check_positive_int(value, name)


def check_shuffle(shuffle):
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {type(shuffle).__name__} "
                        f"{shuffle!r}")
    return bool(shuffle)


def check_epochs(epochs, initial_epoch=0):
    """A non-negative int (``epochs=0`` trains nothing and returns an empty History)."""
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be a non-negative integer, got "
                            f"{type(value).__name__} {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(epochs)


def check_verbose(verbose):
    """``"auto"`` -> 1; otherwise 0, 1 or 2."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def check_validation_split(split, validation_data):
    if isinstance(split, bool) or not isinstance(split, numbers.Real) or not 0 <= split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1), got {split!r}")


def as_array(value, name, allow_int=True):
    """``value`` as a NumPy array of numbers, or a DTypeError naming ``name``."""
    if value is None:
        raise ValueError(f"{name} is required, got None")
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    try:
        array = np.asarray(value)
    except ValueError as exc:  # NumPy >= 1.24 refuses ragged nested lists
        raise DTypeError(f"{name} must be a rectangular array of numbers; got a ragged "
                         f"sequence ({exc})") from None
    if array.dtype.kind not in "biuf":
        what = {"O": "object (ragged lists or mixed types?)", "U": "string", "S": "bytes",
                "c": "complex"}.get(array.dtype.kind, str(array.dtype))
        raise DTypeError(f"{name} must hold real numbers, got dtype {array.dtype} ({what}); "
                         "convert it with np.asarray(..., dtype='float32') after checking "
                         "the values")
    return array


def _check_finite(array, name, original=None):
    """NonFiniteError with the count and the first position of NaN/Inf in ``array``.

    ``original`` is the array before a cast to the model's dtype: a value like 1e300 is
    finite in float64 but Inf in float32, and the message then shows what it was.
    """
    if not CHECK_FINITE or array.dtype.kind != "f":
        return
    # Fast and without a temporary array: a sum is NaN/Inf if any element is. A finite sum
    # clears the data; only a non-finite one (a bad value, or a sum that overflowed) needs
    # the element-by-element look below. (For MNIST: 47M values, no 47 MB mask.)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    count = int(bad.sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    value = array[first]
    if original is not None and np.isfinite(original[first]):
        what = (f"{original[first]!r}, which overflows {array.dtype} (the model's dtype) to "
                f"{value}")
    else:
        what = f"{value}"
    raise NonFiniteError(
        f"{name} contains {count} NaN/Inf value(s); the first, at index {first}, is {what}. "
        "Clean the data (np.nan_to_num, or drop those rows), or set "
        "minidl.validation.CHECK_FINITE = False to skip this check"
    )


class Data:
    """Checked arrays for one call: ``x``, ``y`` and per-sample weights (or None)."""

    def __init__(self, x, y, sample_weight, name="x"):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.name = name

    def cast(self, dtype):
        """Cast x (and float targets) to the model's float ``dtype`` once, before the batch
        loop, so no step converts dtypes and the weights never change dtype. Integer labels
        stay integers. Returns a new ``Data``; a value that overflows the new dtype raises
        NonFiniteError."""
        dtype = np.dtype(dtype)
        x, y = self.x, self.y
        if x.dtype != dtype:
            with np.errstate(over="ignore"):  # overflow is reported just below
                x = x.astype(dtype)
            if x.dtype.itemsize < self.x.dtype.itemsize or self.x.dtype.kind != "f":
                _check_finite(x, self.name, self.x)
        if y is not None and y.dtype.kind == "f" and y.dtype != dtype:
            with np.errstate(over="ignore"):
                y = y.astype(dtype)
            _check_finite(y, _targets_name(self.name), self.y)
        return Data(x, y, self.sample_weight, self.name)

    def batch(self, index):
        """One batch: ``(x, y, sample_weight)`` rows at ``index`` (a slice or indices)."""
        xb = self.x[index]
        yb = None if self.y is None else self.y[index]
        sw = None if self.sample_weight is None else self.sample_weight[index]
        return xb, yb, sw

    def split(self, fraction):
        """(train, validation): the last ``n - floor(n·(1 - fraction))`` samples validate,
        taken before any shuffling (Keras's rule)."""
        n = len(self.x)
        at = int(math.floor(n * (1.0 - fraction)))
        if at == 0 or at == n:
            raise ValueError(
                f"validation_split={fraction} leaves {at} training and {n - at} validation "
                f"samples out of {n}; both parts need at least one sample"
            )

        def part(s, name):  # type(self): a MultiData (several inputs/outputs) splits too
            return type(self)(self.x[s], None if self.y is None else self.y[s],
                              None if self.sample_weight is None else self.sample_weight[s],
                              name)

        return part(slice(0, at), self.name), part(slice(at, n), "validation_split")


def _is_array_like(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _model_input_count(model):
    """How many inputs ``model`` takes (1 unless it lists several in ``model.inputs``)."""
    inputs = getattr(model, "inputs", None)
    return len(inputs) if isinstance(inputs, (list, tuple)) and inputs else 1


def check_not_several_arrays(model, x, y, name="x", targets_expected=True):
    """Catch two mistakes before ``x`` becomes one stacked array.

    - ``fit((x, y))``: the targets packed into ``x`` with no ``y`` (NumPy would stack or
      refuse the two as one ragged array);
    - ``fit([x1, x2], y)`` on a model with one input: Keras would train on the first
      array with only a warning; NumPy would stack them into ``len(list)`` "samples".

    A list of nested lists of numbers (plain data) is not affected: only a list or tuple
    whose items are arrays or tensors is.

    Raises:
        ValueError: either mistake, saying what was received and what to pass instead.
    """
    if not isinstance(x, (list, tuple)) or not x or not all(_is_array_like(a) for a in x):
        return
    shapes = ", ".join(str(tuple(a.shape)) for a in x)
    if targets_expected and y is None and len(x) in (2, 3) and name == "x":
        kind = "(x, y)" if len(x) == 2 else "(x, y, sample_weight)"
        raise ValueError(
            f"x is a {type(x).__name__} of {len(x)} arrays with shapes {shapes} and y is "
            f"missing: it looks like a {kind} tuple given as x. Pass them separately, "
            "model.fit(x, y), or yield such tuples from a generator or a "
            "keras.utils.PyDataset"
        )
    n_inputs = _model_input_count(model)
    if len(x) != n_inputs:
        inputs = "one input" if n_inputs == 1 else f"{n_inputs} inputs"
        raise ValueError(
            f"model '{getattr(model, 'name', '?')}' has {inputs}, but {name} is a "
            f"{type(x).__name__} of {len(x)} "
            f"arrays (shapes {shapes}); pass one array for a one-input model "
            f"({name}={name}[0]?), or build a model with {len(x)} inputs "
            "(keras.Input per input, then keras.Model(inputs=[...], outputs=...))"
        )


def check_fit_data(model, x, y, sample_weight=None, class_weight=None, name="x"):
    """Check x, y and weights together; returns a ``Data``."""
    check_not_several_arrays(model, x, y, name)
    x = as_array(x, name)
    y_name = _targets_name(name)
    if y is None:
        raise ValueError(f"{y_name} is required: pass the targets along with {name}")
    y = as_array(y, y_name)
    if x.ndim == 0:
        raise ShapeError(f"{name} must have a batch axis, got a scalar")
    if len(x) == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={x.shape}) in {name}, while a "
                         "minimum of 1 is required")
    if y.ndim == 0 or len(y) != len(x):
        got = "a scalar" if y.ndim == 0 else f"{len(y)}"
        raise ShapeError(f"{name} has {len(x)} samples but {y_name} has {got}; "
                         "they must have the same length")
    _check_finite(x, name)
    _check_finite(y, y_name)
    if sample_weight is not None:
        sample_weight = as_array(sample_weight, "sample_weight").astype(np.float64)
        if sample_weight.shape != (len(x),):
            raise ShapeError(f"sample_weight must have shape ({len(x)},), got "
                             f"{sample_weight.shape}")
        _check_finite(sample_weight, "sample_weight")
    return apply_class_weight(Data(x, y, sample_weight, name), class_weight)


def apply_class_weight(data, class_weight):
    """``data`` with each sample's weight multiplied by its class's weight (Keras's
    ``class_weight``; only ever applied to training data, never to validation)."""
    if class_weight is None:
        return data
    cw = class_weights_to_sample_weights(class_weight, data.y)
    weights = cw if data.sample_weight is None else data.sample_weight * cw
    return Data(data.x, data.y, weights, data.name)


def _targets_name(name):
    return "y" if name == "x" else f"{name} targets"


def class_weights_to_sample_weights(class_weight, y):
    """Keras's ``class_weight={class: weight}``: each sample weighs as its class."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    labels = np.round(labels).astype(np.int64)
    weights = np.ones(len(y), dtype=np.float64)
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = float(w)
    return weights


def check_validation_data(model, validation_data):
    """``validation_data`` is ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         f"val_sample_weight), got {type(validation_data).__name__}")
    x, y, *sw = validation_data
    return check_fit_data(model, x, y, sw[0] if sw else None, None, "validation_data")


def check_input_shape(model, shape, name):
    """Feature shape of the data against the model's declared/built input shape."""
    expected = getattr(model, "batch_input_shape", None)
    if expected is None:
        return
    got = tuple(shape)
    if len(got) != len(expected):
        hint = ""
        if len(got) == 1:
            hint = (f"; for a single sample use {name}.reshape(1, -1), for one feature per "
                    f"sample {name}.reshape(-1, 1)")
        elif len(got) > len(expected):
            hint = "; add a Flatten() layer first, or reshape the data"
        raise ShapeError(
            f"model '{model.name}' expects {name} of rank {len(expected)} (shape "
            f"{expected}), got rank {len(got)} with shape {got}{hint}"
        )
    for want, have in zip(expected[1:], got[1:]):
        if want is not None and want != have:
            first = model.layers[0].name if model.layers else model.name
            raise ShapeError(
                f"Input 0 of layer '{first}' is incompatible with the layer: expected shape "
                f"{expected}, but received {name} with shape {(None, *got[1:])}"
            )


def check_against_model(model, data, name):
    """Shapes of x against the model and of y against its output and loss."""
    check_input_shape(model, data.x.shape, name)
    out = getattr(model, "output_shape", None)
    if out is None or data.y is None:
        return
    y = data.y
    n_out = out[-1]
    label = _targets_name(name)
    loss_fn = getattr(model, "loss_fn", None)
    one_target_per_sample = y.ndim == 1 or (
        y.ndim == 2 and (y.shape[1] == 1 or not is_sparse_loss(loss_fn)))
    if len(out) > 2 and one_target_per_sample:
        # The model kept a spatial or sequence axis (a Dense on (None, 28, 28) acts on the
        # last axis only): the labels are fine, the output has the wrong rank.
        raise ShapeError(
            f"the model's output has shape {tuple(out)}, but {label} has shape {y.shape}: "
            f"one target per sample needs an output of shape (None, "
            f"{'n_classes' if n_out is None else n_out}). The output still has the axes "
            f"{tuple(out[1:-1])} of the input; add a Flatten() layer before the last Dense "
            "layer (or a pooling layer), or reshape the data"
        )
    if is_sparse_loss(loss_fn):
        if n_out == 1:
            raise ValueError(
                f"sparse_categorical_crossentropy needs one output unit per class, but the "
                f"model's output {tuple(out)} has a single unit, so the only valid label is 0. "
                "For two classes with one sigmoid unit use loss='binary_crossentropy'; or "
                "give the last layer one unit per class: Dense(n_classes, "
                "activation='softmax')"
            )
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise DTypeError(
                f"sparse_categorical_crossentropy expects integer class labels in {label}, "
                f"got non-integer floats (dtype {y.dtype}); for one-hot targets use "
                "loss='categorical_crossentropy'"
            )
        per_sample = tuple(y.shape[1:])
        if per_sample not in (tuple(out[1:-1]), (*out[1:-1], 1)):
            hint = " (one-hot?)" if y.shape[-1] == n_out and n_out > 1 else ""
            raise ShapeError(
                f"sparse_categorical_crossentropy expects {label} of integer labels with shape "
                f"{(len(y), *out[1:-1])}, got shape {y.shape}{hint}; use "
                "loss='categorical_crossentropy' for one-hot targets, or y.argmax(-1)"
            )
        flat = y.reshape(-1)
        bad = np.flatnonzero((flat < 0) | (flat >= n_out))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"label {flat[i]:g} at index {i} is outside the valid range [0, {n_out}): "
                f"{label} must hold class indices below {n_out}, the number of outputs of "
                "the model's last layer"
            )
    elif is_categorical_loss(loss_fn):
        if y.shape[-1] != n_out or y.ndim != len(out):
            raise ShapeError(
                f"categorical_crossentropy expects one-hot {label} of shape (n, {n_out}) "
                f"to match the model's output {out}, got {y.shape}; for integer labels use "
                "loss='sparse_categorical_crossentropy' or utils.to_categorical(y)"
                + (f"; for {y.shape[-1]} classes give the last layer {y.shape[-1]} units: "
                   f"Dense({y.shape[-1]}, activation='softmax')"
                   if y.ndim == len(out) and y.shape[-1] != n_out else "")
            )
        if n_out == 1:
            raise ValueError(
                "categorical_crossentropy on a model with a single output unit: the class "
                "probabilities over one unit always sum to 1.0 by themselves, so the loss is "
                "0 and nothing trains. For two "
                "classes use one sigmoid unit with loss='binary_crossentropy', or one unit "
                "per class: Dense(n_classes, activation='softmax')"
            )
    elif is_elementwise_loss(loss_fn):
        # NOTE: NumPy would broadcast y of shape (n, 3) against outputs (n, 1) into an
        # (n, 3) loss without a word (Keras does too): a silent wrong result. Only a
        # trailing axis of size 1 may differ, as Keras squeezes it.
        got, want = tuple(y.shape[1:]), tuple(out[1:])
        if got != want and (*got, 1) != want and got != (*want, 1):
            raise ShapeError(
                f"loss '{_loss_name(loss_fn)}' compares {label} with the model's output "
                f"element by element, but {label} has shape {y.shape} and the output "
                f"{(None, *want)}; they must match (a trailing axis of size 1 may differ)"
                + (f"; for {got[-1]} targets per sample give the last layer {got[-1]} units"
                   if len(got) == len(want) and got[:-1] == want[:-1] else "")
            )


def _loss_name(loss_fn):
    if loss_fn is None:
        return ""
    return (getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", None)
            or type(loss_fn).__name__).lower()


def is_sparse_loss(loss_fn):
    return "sparse_categorical" in _loss_name(loss_fn) or type(loss_fn).__name__ == (
        "SparseCategoricalCrossentropy")


def is_elementwise_loss(loss_fn):
    """True for minidl's built-in losses that compare y and y_pred element by element
    (mse, mae, binary_crossentropy, hinge, ...); a user's own function may do anything."""
    cls = type(loss_fn)
    return (cls.__module__ == "minidl.losses"
            and cls.__name__ not in ("LossFunctionWrapper", "Crossentropy")
            and not is_sparse_loss(loss_fn) and not is_categorical_loss(loss_fn))


def is_categorical_loss(loss_fn):
    name = _loss_name(loss_fn)
    return ("categorical_crossentropy" in name and "sparse" not in name) or type(
        loss_fn).__name__ == "CategoricalCrossentropy"


def check_predict_data(model, x):
    """x for ``predict``: numeric, with a batch axis.

    NOTE: no NaN/Inf scan here (unlike fit/evaluate): predict changes nothing, and a NaN in
    the input shows as NaN in that sample's output, as in Keras; the scan would cost a
    full pass over the data (about a tenth of predict's time on MNIST).
    """
    check_not_several_arrays(model, x, None, "x", targets_expected=False)
    x = as_array(x, "x")
    if x.ndim == 0:
        raise ShapeError("x must have a batch axis, got a scalar")
    return x
