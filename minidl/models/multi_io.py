"""Data, losses and metrics for models with several inputs or outputs.

A one-input, one-output model takes its data as arrays and keeps ``Model``'s plain path.
A model with several inputs or outputs takes lists (in the order of ``model.inputs`` /
``model.outputs``) or dicts (keyed by input names and output names) and compiles a loss
and metrics per output, as Keras does:

- ``compile(loss="mse")`` applies one loss to every output; a list gives one per output,
  a dict one per output name (an output left out gets no loss);
- the training loss is ``sum(loss_weights[i] * loss_i)`` plus the layers' penalties;
- History and ``evaluate(return_dict=True)`` name each output's loss ``<output>_loss`` and
  each metric ``<output>_<metric>``, next to the total ``loss``.
"""

import numpy as np

from minidl import validation
from minidl.errors import ShapeError


class Columns:
    """Several arrays with the same number of samples, sliced together: ``len`` is the
    number of samples and ``columns[index]`` takes the same rows of every array (the data
    of a model with several inputs or outputs, for the batch loop)."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return Columns([a[index] for a in self.arrays])

    @property
    def shape(self):
        return [a.shape for a in self.arrays]


class MultiData(validation.Data):
    """``validation.Data`` for several inputs/outputs: x and y are ``Columns`` (``split``
    is Data's)."""

    def cast(self, dtype):
        """Float arrays cast once to the model's float dtype (integer labels and integer
        inputs stay integers)."""
        def cast(columns, names):
            if columns is None:
                return None
            out = []
            for a, name in zip(columns.arrays, names):
                if a.dtype.kind == "f" and a.dtype != dtype:
                    b = a.astype(dtype)
                    validation._check_finite(b, name, a)
                    a = b
                out.append(a)
            return Columns(out)

        n_x = len(self.x.arrays)
        n_y = 0 if self.y is None else len(self.y.arrays)
        return MultiData(cast(self.x, [f"{self.name}[{i}]" for i in range(n_x)]),
                         cast(self.y, [f"y[{i}]" for i in range(n_y)]),
                         self.sample_weight, self.name)

    def batch(self, index):
        """One batch ``(x, y, sample_weight)``: x as ``Columns``; y as ``Columns`` for
        several outputs, as the one array for a single output."""
        sw = None if self.sample_weight is None else self.sample_weight[index]
        y = None if self.y is None else self.y[index]
        if y is not None and len(y.arrays) == 1:
            y = y.arrays[0]
        return self.x[index], y, sw


def per_output(model, value, what, default=None):
    """``value`` for each output, in output order: a dict keyed by output name, a list
    with one entry per output, or one value for every output.

    Raises:
        ValueError: a dict key that names no output, or a list of the wrong length.
    """
    names = model.output_names
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{what} has keys {unknown} that name no output of model "
                             f"'{model.name}'; its outputs are {names}")
        return [value.get(name, default) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{what} is a list of {len(value)} but model '{model.name}' has "
                             f"{len(names)} outputs {names}; give one per output, or a dict "
                             "keyed by output name")
        return list(value)
    return [value] * len(names)


def flatten_targets(model, y, name):
    """Targets in output order (a list of arrays)."""
    names = model.output_names
    if isinstance(y, dict):
        has_loss = {n: fn is not None for n, fn, _ in model._output_losses or []}
        missing = [k for k in names if k not in y and has_loss.get(k, True)]
        if missing:
            raise ValueError(f"{name} has no targets for output(s) {missing}; model "
                             f"'{model.name}' has outputs {names} (the dict has "
                             f"{sorted(y)})")
        return [y.get(k) for k in names]
    if isinstance(y, (list, tuple)) and len(names) > 1:
        if len(y) != len(names):
            raise ValueError(f"{name} has {len(y)} arrays but model '{model.name}' has "
                             f"{len(names)} outputs {names}")
        return list(y)
    if len(names) > 1:
        raise ValueError(f"model '{model.name}' has {len(names)} outputs {names}: pass "
                         f"{name} as a list or a dict of {len(names)} arrays")
    return [y]


