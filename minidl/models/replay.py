"""Training steps replayed from a recording: the same ops, without the Python around them.

A training step of a small model is mostly Python: each layer's ``__call__``, each op's
``Op.apply`` (a Tensor made, the graph recorded), then the engine's walk back over the graph.
For the seeds' MLP at batch 32 that is about half of the step; the rest is BLAS and the
optimizer's pass over the weights. Yet every step of ``fit`` runs the same ops in the same
order on arrays of the same shapes. So ``fit`` records the ops of one ordinary step
(``Recorder``), and replays them for the next steps (``RecordedStep``): each op's ``forward``
on the arrays of this step, then each ``backward`` in reverse order, exactly the calls the
engine would make. The results are bitwise those of the ordinary step; what is skipped is
the bookkeeping: Tensors, layer calls, the graph and its topological sort.

A recording is used only where it is certain to be right:

- every layer of the model is one of ``REPLAYABLE_LAYERS``: built-in layers whose every
  computation on the batch is an op (no per-step Python state: not BatchNormalization, whose
  moving averages are updated outside the ops; not a user's layer, whose ``call`` may branch
  on the data);
- the model is a ``Sequential`` or a functional ``Model`` (not a subclass, whose ``call`` is
  the user's), the loss is one of minidl's own, no op is a user's op, and
  ``debug.detect_anomaly`` is off;
- every array an op reads is this step's ``x``, ``y`` or ``sample_weight``, a model weight
  (read again at each replay: it changes in place), an earlier op's output, or a constant of
  at most one element. Anything else (an array made from the batch outside the ops) makes the
  recording unusable, and ``fit`` goes on with ordinary steps.

A recording belongs to one ``fit`` call, one batch shape (the last, smaller batch gets its
own) and one epoch (Dropout's random stream is re-keyed each epoch, and a recording holds the
stream it saw). It holds the layers' settings of its step too: a callback that changes one
(a Dropout rate) inside an epoch is heard from the next epoch on.

Switch it off with ``minidl.config.set_step_replay(False)`` (or ``MINIDL_STEP_REPLAY=0``) to
compare; a test checks both give bitwise the same training.
"""

import contextlib

import numpy as np

from minidl import tensor as tensor_module
from minidl.layers import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    InputLayer,
    LeakyReLU,
    ReLU,
    Reshape,
    Softmax,
)
from minidl.tensor import unbroadcast

# Built-in layers whose call is a fixed sequence of ops on the batch (see the docstring).
REPLAYABLE_LAYERS = frozenset({InputLayer, Flatten, Reshape, Dense, Dropout, Activation, ReLU,
                               LeakyReLU, Softmax})


class Recorder:
    """Collects what ``Op.apply`` runs while it is active (``with Recorder() as tape``)."""

    def __init__(self):
        self.entries = []  # (op class, settings, input Tensors, output Tensor)

    def __enter__(self):
        self._previous = tensor_module._tape
        tensor_module._tape = self
        return self

    def __exit__(self, *exc):
        tensor_module._tape = self._previous
        return False

    def record(self, cls, settings, inputs, out):
        self.entries.append((cls, settings, inputs, out))


# Where an op's input comes from, at replay time.
_OUTPUT, _WEIGHT, _FEED, _CONSTANT = range(4)
_FEEDS = ("x", "y", "sample_weight")


