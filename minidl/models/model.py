"""``Model``: compile / fit / evaluate / predict / summary / save, once for every model.

A model is a layer (it can be called inside another model) that also trains. Three kinds
share this one class and its training loop:

- ``Sequential([...])`` (``sequential.py``): a stack of layers;
- ``Model(inputs=..., outputs=...)`` (``functional.py``): a graph of layer calls, with one
  or several inputs and outputs;
- a subclass of ``Model`` with its own ``call``: any Python code over tracked layers.

The training step is the textbook one, on minidl's own autograd:

    y_pred = model(x_batch, training=True)     # forward, recording the graph
    loss = loss_fn(y_batch, y_pred)             # + regularization penalties and add_loss
    loss.backward()                             # gradients into each weight's .grad
    optimizer.step(weights)                     # update the weights in place

Everything around it (batching, shuffling, validation, metrics, callbacks, the progress
bar) follows Keras 3's behaviour, so a Keras program runs with only its imports changed.
"""

import contextlib
import math

import numpy as np

from minidl import callbacks as callbacks_module
from minidl import config, data_adapters, debug, losses, optimizers, threads, validation
from minidl import metrics as metrics_module
from minidl import random as mrandom
from minidl.array_backend import get_backend
from minidl.errors import NonFiniteError, NotCompiledError, ShapeError
from minidl.layers import assign_checked, unique_name
from minidl.layers import get as get_layer_class
from minidl.layers.base import Layer, _none_batch, _shape_of, is_symbolic, probe_output
from minidl.models import multi_io
from minidl.models import replay as replay_module
from minidl.tensor import Tensor, no_grad
from minidl.utils import tree