def check_data(model, x, y, sample_weight, class_weight, name="x"):
    """Check the data of a model with several inputs or outputs; returns a ``MultiData``."""
    y_name = "y" if name == "x" else f"{name} targets"
    if class_weight is not None and len(model.output_names) > 1:
        raise ValueError("class_weight is not supported for a model with several outputs "
                         "(as in Keras): use sample_weight")
    xs = model._flatten_data(x, name)
    xs = [validation.as_array(a, f"{name}[{i}]") for i, a in enumerate(xs)]
    if y is None:
        raise ValueError(f"{y_name} is required: pass the targets along with {name}")
    ys = flatten_targets(model, y, y_name)
    ys = [None if t is None else validation.as_array(t, f"{y_name}[{i}]")
          for i, t in enumerate(ys)]
    n = None
    for i, a in enumerate(xs):
        if a.ndim == 0:
            raise ShapeError(f"{name}[{i}] must have a batch axis, got a scalar")
        if n is None:
            n = len(a)
        elif len(a) != n:
            raise ShapeError(f"{name}[0] has {n} samples but {name}[{i}] has {len(a)}; "
                             "every input must have the same number of samples")
        validation._check_finite(a, f"{name}[{i}]")
    if n == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={xs[0].shape}) in {name}, "
                         "while a minimum of 1 is required")
    for i, t in enumerate(ys):
        if t is None:
            continue
        if t.ndim == 0 or len(t) != n:
            got = "a scalar" if t.ndim == 0 else len(t)
            raise ShapeError(f"{name} has {n} samples but {y_name}[{i}] (output "
                             f"'{model.output_names[i]}') has {got}; they must have the "
                             "same length")
        validation._check_finite(t, f"{y_name}[{i}]")
    if sample_weight is not None:
        sample_weight = validation.as_array(sample_weight, "sample_weight").astype(np.float64)
        if sample_weight.shape != (n,):
            raise ShapeError(f"sample_weight must have shape ({n},), got "
                             f"{sample_weight.shape}")
        validation._check_finite(sample_weight, "sample_weight")
    y_filled = [t if t is not None else np.zeros((n,), np.float32) for t in ys]
    return apply_class_weight(MultiData(Columns(xs), Columns(y_filled), sample_weight, name),
                              class_weight)


class _OutputView:
    """What ``validation.check_against_model`` reads of a model, for one output."""

    def __init__(self, model, index, loss_fn):
        self.name = f"{model.name}' output '{model.output_names[index]}"
        out = model.output_shape if len(model.output_names) == 1 else model.output_shape[index]
        self.output_shape = out
        self.loss_fn = loss_fn
        self.batch_input_shape = None
        self.layers = []


def apply_class_weight(data, class_weight):
    """``validation.apply_class_weight`` for either kind of data (for several outputs
    ``check_data`` already refused a class_weight)."""
    if class_weight is None or not isinstance(data, MultiData):
        return validation.apply_class_weight(data, class_weight)
    single = validation.apply_class_weight(
        validation.Data(data.x.arrays[0], data.y.arrays[0], data.sample_weight, data.name),
        class_weight)
    return MultiData(data.x, data.y, single.sample_weight, data.name)


def check_inputs(model, data, name):
    """Each input array's shape against its ``Input``."""
    in_shapes = model.input_shape
    if model.inputs is not None and len(model.inputs) == 1:
        in_shapes = [in_shapes]
    for i, (a, want) in enumerate(zip(data.x.arrays, in_shapes)):
        got = tuple(a.shape)
        if len(got) != len(want) or any(w is not None and w != g
                                        for w, g in zip(want[1:], got[1:])):
            raise ShapeError(
                f"Input '{model.input_names[i]}' of model '{model.name}' expects shape "
                f"{tuple(want)}, but {name}[{i}] has shape {(None, *got[1:])}"
            )


def check_against_model(model, data, name):
    """Each input's shape against its ``Input``, each target against its output's loss."""
    check_inputs(model, data, name)
    output_losses = model._output_losses or [(None, model.loss_fn, 1.0)]
    for i, (target, (_, loss_fn, _)) in enumerate(zip(data.y.arrays, output_losses)):
        if loss_fn is None:
            continue
        view = _OutputView(model, i, loss_fn)
        validation.check_against_model(view, validation.Data(data.x.arrays[0], target, None,
                                                             name), name)


def metrics_per_output(model, metrics, what):
    """Keras's rule for ``metrics`` of a model with several outputs: a dict keyed by
    output name, or a list with one entry (a metric or a list of metrics) per output.

    Raises:
        ValueError: a list whose length is not the number of outputs (as Keras).
    """
    names = model.output_names
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        per = per_output(model, metrics, what, default=[])
    elif isinstance(metrics, (list, tuple)):
        if len(metrics) != len(names):
            raise ValueError(
                f"For a model with multiple outputs, when providing the `{what}` argument "
                f"as a list, it should have as many entries as the model has outputs. "
                f"Received: {what}={list(metrics)} of length {len(metrics)} whereas model "
                f"'{model.name}' has {len(names)} outputs {names}; give one entry (or list) "
                "per output, or a dict keyed by output name"
            )
        per = list(metrics)
    else:
        per = [metrics] * len(names)
    return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m]
            for m in per]