class RecordedStep:
    """The ops of one training step, ready to run again on another batch of the same shape.

    Build it with ``RecordedStep.from_tape`` (None when the tape cannot be replayed safely);
    ``run(x, y, sample_weight)`` then does forward, backward and sets every trainable
    weight's ``.grad``, returning ``(loss array, prediction array)``.
    """

    def __init__(self, ops, backward_order, loss_index, prediction_index, weights):
        self.ops = ops  # (cls, settings, sources, needs_grad, gradient targets)
        self.backward_order = backward_order  # op indices, as the engine walks them
        self.loss_index = loss_index
        self.prediction_index = prediction_index
        self.weights = weights  # the trainable weights, in the model's order

    @classmethod
    def from_tape(cls, tape, feeds, loss, prediction, weights, all_weights):
        """A replayable step from ``tape``, or None if any input's source is uncertain.

        Args:
            tape: the ``Recorder`` of one ordinary step (forward and loss).
            feeds: ``(x, y, sample_weight)`` arrays that step was given.
            loss: the loss Tensor; prediction: the model's output Tensor.
            weights: the trainable weights; all_weights: every weight of the model.
        """
        produced = {}  # id(output Tensor) -> op index
        weight_ids = {id(w): w for w in all_weights}
        ops = []
        for index, (op_cls, settings, inputs, out) in enumerate(tape.entries):
            if not op_cls._trusted:
                return None  # a user's op: its forward may depend on more than its inputs
            sources = []
            for t in inputs:
                if id(t) in produced:
                    sources.append((_OUTPUT, produced[id(t)]))
                elif id(t) in weight_ids:
                    sources.append((_WEIGHT, t))
                else:
                    feed = next((k for k, a in enumerate(feeds)
                                 if a is not None and t.data is a), None)
                    if feed is not None:
                        sources.append((_FEED, feed))
                    elif t.data.size <= 1 and not t.requires_grad:
                        sources.append((_CONSTANT, t.data))
                    else:
                        return None  # an array made outside the ops: not safe to replay
            needs = tuple(t.requires_grad for t in inputs)
            # for the backward: where each input that needs a gradient sends it
            targets = tuple((position, kind, where, t.data.shape, t.data.dtype)
                            for position, ((kind, where), t) in enumerate(zip(sources, inputs))
                            if t.requires_grad and kind in (_OUTPUT, _WEIGHT))
            ops.append((op_cls, settings, tuple(sources), needs, targets))
            produced[id(out)] = index
        if id(loss) not in produced or id(prediction) not in produced:
            return None
        # The engine's order for the backward pass (gradients reaching one array from
        # several ops are summed in this order: another order could change the last bit).
        backward_order = [produced[id(node)]
                          for node in reversed(tensor_module._topological_order(loss))]
        return cls(ops, backward_order, produced[id(loss)], produced[id(prediction)],
                   list(weights))

    def run(self, x, y, sample_weight):
        """One training step on this batch: every recorded op's forward, then (when the loss
        is finite) the backward pass, which sets each trainable weight's ``.grad``."""
        feeds = (x, y, sample_weight)
        values = []  # each op's output array
        ran = []  # each op object, holding what its backward needs
        for op_cls, settings, sources, needs, _ in self.ops:
            op = op_cls(**settings) if settings else op_cls()
            op.needs_grad = needs
            arrays = []
            for kind, where in sources:
                if kind == _OUTPUT:
                    arrays.append(values[where])
                elif kind == _WEIGHT:
                    arrays.append(where.data)
                elif kind == _FEED:
                    arrays.append(feeds[where])
                else:
                    arrays.append(where)
            out = op.forward(*arrays)
            if isinstance(out, np.generic):  # as Op.apply: reductions return scalars
                out = np.asarray(out)
            values.append(out)
            ran.append(op)
        loss = values[self.loss_index]
        if np.isfinite(loss).all():
            self._backward(ran, loss)
        return loss, values[self.prediction_index]

    def _backward(self, ran, loss):
        """The engine's chain rule (``Tensor._run_backward``) over the recorded order."""
        grads = [None] * len(ran)
        grads[self.loss_index] = np.ones_like(loss)
        weight_grads = {}  # id(weight) -> gradient
        for index in self.backward_order:
            g = grads[index]
            if g is None:
                continue
            grads[index] = None
            in_grads = ran[index].backward(g)
            ran[index] = None  # its saved arrays can go now, as the engine frees them
            for position, kind, where, shape, dtype in self.ops[index][4]:
                ig = in_grads[position]
                if ig is None:
                    continue
                if ig.shape != shape:
                    ig = unbroadcast(ig, shape)
                if ig.dtype != dtype:
                    ig = ig.astype(dtype)
                if kind == _OUTPUT:
                    prev = grads[where]
                    grads[where] = ig if prev is None else prev + ig
                    continue
                key = id(where)
                prev = weight_grads.get(key)
                if prev is not None:
                    weight_grads[key] = prev + ig
                    continue
                # A weight keeps this array as its .grad: it must be its own (the engine's
                # rule), not a view, nor the array another weight got.
                if ig.base is not None or not ig.flags.writeable or any(
                        ig is other for other in weight_grads.values()):
                    ig = ig.copy()
                weight_grads[key] = ig
        for w in self.weights:
            w.grad = weight_grads.get(id(w))