class Model(Layer):
    """A model: layers with a training loop (Keras's ``keras.Model``).

    ``Model(inputs=..., outputs=...)`` builds a functional model (see
    ``minidl.models.functional``). Subclass it to write the forward pass yourself:

    >>> import minidl as keras
    >>> class TwoLayers(keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = keras.layers.Dense(8, activation="relu")
    ...         self.out = keras.layers.Dense(1)
    ...     def call(self, inputs, training=False):
    ...         return self.out(self.hidden(inputs))
    >>> model = TwoLayers()
    >>> model.predict(np.zeros((2, 3), "float32"), verbose=0).shape
    (2, 1)

    Layers assigned as attributes are tracked (their weights are the model's weights);
    ``training`` reaches every layer the ``call`` runs, passed on or not.

    Args:
        name: the model's name.
        trainable: False freezes every layer inside.
    """

    _step_replay = None  # during fit: a models.replay.StepReplay, when the steps allow it

    # Training bookkeeping that never holds a layer: set past the attribute tracking, so
    # the per-step look-ups of weights and losses never scan these lists.
    _UNTRACKED = frozenset({
        "compiled_metrics", "_metric_names", "_metric_weighted", "_metric_outputs",
        "_output_losses", "_output_loss_names", "_output_loss_sums", "_trainable_cache",
        "loss", "_compile_config", "history", "_step_replay",
    })

    def __setattr__(self, name, value):
        if name in Model._UNTRACKED:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def __new__(cls, *args, **kwargs):
        # As Keras: Model(inputs, outputs) is a functional model.
        if cls is Model and (len(args) >= 2 or "inputs" in kwargs or "outputs" in kwargs):
            from minidl.models.functional import Functional

            return object.__new__(Functional)
        return super().__new__(cls, *args, **kwargs)  # records the arguments (get_config)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise ValueError(
                f"{type(self).__name__} is a subclassed model: its layers come from "
                "__init__ and its computation from call(). A functional model is "
                "keras.Model(inputs=..., outputs=...) itself, not a subclass"
            )
        super().__init__(name=name or unique_name(_default_name(type(self))),
                         trainable=trainable, dtype=dtype, **kwargs)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.loss_fn = None
        self.stop_training = False
        self.history = None
        self._output_losses = None  # per-output (name, loss, weight), multi-output only
        self._metric_outputs = None  # per-metric output index, multi-output only
        self._output_loss_names = []
        self._loss_scale = None
        self._device = config.device()

    # ---- structure --------------------------------------------------------------------
    @property
    def layers(self):
        """The layers this model holds (a subclassed model: those assigned as attributes,
        in assignment order)."""
        return self._sublayers()

    @property
    def input_shape(self):
        """The input shape with the batch axis as ``None`` (once the model knows it)."""
        shape = self.batch_input_shape or self._declared_input_shape()
        if shape is None:
            self._require_built("input_shape")
        return _none_batch(shape)

    @input_shape.setter
    def input_shape(self, value):
        pass  # set by Layer.__init__; a model's input shape is batch_input_shape

    def _declared_input_shape(self):
        return None

    @property
    def inputs(self):
        return None

    @property
    def outputs(self):
        return None

    @property
    def output_names(self):
        return [self.name]

    def _n_outputs(self):
        outputs = self.outputs
        return 1 if outputs is None else len(outputs)

    def _multi_io(self):
        """True when data go in or come out as lists/dicts (several inputs or outputs)."""
        return (self.inputs is not None and len(self.inputs) > 1) or self._n_outputs() > 1

    @property
    def dtype(self):
        """The float dtype of the weights (``config.floatx()`` before they exist)."""
        for layer in self._sublayers():  # the first weight says it; no list of all weights
            for w in layer.weights:
                return w.data.dtype
        for w, _ in self._weights:
            return w.data.dtype
        return np.dtype(self.__dict__.get("_dtype_arg") or config.floatx())

    @dtype.setter
    def dtype(self, value):
        object.__setattr__(self, "_dtype_arg", value)

    # ---- building and calling ---------------------------------------------------------
    def build(self, input_shape=None):
        """Create the weights for inputs of ``input_shape`` (batch axis first).

        A subclassed model builds as Keras does: by running ``call`` once (here on zeros
        of that shape, without recording a graph), which builds every layer it uses.
        """
        if input_shape is None:
            raise ValueError(
                f"model '{self.name}' cannot build without an input shape: call "
                "model.build((None, n_features)) or call the model on data"
            )
        shape = _none_batch(input_shape)
        self.batch_input_shape = shape
        self.output_shape = probe_output(self, shape)[0]
        self.built = True
        self._trainable_cache = None

    def build_for(self, input_shape, compute_output=True):
        if not self.built:
            self.build(_none_batch(input_shape))
        if self.output_shape is None:
            self.output_shape = probe_output(self, _none_batch(input_shape))[0]
        return self.output_shape

    def __call__(self, inputs, training=None, **kwargs):
        """Run the model on ``inputs`` (arrays or Tensors, or a list/dict of them for
        several inputs); returns a Tensor (or the structure of its outputs). On symbolic
        inputs it records the call, as any layer (a model inside a model)."""
        if is_symbolic(inputs):
            return Layer.__call__(self, inputs, training, **kwargs)
        x = self._as_input(inputs)
        if not self.built:
            self.build(_shape_of(x))
        if self._call_losses:
            del self._call_losses[:]
        outputs = self._run_call(x, training, kwargs)
        if self.output_shape is None:  # a user's build() built the model: learn it here
            self.output_shape = _none_batch(_shape_of(outputs))
        return outputs

    def call(self, inputs, training=False):
        raise NotImplementedError(
            f"model '{self.name}' ({type(self).__name__}) has no call(): a Model subclass "
            "must define call(self, inputs, training=False) with its forward pass, or "
            "build the model as keras.Model(inputs=..., outputs=...)"
        )

    def _as_input(self, inputs):
        if isinstance(inputs, Tensor):
            return inputs
        if isinstance(inputs, multi_io.Columns):
            inputs = inputs.arrays if len(inputs.arrays) > 1 else inputs.arrays[0]
        if self.inputs is not None and (tree.is_nested(inputs) or self._multi_input()):
            # a functional model: the data in the order of its inputs, each cast to its dtype
            arrays = self._flatten_data(inputs, "inputs")
            converted = [self._as_input_array(a, d)
                         for a, d in zip(arrays, self._input_dtypes())]
            return converted if self._multi_input() else converted[0]
        return self._as_input_array(inputs, None)

    def _multi_input(self):
        return self.inputs is not None and len(self.inputs) > 1

    def _as_input_array(self, value, dtype):
        if isinstance(value, Tensor):
            return value
        array = np.asarray(value)
        if dtype is None or np.dtype(dtype).kind == "f":
            dtype = self.dtype  # float inputs follow the model's float dtype
        if array.dtype != dtype:
            array = array.astype(dtype)
        return Tensor(self._on_device(array))

    def _on_device(self, array):
        """A host array moved to the model's device (``model.to``); as is on the CPU."""
        if array is None or self._device == "cpu":
            return array
        if isinstance(array, multi_io.Columns):
            return multi_io.Columns([self._on_device(a) for a in array.arrays])
        return get_backend(self._device).asarray(array)


    def reseed(self, key):
        """Reseed every layer inside (their Dropout masks) with ``key``."""
        for layer in self._flatten_layers():
            layer.reseed(key)

    def _build_checked(self, x, check, name="x"):
        """Build the model for data ``x`` if it is not built, then run ``check()`` and return
        its result. If either fails, the build is undone: no weights, shapes or random-stream
        draws remain, so a failed call leaves the model exactly as it was (and a later run
        draws the same initial weights as one without the failed call)."""
        if self.built:
            return check()
        undo = _Snapshot(self)
        try:
            self.build(_shape_of_data(x))
            return check()
        except BaseException as exc:
            undo.restore()
            if isinstance(exc, ShapeError) and getattr(x, "ndim", 0) == 1:
                raise ShapeError(
                    f"{exc}. {name} is 1-D with shape {x.shape}: for a single sample use "
                    f"{name}.reshape(1, -1), for one feature per sample {name}.reshape(-1, 1)"
                ) from None
            raise

    # ---- weights ----------------------------------------------------------------------
    def parameters(self):
        """The trainable weights (PyTorch's name, for PyTorch-style loops).

        Raises:
            ValueError: the model has no weights yet (its input size is unknown): an empty
                list would make an optimizer loop silently train nothing.
        """
        self._require_built("parameters")
        return self.trainable_weights

    def zero_grad(self):
        """Clear every weight's ``.grad`` (PyTorch style)."""
        for w in self.weights:
            w.grad = None

    def set_weights(self, values):
        """Set all weights from a list of arrays; counts and shapes are checked first."""
        assign_checked(self.weights, values, f"model '{self.name}'")


    def get_layer(self, name=None, index=None):
        """A layer by name or by index (Keras's ``get_layer``)."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer(index={index}): model '{self.name}' has "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: "
                         f"{[layer.name for layer in layers]}")

    def count_params(self):
        if not self.built:
            self._require_built("count_params")
        return int(sum(w.size for w in self.weights))

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"{what}() needs the model's input shape, which model '{self.name}' does not "
                "know yet: pass input_shape=... to the first layer, start with "
                "keras.Input(shape=...), call model.build((None, n_features)), or call "
                "the model on a batch of data first"
            )


    # ---- summary ----------------------------------------------------------------------
    def summary(self, print_fn=None, line_length=None):
        """Print a table of the layers, their output shapes and parameter counts (Keras
        3's format). A model inside is one row with all its parameters. A functional
        model whose graph is not a simple chain (a layer with several inputs, a shared
        layer, several branches) gets Keras's "Connected to" column, listing each layer's
        inputs as ``layer_name[node][tensor]``."""
        self._require_built("summary")
        print_fn = print_fn or print
        connected = self._summary_connections()
        rows = []
        for layer in self.layers:
            shape = layer.output_shape
            row = [f"{layer.name} ({type(layer).__name__})",
                   "?" if shape is None else str(shape),
                   f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"]
            if connected is not None:
                row.append(connected(layer))
            rows.append(row)
        # Keras 3's column widths: 88 columns for a chain, 108 with "Connected to".
        widths = [33, 24, 15] if connected is None else [32, 28, 19, 29]
        if line_length:
            widths[0] = max(10, line_length - sum(widths[1:]) - len(widths) - 1)
        for row in rows:
            for i in (0, 1) if connected is None else (0, 1, 3):
                widths[i] = max(widths[i], len(row[i]) + 2)
        align = ["<", "<", ">", "<"]

        def line(left, mid, right, fill):
            return left + mid.join(fill * w for w in widths) + right

        def cells(values, edge):
            return edge + edge.join(f" {v:{a}{w - 2}} " for v, a, w in
                                    zip(values, align, widths)) + edge

        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"][:len(widths)]
        out = [f'Model: "{self.name}"', line("┏", "┳", "┓", "━"), cells(header, "┃"),
               line("┡", "╇", "┩", "━")]
        for i, row in enumerate(rows):
            if i:
                out.append(line("├", "┼", "┤", "─"))
            out.append(cells(row, "│"))
        out.append(line("└", "┴", "┘", "─"))
        trainable = sum(w.size for w in self.trainable_weights)
        weights = sum(w.size for w in self.weights)
        itemsize = self.dtype.itemsize
        n_opt = self.optimizer.variables_count() if self.optimizer is not None else 0
        # As Keras 3, the optimizer's numbers count in the total; its iteration counter is
        # an int64 (8 bytes), the rest are floats of the model's dtype.
        opt_bytes = (n_opt - 1) * itemsize + 8 if n_opt else 0
        total = weights + n_opt
        out.append(f" Total params: {total:,} "
                   f"({_readable_bytes(weights * itemsize + opt_bytes)})")
        out.append(f" Trainable params: {trainable:,} ({_readable_bytes(trainable * itemsize)})")
        rest = weights - trainable
        out.append(f" Non-trainable params: {rest:,} ({_readable_bytes(rest * itemsize)})")
        if n_opt:
            out.append(f" Optimizer params: {n_opt:,} ({_readable_bytes(opt_bytes)})")
        for text in out:
            print_fn(text)

    def _summary_connections(self):
        """None for a chain-like model (no "Connected to" column), else a function giving
        a layer's inputs as Keras writes them (``dense[0][0], dense_1[0][0]``)."""
        return None

    # ---- compile ----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=1,
                jit_compile="auto", **kwargs):
        """Choose the optimizer, the loss and the metrics (strings resolve as in Keras).

        For a model with several outputs, ``loss``, ``loss_weights`` and ``metrics`` may
        be lists (one entry per output) or dicts keyed by output name; one loss alone
        applies to every output. Compiling again with another optimizer starts that
        optimizer from fresh state.

        Raises:
            ValueError: an unknown name, or per-output lists/dicts that do not match the
                model's outputs; nothing changes then.
        """
        if kwargs:
            raise TypeError(f"compile() got unexpected arguments {sorted(kwargs)}")
        if loss is None and self.compiled and self.loss is not None:
            # As Keras 3: compiling again without a loss keeps the earlier one.
            loss, loss_weights = self.loss, (loss_weights if loss_weights is not None
                                             else self._compile_config.get("loss_weights"))
        # Resolve everything first: a bad name leaves a compiled model exactly as it was.
        new_optimizer = optimizers.get(optimizer)
        if self._n_outputs() > 1:
            state = self._compile_outputs(loss, metrics, weighted_metrics, loss_weights)
        else:
            state = self._compile_single(loss, metrics, weighted_metrics, loss_weights)
        self.optimizer = new_optimizer
        self.loss = loss
        for key, value in state.items():
            setattr(self, key, value)
        self._compile_config = {
            "optimizer": optimizers.serialize(self.optimizer),
            "loss": _serialize_loss(loss, state),
            "metrics": _serialize_metrics(metrics),
            "weighted_metrics": _serialize_metrics(weighted_metrics),
            "loss_weights": loss_weights,
        }
        self._trainable_cache = None
        self.compiled = True

    def _compile_single(self, loss, metrics, weighted_metrics, loss_weights):
        """Loss and metrics of a one-output model (a one-entry list or dict is unwrapped)."""
        name = self.output_names[0]
        loss, loss_weights, metrics, weighted_metrics = (
            _unwrap_single(v, name) for v in (loss, loss_weights, metrics, weighted_metrics))
        loss_fn = None if loss is None else losses.get(loss)  # None: predict-only, as Keras
        metrics, weighted_metrics = _as_list(metrics), _as_list(weighted_metrics)
        compiled_metrics = [metrics_module.get(m) for m in metrics + weighted_metrics]
        names = [_metric_name(m, obj) for m, obj in zip(metrics, compiled_metrics)]
        for m, obj in zip(weighted_metrics, compiled_metrics[len(metrics):]):
            metric = _metric_name(m, obj)  # as Keras: a clash with a plain metric gets a prefix
            names.append(f"weighted_{metric}" if metric in names else metric)
        return {
            "_loss_scale": None if loss_weights is None else float(loss_weights),
            "loss_fn": loss_fn, "compiled_metrics": compiled_metrics, "_metric_names": names,
            # Keras 3: sample/class weights reach only the weighted_metrics, never `metrics`.
            "_metric_weighted": [False] * len(metrics) + [True] * len(weighted_metrics),
            "_output_losses": None, "_metric_outputs": None, "_output_loss_names": [],
        }

    def _compile_outputs(self, loss, metrics, weighted_metrics, loss_weights):
        """Per-output losses (with weights) and metrics of a model with several outputs."""
        names = self.output_names
        loss_fns = [None if v is None else losses.get(v)
                    for v in multi_io.per_output(self, loss, "loss")]
        weights = [1.0 if w is None else float(w)
                   for w in multi_io.per_output(self, loss_weights, "loss_weights", 1.0)]
        plain = multi_io.metrics_per_output(self, metrics, "metrics")
        weighted = multi_io.metrics_per_output(self, weighted_metrics, "weighted_metrics")
        compiled, metric_names, flags, outputs = [], [], [], []
        for i, name in enumerate(names):
            for ids, flag in ((plain[i], False), (weighted[i], True)):
                for m in ids:
                    obj = metrics_module.get(m)
                    metric = f"{name}_{_metric_name(m, obj)}"
                    if metric in metric_names:
                        metric = f"{name}_weighted_{_metric_name(m, obj)}"
                    compiled.append(obj)
                    metric_names.append(metric)
                    flags.append(flag)
                    outputs.append(i)
        has_loss = any(fn is not None for fn in loss_fns)
        return {
            "loss_fn": _MultiLoss(self) if has_loss else None,
            "compiled_metrics": compiled, "_metric_names": metric_names,
            "_metric_weighted": flags, "_metric_outputs": outputs,
            "_output_losses": list(zip(names, loss_fns, weights)), "_loss_scale": None,
            "_output_loss_names": [f"{n}_loss" for n, fn in zip(names, loss_fns)
                                   if fn is not None],
        }

    @property
    def metrics_names(self):
        return ["loss", *getattr(self, "_output_loss_names", []),
                *getattr(self, "_metric_names", [])]

    def _require_compiled(self, what):
        if not self.compiled:
            raise NotCompiledError(
                f"You must call compile() before {what}(): model '{self.name}' has no loss "
                "or optimizer yet. Example: model.compile(optimizer='adam', loss='mse')"
            )
        if self.loss_fn is None:
            raise ValueError(
                f"{what}() needs a loss, but model '{self.name}' was compiled with loss=None: "
                "compile it again with one, e.g. model.compile(optimizer='adam', loss='mse')"
            )

    # ---- one step ---------------------------------------------------------------------
    def compute_loss(self, y, y_pred, sample_weight=None):
        """The compiled loss plus the layers' penalties and ``add_loss`` values (a scalar
        Tensor); for several outputs the ``loss_weights``-weighted sum of their losses."""
        loss = self.loss_fn(y, y_pred, sample_weight=sample_weight)
        if self._loss_scale is not None:  # loss_weights of a one-output model
            loss = loss * self._loss_scale
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _trainable(self):
        cache = getattr(self, "_trainable_cache", None)
        if cache is None:
            cache = self._trainable_cache = self.trainable_weights
        return cache

    def _check_data(self, x, y, sample_weight, class_weight=None, name="x"):
        if not self._multi_input():
            # Keras trains on the first of several arrays with only a warning, and an
            # (x, y) tuple given as x is read as two inputs: say which mistake it is.
            validation.check_not_several_arrays(self, x, y, name)
        if self._multi_io():
            return multi_io.check_data(self, x, y, sample_weight, class_weight, name)
        return validation.check_fit_data(self, x, y, sample_weight, class_weight, name)

    def _check_against_model(self, data, name):
        if isinstance(data, multi_io.MultiData):
            return multi_io.check_against_model(self, data, name)
        return validation.check_against_model(self, data, name)

    def _check_validation_data(self, validation_data):
        """``validation_data`` is ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``."""
        if not self._multi_io():
            return validation.check_validation_data(self, validation_data)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                             f"val_sample_weight), got {type(validation_data).__name__}")
        x, y, *sw = validation_data
        return multi_io.check_data(self, x, y, sw[0] if sw else None, None, "validation_data")

    def _checked_data(self, x, y, sample_weight, class_weight=None, name="x"):
        """Check (x, y) once, build the model if needed, cast to the model's dtype."""
        data = self._check_data(x, y, sample_weight, class_weight, name)

        def check():
            self._check_against_model(data, name)
            return data.cast(self.dtype)

        return self._build_checked(data.x, check, name)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch.

        Raises:
            NonFiniteError: the loss is NaN/Inf; the step is not applied.
        """
        self._require_compiled("train_on_batch")
        data = self._checked_data(x, y, sample_weight, class_weight)
        self._reset_metrics()
        xb, yb, swb = data.batch(slice(None))
        loss, y_pred = self._train_step(xb, yb, swb)
        if not math.isfinite(loss):
            raise NonFiniteError(f"train_on_batch: the loss is {loss}; this step was not "
                                 "applied, so the weights are unchanged")
        # The metrics of this batch, on the predictions the step was computed from.
        self._update_metrics(loss, len(data.x), yb, y_pred, swb)
        return self._format_results(self._collect_logs(), return_dict)

    def _train_step(self, x, y, sample_weight):
        """Forward, loss, backward, update. Returns (loss value, predictions array).

        In ``fit``, the first step of each epoch (and batch shape) is recorded, and the
        next ones replay its ops without the layers and the graph around them (bitwise the
        same results; minidl/models/replay.py says when this applies).
        """
        replay = self._step_replay
        tape = None
        if replay is not None:
            y = replay.labels(y)
            recorded = replay.lookup(x, y, sample_weight)
            if recorded:
                loss, y_pred = recorded.run(x, y, sample_weight)
                value = float(loss)
                if math.isfinite(value):
                    self.optimizer.step(recorded.weights)
                return value, y_pred
            tape = replay.recorder(x, y, sample_weight)
        with tape if tape is not None else contextlib.nullcontext():
            y_pred = self(x, training=True)
            loss = self.compute_loss(self._on_device(y), y_pred,
                                     self._on_device(sample_weight))
        if tape is not None:
            replay.store(tape, (x, y, sample_weight), loss, y_pred, self)
        value = float(loss.data)
        weights = self._trainable()
        for w in weights:
            w.grad = None
        if math.isfinite(value):
            loss.backward()
            self.optimizer.step(weights)
        return value, self._host(y_pred)

    def _test_step(self, x, y, sample_weight):
        with no_grad():
            y_pred = self(x, training=False)
            loss = self.compute_loss(self._on_device(y), y_pred,
                                     self._on_device(sample_weight))
        return float(loss.data), self._host(y_pred)

    def _host(self, y_pred):
        """Predictions as host arrays for the metrics (a list for several outputs)."""
        if isinstance(y_pred, Tensor):
            # Metrics run on the host: predictions leave the device (a no-op on the CPU).
            return y_pred.data if self._device == "cpu" else y_pred.to_numpy()
        return [t.to_numpy() for t in tree.flatten(y_pred)]

    # ---- metrics bookkeeping ---------------------------------------------------------
    def _reset_metrics(self):
        self._loss_sum = 0.0
        self._loss_count = 0
        self._output_loss_sums = [0.0] * len(getattr(self, "_output_loss_names", []))
        for m in self.compiled_metrics:
            m.reset_state()

    def _update_metrics(self, loss, n, y, y_pred, sample_weight):
        # Keras reports epoch means weighted by batch size.
        self._loss_sum += loss * n
        self._loss_count += n
        if self._metric_outputs is None:
            for m, weighted in zip(self.compiled_metrics, self._metric_weighted):
                m.update_state(y, y_pred, sample_weight=sample_weight if weighted else None)
            return
        for i, value in enumerate(self.loss_fn.last_values):
            self._output_loss_sums[i] += value * n
        for m, weighted, i in zip(self.compiled_metrics, self._metric_weighted,
                                  self._metric_outputs):
            m.update_state(y.arrays[i], y_pred[i],
                           sample_weight=sample_weight if weighted else None)

    def _collect_logs(self, loss=None, n=None):
        if loss is not None:
            logs = {"loss": loss}
        else:
            logs = {"loss": self._loss_sum / max(self._loss_count, 1)}
        for name, total in zip(self._output_loss_names, self._output_loss_sums):
            logs[name] = total / max(self._loss_count, 1)
        for name, m in zip(self._metric_names, self.compiled_metrics):
            logs[name] = float(m.result())
        return logs

    def _format_results(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a ``History`` (also ``model.history``).

        Keras's rules: ``validation_split`` holds out the *last* fraction of the data
        before any shuffling; the training part is reshuffled every epoch (from minidl's
        seeded generator); the partial last batch is kept; Dropout is active only in the
        training steps; logged values are epoch means weighted by batch size.
        ``epochs=0`` (or ``initial_epoch >= epochs``) trains nothing and returns an empty
        History.

        Reproducibility: epoch ``e``'s shuffle and every Dropout layer's masks come from
        random streams keyed by the seed, the layer's name and ``e``. So the same seed gives
        the same run, and ``fit(..., initial_epoch=e)`` on a model saved after epoch ``e``
        replays exactly what an uninterrupted run would have done.

        Raises:
            NotCompiledError: ``compile()`` was not called.
            ShapeError, DTypeError, ValueError, TypeError, NonFiniteError: bad data or
                arguments, detected before anything changes (weights, optimizer state,
                random streams, ``model.history``).
            NonFiniteError: the loss became NaN/Inf (names the epoch and batch; the error
                has ``.epoch`` and ``.batch``, 0-based as in callbacks). The step that
                produced it is not applied, so the weights are those after the last step
                with a finite loss, and ``model.history`` holds the epochs completed
                before. With a ``TerminateOnNaN`` callback training stops quietly instead
                (same weights; the stopped epoch is logged with the non-finite loss).
        """
        self._require_compiled("fit")
        batch_size = validation.check_batch_size(batch_size, "batch_size")
        epochs = validation.check_epochs(epochs, initial_epoch)
        verbose = validation.check_verbose(verbose)
        shuffle = validation.check_shuffle(shuffle)
        steps_per_epoch = validation.check_optional_positive_int(steps_per_epoch,
                                                                 "steps_per_epoch")
        validation_freq = validation.check_positive_int(validation_freq, "validation_freq")
        val_batch_size = validation.check_optional_positive_int(
            validation_batch_size, "validation_batch_size") or batch_size
        validation.check_validation_split(validation_split, validation_data)
        if data_adapters.is_batch_source(x):
            return self._fit_source(x, y, sample_weight, epochs, verbose, callbacks,
                                    validation_split, validation_data, shuffle, class_weight,
                                    initial_epoch, steps_per_epoch, validation_steps,
                                    val_batch_size, validation_freq)
        data = self._check_data(x, y, sample_weight, None, "x")
        val = None
        if validation_data is not None:
            val = self._check_validation_data(validation_data)
        elif validation_split:
            data, val = data.split(validation_split)
        data = multi_io.apply_class_weight(data, class_weight)  # training samples only

        def check():
            self._check_against_model(data, "x")
            if val is not None:
                self._check_against_model(val, "validation_data")
            return data.cast(self.dtype), None if val is None else val.cast(self.dtype)

        data, val = self._build_checked(data.x, check)

        n = len(data.x)
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, steps_per_epoch)
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps,
        )
        self.stop_training = False
        self._trainable_cache = None
        # A callback may switch anomaly mode on (TerminateOnNaN(detect_anomaly=True)); it
        # is switched back whatever happens, so an error cannot leave the slow mode on.
        anomaly_mode = debug.current_detector()
        try:
            self._fit_epochs(cbs, _array_batches(data, batch_size, steps, shuffle),
                             None if val is None else _array_batches(val, val_batch_size),
                             steps, epochs, initial_epoch, validation_freq)
        finally:
            debug.set_detector(anomaly_mode)
        self.history = cbs.history
        return self.history

    def _fit_epochs(self, cbs, train_batches, val_batches, steps, epochs, initial_epoch,
                    validation_freq):
        """The training loop of ``fit`` (its arguments are already checked).

        ``train_batches(epoch)`` yields the epoch's ``(x, y, sample_weight)`` batches (arrays
        cut and shuffled, or a generator's / PyDataset's batches, see ``data_adapters``);
        ``val_batches(epoch)`` the validation batches, or is ``None``. ``steps`` is the number
        of batches per epoch, ``None`` when a generator does not say.
        """
        stop_on_nan = any(isinstance(c, callbacks_module.TerminateOnNaN) for c in cbs)
        # The batch hooks and their logs only when a callback reads them (the progress bar,
        # a user's callback): with verbose=0 a step skips building a dict nobody reads.
        batch_begin = cbs.implements("on_train_batch_begin", "on_batch_begin")
        batch_end = cbs.implements("on_train_batch_end", "on_batch_end")
        logs = {}
        cbs.on_train_begin()
        # BLAS threads chosen after the first step from its matrix sizes (minidl/threads.py);
        # steps replayed from a recording where that is safe (minidl/models/replay.py).
        total_steps = None if steps is None else steps * (epochs - initial_epoch)
        with threads.StepThreads(total_steps) as blas, replay_module.replaying(self):
            for epoch in range(initial_epoch, epochs):
                self._reset_metrics()
                self._start_epoch_streams(epoch)
                cbs.on_epoch_begin(epoch)
                logs_stale = False  # metrics updated since `logs` was built
                for step, (xb, yb, swb) in enumerate(train_batches(epoch)):
                    if batch_begin:
                        cbs.on_train_batch_begin(step)
                    try:
                        loss, y_pred = self._train_step(xb, yb, swb)
                        blas.step_done()
                    except NonFiniteError as exc:  # raised by debug.detect_anomaly()
                        raise _at_step(NonFiniteError(
                            f"at epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps or '?'}: {exc}"
                        ), epoch, step, exc) from exc
                    if not math.isfinite(loss):
                        if stop_on_nan:
                            logs = {**self._collect_logs(), "loss": loss}
                            cbs.on_train_batch_end(step, logs)
                            break
                        raise _at_step(NonFiniteError(
                            f"the loss became {loss} at epoch {epoch + 1}/{epochs}, batch "
                            f"{step + 1}/{steps or '?'}; this step was not applied, so the "
                            "weights are those after the last step with a finite loss. Lower "
                            "the learning rate, check the data for extreme values, find the op "
                            "with minidl.debug.detect_anomaly(), or add "
                            "callbacks.TerminateOnNaN() to stop quietly instead"
                        ), epoch, step)
                    self._update_metrics(loss, len(xb), yb, y_pred, swb)
                    logs_stale = True
                    if batch_end:
                        logs = self._collect_logs()
                        logs_stale = False
                        cbs.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                if logs_stale:
                    logs = self._collect_logs()
                epoch_logs = dict(logs)
                if val_batches is not None and (epoch + 1) % validation_freq == 0:
                    # As Keras 3 (fit calls evaluate with its callbacks): the test hooks run
                    # around validation; the progress bar stays silent there.
                    cbs.on_test_begin()
                    val_logs = self._evaluate_batches(val_batches(epoch), cbs,
                                                      getattr(val_batches, "steps", None))
                    cbs.on_test_end(val_logs)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                logs = epoch_logs
                if self.stop_training:
                    break
        cbs.on_train_end(logs)

    def _start_epoch_streams(self, epoch):
        """Key every layer's random streams (Dropout masks) by ``epoch``, so resuming at
        ``initial_epoch`` replays the masks of an uninterrupted run."""
        self.reseed(f"epoch{epoch}")
        if self._step_replay is not None:
            self._step_replay.new_epoch()  # the recordings hold the old streams

    # ---- evaluate / predict -----------------------------------------------------------
    def _evaluate_data(self, data, batch_size, cbs=None):
        batches = _array_batches(data, batch_size)
        return self._evaluate_batches(batches(None), cbs, steps=batches.steps)

    def _evaluate_batches(self, batches, cbs=None, steps=None):
        """Loss and metrics over ``batches`` of ``(x, y, sample_weight)`` (``steps`` of them,
        when known)."""
        self._reset_metrics()
        with threads.StepThreads(steps) as blas:
            for step, (xb, yb, swb) in enumerate(batches):
                if cbs is not None:
                    cbs.on_test_batch_begin(step)
                loss, y_pred = self._test_step(xb, yb, swb)
                blas.step_done()
                self._update_metrics(loss, len(xb), yb, y_pred, swb)
                if cbs is not None:
                    cbs.on_test_batch_end(step, self._collect_logs())
        return self._collect_logs()

    def _checked_batches(self, adapter, name="x"):
        """A data adapter's batches, each checked (and the model built on the first) as
        arrays given to ``fit`` would be, then cast to the model's dtype."""
        for xb, yb, swb in adapter.batches():
            yield self._checked_data(xb, yb, swb, None, name).batch(slice(None))
        adapter.on_epoch_end()

    def _fit_source(self, x, y, sample_weight, epochs, verbose, callbacks, validation_split,
                    validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch,
                    validation_steps, val_batch_size, validation_freq):
        """``fit`` on a generator or a ``PyDataset`` (see ``data_adapters``)."""
        if validation_split:
            raise ValueError("validation_split is not supported when x is a generator or a "
                             "PyDataset: give validation_data instead")
        if class_weight is not None:
            raise ValueError("class_weight is not supported when x is a generator or a "
                             "PyDataset: yield (x, y, sample_weight) batches instead")
        adapter = data_adapters.get_data_adapter(x, y, sample_weight,
                                                 steps_per_epoch=steps_per_epoch,
                                                 shuffle=shuffle)
        val_adapter = None
        if validation_data is not None:
            if data_adapters.is_batch_source(validation_data):
                val_adapter = data_adapters.get_data_adapter(
                    validation_data, steps_per_epoch=validation_steps)
            else:
                val_x, val_y, *val_sw = validation_data
                val_adapter = data_adapters.get_data_adapter(
                    val_x, val_y, val_sw[0] if val_sw else None, batch_size=val_batch_size,
                    steps_per_epoch=validation_steps)
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=adapter.steps_per_epoch,
        )
        self.stop_training = False
        self._trainable_cache = None
        anomaly_mode = debug.current_detector()
        try:
            self._fit_epochs(
                cbs, lambda epoch: self._checked_batches(adapter),
                None if val_adapter is None
                else lambda epoch: self._checked_batches(val_adapter, "validation_data"),
                adapter.steps_per_epoch, epochs, initial_epoch, validation_freq)
        finally:
            debug.set_detector(anomaly_mode)
        self.history = cbs.history
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss and metrics on (x, y), without training: a float when there are no metrics,
        else ``[loss, *metrics]`` in compile order, or a dict with ``return_dict=True``."""
        self._require_compiled("evaluate")
        batch_size = validation.check_batch_size(batch_size, "batch_size")
        verbose = validation.check_verbose(verbose)
        if data_adapters.is_batch_source(x):
            adapter = data_adapters.get_data_adapter(x, y, sample_weight,
                                                     steps_per_epoch=steps)
            cbs = callbacks_module.CallbackList(
                callbacks, add_history=False, add_progbar=verbose != 0, model=self,
                verbose=verbose, epochs=1, steps=adapter.steps_per_epoch,
            )
            cbs.on_test_begin()
            logs = self._evaluate_batches(self._checked_batches(adapter), cbs)
            cbs.on_test_end(logs)
            return self._format_results(logs, return_dict)
        data = self._checked_data(x, y, sample_weight)
        n_steps = math.ceil(len(data.x) / batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=False, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=1, steps=n_steps,
        )
        cbs.on_test_begin()
        logs = self._evaluate_data(data, batch_size, cbs)
        cbs.on_test_end(logs)
        return self._format_results(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch, without training."""
        self._require_compiled("test_on_batch")
        data = self._checked_data(x, y, sample_weight)
        self._reset_metrics()
        xb, yb, swb = data.batch(slice(None))
        loss, y_pred = self._test_step(xb, yb, swb)
        self._update_metrics(loss, len(data.x), yb, y_pred, swb)
        return self._format_results(self._collect_logs(), return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` as a NumPy array (Dropout inactive)."""
        batch_size = validation.check_batch_size(batch_size, "batch_size")
        verbose = validation.check_verbose(verbose)
        if data_adapters.is_batch_source(x):
            return self._predict_source(x, verbose, steps, callbacks)
        x = self._checked_inputs(x)
        n = len(x)
        n_steps = math.ceil(n / batch_size)
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=False, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=1, steps=n_steps,
        )
        cbs.on_predict_begin()
        outputs = []
        with no_grad(), threads.StepThreads(n_steps) as blas:
            for step in range(n_steps):
                cbs.on_predict_batch_begin(step)
                out = self(x[step * batch_size:(step + 1) * batch_size], training=False)
                blas.step_done()
                outputs.append(out.to_numpy() if isinstance(out, Tensor)
                               else tree.map_structure(lambda t: t.to_numpy(), out))
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cbs.on_predict_end()
        if not outputs:
            return np.zeros((0, *self.output_shape[1:]), dtype=self.dtype)
        if isinstance(outputs[0], np.ndarray):
            return np.concatenate(outputs, axis=0)
        # several outputs: each concatenated over the batches, in the outputs' structure
        columns = zip(*(tree.flatten(o) for o in outputs))
        joined = iter([np.concatenate(c, axis=0) for c in columns])
        return tree.map_structure(lambda _: next(joined), outputs[0])

    def _predict_source(self, x, verbose, steps, callbacks):
        """``predict`` on a generator or a ``PyDataset``: each batch's ``x`` (the first item
        of its tuple; a bare array is refused, as Keras does)."""
        adapter = data_adapters.get_data_adapter(x, steps_per_epoch=steps)
        cbs = callbacks_module.CallbackList(
            callbacks, add_history=False, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=1, steps=adapter.steps_per_epoch,
        )
        cbs.on_predict_begin()
        outputs = []
        with no_grad(), threads.StepThreads() as blas:
            for step, (xb, _, _) in enumerate(adapter.batches()):
                cbs.on_predict_batch_begin(step)
                outputs.append(self(self._checked_inputs(xb), training=False).to_numpy())
                blas.step_done()
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        adapter.on_epoch_end()
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict got no batches from the generator or PyDataset")
        return np.concatenate(outputs, axis=0)

    def predict_on_batch(self, x):
        """The model's outputs for one batch, as a NumPy array."""
        x = self._checked_inputs(x)
        with no_grad():
            return self(x, training=False).to_numpy()

    def _checked_inputs(self, x):
        """Check x once (for predict), build the model if needed, cast to its dtype."""
        if self._multi_input():
            arrays = [validation.as_array(a, f"x[{i}]")
                      for i, a in enumerate(self._flatten_data(x, "x"))]
            data = multi_io.MultiData(multi_io.Columns(arrays), None, None)
        else:
            data = validation.Data(validation.check_predict_data(self, x), None, None)

        def check():
            if isinstance(data, multi_io.MultiData):
                multi_io.check_inputs(self, data, "x")
            else:
                validation.check_input_shape(self, data.x.shape, "x")
            return data.cast(self.dtype).x

        return self._build_checked(data.x, check)

    # ---- configuration and saving -----------------------------------------------------
    def get_config(self):
        """A subclassed model's config: its name and the arguments its ``__init__`` was
        given (when they are plain values); override it for anything else."""
        return {"name": self.name, "trainable": self.trainable, **self._init_config()}

    @classmethod
    def from_config(cls, config_, custom_objects=None):
        from minidl.layers.base import _accepted

        if cls is Model and "input_layers" in config_:  # as Keras: a functional config
            from minidl.models.functional import Functional

            return Functional.from_config(config_, custom_objects)
        return cls(**_accepted(cls, dict(config_)))

    def to_json(self, **kwargs):
        """The architecture as a JSON string (no weights): ``model_from_json`` rebuilds it.

        Args:
            **kwargs: passed to ``json.dumps`` (e.g. ``indent=2``).
        """
        import json

        return json.dumps(serialize_layer(self), **kwargs)

    def _check_savable(self):
        """A subclassed model can be saved only if loading can find its class again."""
        from minidl import saving

        if type(self) in (Model,) or not _is_subclassed(self):
            return
        if saving.registered_name(type(self)) is None:
            raise ValueError(
                f"cannot save model '{self.name}': it is a subclassed model "
                f"({type(self).__name__}), whose call() is Python code that a file cannot "
                "hold. Register the class with @keras.saving.register_keras_serializable() "
                "(and give it get_config() if its __init__ takes arguments), or save only "
                "the weights with model.save_weights(path) and rebuild the model in code"
            )

    def save(self, filepath, overwrite=True):
        """Save the architecture, weights, compile settings and optimizer state to one file
        (minidl's own format: a zip of JSON + ``.npz``, never pickle; written atomically)."""
        from minidl import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights (an ``.npz`` archive, written atomically)."""
        from minidl import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (or ``save``); everything is checked first."""
        from minidl import saving

        saving.load_weights(self, filepath)

    def to(self, device):
        """Move the model's weights (and optimizer state) to ``device`` (``"cpu"``/``"gpu"``)."""
        backend = get_backend(device)
        for w in self.weights:
            w.data = backend.asarray(w.to_numpy())
            w.grad = None
        if self.optimizer is not None and hasattr(self.optimizer, "to"):
            self.optimizer.to(backend)
        self._device = backend.name
        return self

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"





def load_model(filepath, compile=True, custom_objects=None):
    """Load a model saved by ``model.save`` (any kind: Sequential, functional, subclassed
    when its class is registered or in ``custom_objects``)."""
    from minidl import saving

    return saving.load_model(filepath, compile=compile, custom_objects=custom_objects)


def model_from_json(json_string, custom_objects=None):
    """Rebuild a model (fresh weights) from ``model.to_json()``.

    Raises:
        UnknownObjectError: a custom class neither registered nor in ``custom_objects``.
    """
    import json

    from minidl import saving

    with saving.custom_object_scope(custom_objects):
        return deserialize_layer(json.loads(json_string), custom_objects)


def clone_model(model, custom_objects=None):
    """A new model with the same architecture as ``model`` and freshly initialised weights
    (as Keras's ``clone_model``; copy the weights with ``set_weights`` if you want them).
    """
    from minidl import saving

    with saving.custom_object_scope(custom_objects):
        clone = deserialize_layer(serialize_layer(model), custom_objects)
    if not clone.built and model.built and model.batch_input_shape is not None:
        clone.build(model.batch_input_shape)
    return clone


def _default_name(cls):
    from minidl.utils.naming import snake_case

    return "functional" if cls.__name__ == "Functional" else snake_case(cls.__name__)


def _is_subclassed(model):
    from minidl.models.functional import Functional
    from minidl.models.sequential import Sequential

    return not isinstance(model, (Functional, Sequential))


def _array_batches(data, batch_size, steps=None, shuffle=False):
    """``batches(epoch)``: the ``(x, y, sample_weight)`` batches of array data for one
    epoch, reshuffled from the epoch's own random stream when ``shuffle`` (so resuming at
    ``initial_epoch`` replays the same order); at most ``steps`` batches."""
    n = len(data.x)
    if steps is None:
        steps = math.ceil(n / batch_size)

    def batches(epoch):
        order = mrandom.generator(f"shuffle/epoch{epoch}").permutation(n) if shuffle else None
        for step in range(steps):
            lo, hi = step * batch_size, min((step + 1) * batch_size, n)
            yield data.batch(order[lo:hi] if shuffle else slice(lo, hi))

    batches.steps = steps
    return batches


def _shape_of_data(x):
    """The shape(s) of data in the batch loop: one array, or ``Columns`` of several."""
    if isinstance(x, multi_io.Columns):
        return [tuple(a.shape) for a in x.arrays]
    return tuple(x.shape)


def _unwrap_single(value, name):
    """A one-output model's loss/metrics given as ``[value]`` or ``{name: value}``."""
    if isinstance(value, dict) and set(value) <= {name} and not (
            "class_name" in value and "config" in value):
        return value.get(name)
    return value


class _MultiLoss:
    """The training loss of a model with several outputs: the ``loss_weights``-weighted
    sum of each output's loss. ``last_values`` keeps each output's (unweighted) loss of
    the latest call, for the ``<output>_loss`` logs."""

    def __init__(self, model):
        self.model = model
        self.last_values = []

    def __call__(self, y, y_pred, sample_weight=None):
        preds = tree.flatten(y_pred)
        targets = y.arrays if isinstance(y, multi_io.Columns) else tree.flatten(y)
        total, values = None, []
        for (_, loss_fn, weight), target, pred in zip(self.model._output_losses, targets,
                                                      preds):
            if loss_fn is None:
                continue
            value = loss_fn(target, pred, sample_weight=sample_weight)
            values.append(float(value.data))
            term = value if weight == 1.0 else value * weight
            total = term if total is None else total + term
        self.last_values = values
        return total


def _serialize_loss(loss, state):
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, dict) and not ("class_name" in loss and "config" in loss):
        return {k: _serialize_loss(v, state) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return [_serialize_loss(v, state) for v in loss]
    if callable(loss) and not isinstance(loss, (losses.Loss, type)):
        from minidl import saving  # a plain function: saved by its (registered) name

        return saving.registered_name(loss) or loss.__name__
    return _serialize_object(losses.get(loss))


def _serialize_metrics(metrics):
    def one(m):
        if m is None or isinstance(m, str):
            return m
        if isinstance(m, (list, tuple)):
            return [one(v) for v in m]
        return _metric_name(m, metrics_module.get(m))

    if isinstance(metrics, dict):
        return {k: one(v) for k, v in metrics.items()}
    return [one(m) for m in _as_list(metrics)]


def serialize_layer(layer):
    """``{"class_name", "config"}`` of a layer or model (a registered custom class under
    its registered name)."""
    from minidl import saving

    return {"class_name": saving.registered_name(type(layer)) or type(layer).__name__,
            "config": layer.get_config()}


def deserialize_layer(spec, custom_objects=None):
    """The layer (or model) a ``serialize_layer`` dict describes.

    Raises:
        TypeError: an unknown class that is neither built in, registered, nor in
            ``custom_objects`` (as Keras).
    """
    from minidl import saving
    from minidl.models.functional import Functional
    from minidl.models.sequential import Sequential

    name = spec["class_name"]
    builtin = {"Sequential": Sequential, "Functional": Functional, "Model": Functional}
    cls = builtin.get(name)
    if cls is None:
        cls = saving.lookup(name, custom_objects)
    if cls is None:
        try:
            cls = get_layer_class(name)
        except ValueError:
            raise saving.UnknownObjectError(
                f"Could not locate class {name!r}. Make sure custom classes are decorated "
                "with @keras.saving.register_keras_serializable(), or pass them to "
                f"load_model(..., custom_objects={{{name!r}: {name}}})"
            ) from None
    if isinstance(cls, type) and issubclass(cls, Model):
        return cls.from_config(spec["config"], custom_objects=custom_objects)
    with saving.custom_object_scope(custom_objects):
        return cls.from_config(spec["config"])


class _Snapshot:
    """What building a model changes, so a failed ``fit``/``predict`` can undo it: the
    attributes of the model and of each layer (lists copied, as ``add_weight`` appends),
    and the counters of minidl's random streams (building draws the initial weights)."""

    def __init__(self, model):
        self.objects = [model, *model._flatten_layers()]
        self.states = [{k: list(v) if isinstance(v, list) else v for k, v in vars(o).items()}
                       for o in self.objects]
        self.random_state = mrandom.get_state()

    def restore(self):
        for obj, state in zip(self.objects, self.states):
            vars(obj).clear()
            vars(obj).update(state)
        mrandom.set_state(self.random_state)


def _at_step(error, epoch, step, cause=None):
    """``error`` with ``.epoch`` and ``.batch`` (0-based, as callbacks count them)."""
    error.epoch, error.batch = epoch, step
    error.anomaly = getattr(cause, "anomaly", None)
    return error


def _as_list(metrics):
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or callable(metrics):
        return [metrics]
    return list(metrics)


def _metric_name(identifier, metric):
    if isinstance(identifier, str):
        return identifier
    return getattr(metric, "name", getattr(identifier, "__name__", str(identifier)))


def _serialize_object(obj):
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        return getattr(obj, "__name__", None)
    return {"class_name": type(obj).__name__, "config": get_config()}


def _readable_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"