def _is_builtin(obj):
    """A minidl function or object (an activation, a regularizer), not a user's."""
    if obj is None:
        return True
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return module.startswith("minidl.")


def replayable_layer(layer):
    """True for a layer ``fit`` may replay: a built-in class listed in REPLAYABLE_LAYERS,
    with built-in activation and regularizers (a user's function may branch on the data)."""
    if type(layer) not in REPLAYABLE_LAYERS:
        return False
    return all(_is_builtin(getattr(layer, name, None)) for name in (
        "activation", "kernel_regularizer", "bias_regularizer", "activity_regularizer"))


class StepReplay:
    """The recordings of one ``fit`` call: one per batch shape, dropped at each epoch."""

    MAX_RECORDINGS = 8  # batches of ever new shapes (a generator's) are not worth recording

    def __init__(self, int64_labels=False):
        self.steps = {}  # (x shape, y shape, has weights) -> RecordedStep, or False: unusable
        # Sparse labels reach the loss's op as int64 (the loss converts them); given as
        # int64, the op reads this step's own array, which the recording can follow.
        self.int64_labels = int64_labels

    @classmethod
    def for_model(cls, model):
        """A ``StepReplay`` when ``model``'s steps can be recorded safely, else None."""
        from minidl import config, debug
        from minidl.losses import Loss
        from minidl.models.functional import Functional
        from minidl.models.sequential import Sequential

        if (not config.step_replay() or type(model) not in (Sequential, Functional)
                or model._device != "cpu" or debug.current_detector() is not None
                or getattr(model, "_output_loss_names", None)):
            return None
        loss = model.loss_fn
        # minidl's own loss classes (a user's function comes wrapped: check what it wraps)
        if (not isinstance(loss, Loss) or not _is_builtin(loss)
                or not _is_builtin(getattr(loss, "fn", None))):
            return None
        if not all(replayable_layer(layer) for layer in model._flatten_layers()
                   if layer is not model):
            return None
        from minidl.losses import SparseCategoricalCrossentropy

        return cls(int64_labels=isinstance(loss, SparseCategoricalCrossentropy))

    def new_epoch(self):
        # Dropout's stream is re-keyed for each epoch; a recording holds the one it saw.
        self.steps.clear()

    @staticmethod
    def key(x, y, sample_weight):
        return (x.shape, x.dtype, y.shape, y.dtype, sample_weight is None)

    def labels(self, y):
        if (self.int64_labels and type(y) is np.ndarray and y.dtype.kind in "iu"
                and y.dtype != np.int64):
            return y.astype(np.int64)
        return y

    def lookup(self, x, y, sample_weight):
        """The recorded step for this batch's shapes: a ``RecordedStep``, None (not recorded
        yet: record this one) or False (this batch cannot be replayed)."""
        if type(x) is not np.ndarray or type(y) is not np.ndarray:
            return False  # several inputs or outputs, or no targets: ordinary steps
        return self.steps.get(self.key(x, y, sample_weight))

    def recorder(self, x, y, sample_weight):
        """A ``Recorder`` for this step when its shapes have no recording yet, else None."""
        if self.lookup(x, y, sample_weight) is None and len(self.steps) < self.MAX_RECORDINGS:
            return Recorder()
        return None

    def store(self, tape, feeds, loss, prediction, model):
        step = RecordedStep.from_tape(tape, feeds, loss, prediction, model._trainable(),
                                      model.weights)
        self.steps[self.key(*feeds)] = step if step is not None else False


@contextlib.contextmanager
def replaying(model):
    """While ``fit`` trains ``model``: its ``_step_replay``, when its steps can be replayed."""
    model._step_replay = StepReplay.for_model(model)
    try:
        yield
    finally:
        model._step_replay = None
