"""The base of every layer: ``Layer`` (weights, the build-on-first-call lifecycle, config),
``InputLayer``/``Input``, and the automatic names (``dense``, ``dense_1``, ...)."""


import inspect

import numpy as np

from minidl import config, initializers
from minidl import random as mrandom
from minidl.errors import ShapeError
from minidl.tensor import Tensor
from minidl.utils import tree
from minidl.utils.naming import snake_case

# ---------------------------------------------------------------------------------------
# Automatic names: dense, dense_1, dense_2, ... (as Keras)
# ---------------------------------------------------------------------------------------

_name_counts = {}


def unique_name(base):
    """``base`` the first time, then ``base_1``, ``base_2``, ... (reset by clear_session)."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def clear_session():
    """Reset automatic layer names (as ``keras.backend.clear_session``)."""
    _name_counts.clear()


def _check_positive_int(value, arg, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{layer}: {arg} must be a positive integer, got {type(value).__name__} {value!r}"
        )
    if value <= 0:
        raise ValueError(f"{layer}: {arg} must be a positive integer, got {value}")


def _batch_shape(input_shape=None, input_dim=None, batch_size=None):
    """Keras's ``input_shape`` (no batch axis) / ``input_dim`` as a full shape with batch."""
    if input_dim is not None:
        input_shape = (input_dim,)
    if input_shape is None:
        return None
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    return (batch_size, *tuple(input_shape))


def assign_checked(weights, values, owner):
    """Assign ``values`` to ``weights`` in place, after checking every count and shape: on
    a mismatch nothing is assigned (``set_weights`` of layers and models)."""
    values = list(values)
    if len(values) != len(weights):
        raise ShapeError(f"{owner} has {len(weights)} weights but set_weights got "
                         f"{len(values)} arrays")
    for w, v in zip(weights, values):
        if tuple(np.shape(v)) != tuple(w.shape):
            raise ShapeError(f"{owner}: weight {w.name} has shape {tuple(w.shape)}, got an "
                             f"array of shape {tuple(np.shape(v))}")
    for w, v in zip(weights, values):
        w.assign(np.asarray(v, dtype=w.dtype))  # assign moves host values to w's device


# ---------------------------------------------------------------------------------------
# The training flag of the call in progress
# ---------------------------------------------------------------------------------------

# The ``training`` value of the outermost layer call in progress (None outside any call).
# As Keras: a layer called without ``training=`` inside another layer's ``call`` gets the
# outer call's value, so ``fit``'s training=True reaches a Dropout inside a subclassed
# model even when its ``call`` does not pass ``training`` on.
_call_training = None

# layer class -> whether its call takes a ``training`` argument (inspected once per class).
_ACCEPTS_TRAINING = {}


def _accepts_training(layer):
    cls = type(layer)
    accepts = _ACCEPTS_TRAINING.get(cls)
    if accepts is None:
        params = inspect.signature(cls.call).parameters.values()
        accepts = any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in params)
        _ACCEPTS_TRAINING[cls] = accepts
    return accepts


def is_symbolic(value):
    """True when ``value`` (or a leaf of it) is a symbolic tensor: a ``keras.Input`` or the
    output of a layer called on one."""
    if getattr(value, "_symbolic", False):
        return True
    return tree.is_nested(value) and any(getattr(v, "_symbolic", False)
                                         for v in tree.flatten(value))


def _as_tensor(value):
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _none_batch(shapes):
    """Shapes with the batch axis as None (a structure of shapes for several inputs)."""
    return tree.map_shapes(lambda s: (None, *s[1:]) if s else s, shapes)


def _shape_of(structure):
    """The shape(s) of a Tensor or a structure of Tensors."""
    if isinstance(structure, Tensor):
        return tuple(structure.shape)
    return tree.map_structure(lambda t: tuple(t.shape), structure)


def probe_output(layer, input_shapes, dtypes=None):
    """Output shape(s) and dtype(s) of ``layer.call`` for inputs of ``input_shapes``, found
    by running ``call`` on zeros (without recording a graph): once with every unknown size
    (None) set to 1 and once set to 2; an output size that differs between the two runs
    depends on an unknown input size, so it is unknown (None) too.

    This is what ``compute_output_shape`` does for a layer that defines none: the output
    shape is never assumed equal to the input's.
    """
    from minidl.tensor import no_grad

    floatx = config.floatx()
    flat_dtypes = tree.flatten(dtypes) if dtypes is not None else []
    runs = []
    for fill in (1, 2):
        shapes = iter(tree.flatten_shapes(input_shapes))
        zeros = [Tensor(np.zeros([fill if d is None else d for d in shape],
                                 dtype=(flat_dtypes[i] if i < len(flat_dtypes) else None)
                                 or layer.dtype or floatx))
                 for i, shape in enumerate(shapes)]
        if tree.is_shape(input_shapes):
            x = zeros[0]
        else:
            it = iter(zeros)
            x = tree.map_shapes(lambda _, it=it: next(it), input_shapes)
        with no_grad():
            runs.append(layer._run_call(x, False, {}))

    def merged(a, b):
        return tuple(p if p == q else None for p, q in zip(a.shape, b.shape))

    first, second = runs
    if isinstance(first, Tensor):
        return merged(first, second), str(first.dtype)
    shapes = [merged(a, b) for a, b in zip(tree.flatten(first), tree.flatten(second))]
    it = iter(shapes)
    return (tree.map_structure(lambda _: next(it), first),
            tree.map_structure(lambda t: str(t.dtype), first))


# ---------------------------------------------------------------------------------------
# The base class
# ---------------------------------------------------------------------------------------


class Layer:
    """Base class of all layers (see the module docstring for the lifecycle).

    Subclass it as Keras's guide does: create sub-layers in ``__init__``, weights in
    ``build(input_shape)`` with ``self.add_weight(shape=..., initializer=...,
    trainable=..., name=...)``, and write the math in ``call(inputs)`` (add a ``training``
    argument only if the layer behaves differently in training: it is passed only to a
    ``call`` that accepts it, as Keras does).

    Layers and weights assigned as attributes are tracked in assignment order (also inside
    lists and dicts): a sub-layer's weights are this layer's weights, and setting
    ``trainable`` reaches every sub-layer.

    >>> class Linear(Layer):
    ...     def __init__(self, units=32):
    ...         super().__init__()
    ...         self.units = units
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1], self.units),
    ...                                  initializer="random_normal", trainable=True)
    ...         self.b = self.add_weight(shape=(self.units,), initializer="zeros")
    ...     def call(self, inputs):
    ...         return inputs @ self.w + self.b
    >>> Linear(4)(np.ones((2, 3), dtype="float32")).shape
    (2, 4)

    Args:
        name: the layer's name (default: the class name in snake case, made unique).
        trainable: whether ``fit`` updates this layer's weights.
        dtype: the dtype of the weights (default ``config.floatx()``).
        input_shape / input_dim: the input size without the batch axis, as Keras accepts on
            the first layer of a ``Sequential`` model.
    """

    def __new__(cls, *args, **kwargs):
        layer = object.__new__(cls)
        # The constructor's arguments, for the default get_config of a user's subclass
        # (as Keras 3 records them): a custom layer round-trips without writing one.
        object.__setattr__(layer, "_init_args", (args, kwargs))
        return layer

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        # Bookkeeping lists are set past __setattr__: they hold no layers to track.
        for attr in ("_tracked_names", "_weights", "_regularized", "_call_losses",
                     "_inbound_nodes"):
            if attr not in self.__dict__:
                object.__setattr__(self, attr, [])
        self.name = name or unique_name(snake_case(type(self).__name__))
        # This layer's random streams (initial weights, dropout masks) derive from this key:
        # its name when the user chose one (so adding other layers shifts nothing), else
        # its ordinal among layers of its kind since the last set_random_seed (so a model
        # rebuilt after re-seeding draws the same numbers, whatever its automatic names).
        self.random_key = name or mrandom.stream_name(type(self).__name__)
        self.trainable = trainable
        self.dtype = dtype
        self.built = False
        self.batch_input_shape = _batch_shape(input_shape, input_dim, batch_size)
        self.input_shape = None  # set by build, with the batch axis as None
        self.output_shape = None

    # ---- attribute tracking -----------------------------------------------------------
    def __setattr__(self, name, value):
        # Only containers, layers and tensors can hold something to track: everything
        # else (numbers, strings, arrays) goes straight through.
        if isinstance(value, (Layer, Tensor, list, tuple, dict)):
            self._track_attribute(name, value)
        object.__setattr__(self, name, value)

    def _track_attribute(self, name, value):
        if "_tracked_names" not in self.__dict__:  # assigned before Layer.__init__ ran
            for attr in ("_tracked_names", "_weights", "_regularized", "_call_losses",
                         "_inbound_nodes"):
                object.__setattr__(self, attr, [])
        if isinstance(value, Tensor):
            # A weight made outside add_weight (a Tensor that requires grad) is tracked
            # too; one made by add_weight is already in the list.
            if value.requires_grad and not any(w is value for w, _ in self._weights):
                self._weights.append((value, True))
            return
        # A tuple cannot change later, so one without a layer (a shape) is never scanned;
        # a list or dict may get layers later, so it is watched whatever it holds now.
        if isinstance(value, tuple) and not any(isinstance(v, Layer) for v in value):
            return
        if name not in self._tracked_names:
            self._tracked_names.append(name)

    def _sublayers(self):
        """The layers held in this layer's attributes, in assignment order, each once."""
        if not self._tracked_names:  # most built-in layers: nothing to scan
            return []
        found, seen = [], set()
        for attr in self._tracked_names:
            value = self.__dict__.get(attr)
            if isinstance(value, Layer):
                items = (value,)
            elif isinstance(value, (list, tuple)):
                items = value
            elif isinstance(value, dict):
                items = value.values()
            else:
                continue
            for item in items:
                if isinstance(item, Layer) and item is not self and id(item) not in seen:
                    seen.add(id(item))
                    found.append(item)
        return found

    def _flatten_layers(self):
        """Every layer inside this one, depth first, each once (self excluded)."""
        found, seen, stack = [], {id(self)}, list(reversed(self._sublayers()))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            found.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return found

    @property
    def trainable(self):
        return self._trainable_flag

    @trainable.setter
    def trainable(self, value):
        # As Keras: freezing (or unfreezing) a layer or model reaches every layer inside it.
        object.__setattr__(self, "_trainable_flag", bool(value))
        for layer in self._sublayers():
            layer.trainable = value

    # ---- weights ----------------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", name=None, trainable=True,
                   regularizer=None, dtype=None, **kwargs):
        """Create a weight (a Tensor; it requires grad when ``trainable``) and track it.

        Args:
            shape: the weight's shape (a tuple of ints).
            initializer: a name (``"zeros"``, ``"random_normal"``, ...) or an initializer.
            name: the weight's name inside the layer (default ``variable``, ``variable_1``).
            trainable: False makes a non-trainable weight (``fit`` never changes it).
            regularizer: a penalty added to the training loss.
            dtype: default the layer's dtype (``config.floatx()``).

        Returns:
            The new weight.
        """
        for ignored in ("constraint", "aggregation", "autocast", "synchronization"):
            kwargs.pop(ignored, None)  # Keras options with no effect in minidl
        if kwargs:
            raise TypeError(f"add_weight() got unexpected arguments {sorted(kwargs)}")
        if shape is None:
            shape = ()
        if name is None:  # as Keras: variable, variable_1, ... (also the random stream key)
            n = sum(1 for w, _ in self._weights if w.name.split("/")[-1].startswith("variable"))
            name = "variable" if n == 0 else f"variable_{n}"
        dtype = dtype or self.dtype or config.floatx()
        init = initializers.get(initializer if initializer is not None else "glorot_uniform")
        value = init(tuple(shape), dtype=dtype,
                     generator=mrandom.generator(f"{self.random_key}/{name}"))
        weight = Tensor(np.asarray(value, dtype=dtype), requires_grad=bool(trainable),
                        name=f"{self.name}/{name}")
        return self._track(weight, bool(trainable), regularizer)

    def _track(self, weight, trainable, regularizer):
        self._weights.append((weight, trainable))
        if regularizer is not None:
            from minidl import regularizers

            self._regularized.append((weight, regularizers.get(regularizer)))
        return weight

    def _gather(self, own, attr):
        """``own`` weights, then each sub-layer's ``attr`` weights, each weight once."""
        subs = self._sublayers()
        if not subs:
            return own
        seen = {id(w) for w in own}
        for layer in subs:
            for w in getattr(layer, attr):
                if id(w) not in seen:
                    seen.add(id(w))
                    own.append(w)
        return own

    @property
    def weights(self):
        """All weights: this layer's own (in creation order), then its sub-layers'."""
        return self._gather([w for w, _ in self._weights], "weights")

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._gather([w for w, t in self._weights if t], "trainable_weights")

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._gather([w for w, t in self._weights if not t], "non_trainable_weights")

    # Keras 3's names for the same lists.
    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies)."""
        return [np.array(w.to_numpy()) for w in self.weights]

    def set_weights(self, values):
        """Set the weights from a list of arrays, checking count and shapes first."""
        assign_checked(self.weights, values, f"layer '{self.name}'")

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    # ---- losses -----------------------------------------------------------------------
    def add_loss(self, loss):
        """Add a scalar to the training loss, from inside ``call`` (Keras's ``add_loss``):
        ``fit`` adds it to the compiled loss; ``losses`` lists it until the next call."""
        self._call_losses.append(loss if isinstance(loss, Tensor) else Tensor(loss))

    @property
    def losses(self):
        """Scalar Tensors added to the training loss: the weights' regularization
        penalties and the ``add_loss`` values of the latest call, this layer's first, then
        its sub-layers'."""
        found = [reg(w) for w, reg in self._regularized]
        if self._call_losses:
            found.extend(self._call_losses)
        for layer in self._sublayers():
            found.extend(layer.losses)
        return found

    # ---- lifecycle --------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training=False):
        raise NotImplementedError(
            f"layer '{self.name}' ({type(self).__name__}) has no call(): a Layer subclass "
            "must define call(self, inputs) with its computation"
        )

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``. This default runs ``call`` on zeros of
        that shape (see ``probe_output``); layers that know their shape override it."""
        return probe_output(self, input_shape)[0]

    def reseed(self, key):
        """Restart this layer's random streams from (seed, layer name, ``key``); a no-op for
        layers that draw no random numbers. ``fit`` calls it at the start of each epoch with
        ``"epoch<e>"``, so masks depend on the epoch, not on what ran before it."""

    def build_for(self, input_shape, compute_output=True):
        """Build once for ``input_shape`` and record input/output shapes (batch as None)."""
        input_shape = _none_batch(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
            if compute_output:
                shape = self.compute_output_shape(input_shape)
                self.output_shape = tree.map_shapes(tuple, shape)
        return self.output_shape

    def __call__(self, inputs, training=None, **kwargs):
        """Run the layer: build it on the first call, then ``call``. On symbolic inputs
        (``keras.Input`` and what layers made from it) the call is recorded instead, as
        one step of a functional model."""
        if type(inputs) is not Tensor:
            if is_symbolic(inputs):
                from minidl.models import functional

                return functional.symbolic_call(self, inputs, training, kwargs)
            inputs = (tree.map_structure(_as_tensor, inputs) if tree.is_nested(inputs)
                      else _as_tensor(inputs))
        if not self.built:
            self.build_for(_shape_of(inputs), compute_output=False)
        if self._call_losses:  # add_loss values are those of the latest call
            del self._call_losses[:]
        outputs = self._run_call(inputs, training, kwargs)
        if self.output_shape is None:
            self.output_shape = _none_batch(_shape_of(outputs))
        return outputs

    def _run_call(self, inputs, training, kwargs):
        """``call`` with ``training`` only if it accepts one; the value (given, or else
        the outer call's) is what nested layer calls inherit."""
        global _call_training
        if training is None:
            training = _call_training
            if training is None:
                return self.call(inputs, **kwargs)
        outer = _call_training
        _call_training = training
        try:
            accepts = _ACCEPTS_TRAINING.get(type(self))  # inline: this runs every step
            if accepts is None:
                accepts = _accepts_training(self)
            if accepts:
                return self.call(inputs, training=training, **kwargs)
            return self.call(inputs, **kwargs)
        finally:
            _call_training = outer

    # ---- symbolic face (functional models) ----------------------------------------------
    @property
    def input(self):
        """The symbolic input this layer was first called on (functional models)."""
        return self._node_tensors("input")

    @property
    def output(self):
        """The symbolic output of this layer's first call (functional models)."""
        return self._node_tensors("output")

    def _node_tensors(self, which):
        if not self._inbound_nodes:
            raise AttributeError(
                f"layer '{self.name}' has never been called on a symbolic input, so it has "
                f"no {which}; call it on keras.Input(...) first (functional API)"
            )
        node = self._inbound_nodes[0]
        return node.call_args if which == "input" else node.output_structure

    # ---- configuration ----------------------------------------------------------------
    def get_config(self):
        """The constructor arguments that rebuild this layer (``from_config``). A user's
        subclass that defines no ``get_config`` gets the arguments it was constructed
        with, when they are plain values (numbers, strings, lists, dicts)."""
        config_ = {"name": self.name, "trainable": self.trainable}
        if self.batch_input_shape is not None:
            config_["batch_input_shape"] = list(self.batch_input_shape)
        if self.random_key != self.name:  # minidl only: a reloaded layer keeps its streams
            config_["random_key"] = self.random_key
        if not type(self).__module__.startswith("minidl."):
            config_.update({k: v for k, v in self._init_config().items()
                            if k not in config_})
        return config_

    def _init_config(self):
        """The arguments given to the constructor, by parameter name (plain values only)."""
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        try:
            bound = inspect.signature(type(self).__init__).bind_partial(None, *args, **kwargs)
        except TypeError:
            return {}
        found = {}
        for key, value in list(bound.arguments.items())[1:]:
            param = inspect.signature(type(self).__init__).parameters[key]
            values = value.items() if param.kind is param.VAR_KEYWORD else [(key, value)]
            for k, v in values:
                if param.kind is not param.VAR_POSITIONAL and _is_plain(v):
                    found[k] = list(v) if isinstance(v, tuple) else v
        return found

    @classmethod
    def from_config(cls, config_):
        config_ = dict(config_)
        batch_input_shape = config_.pop("batch_input_shape", None)
        random_key = config_.pop("random_key", None)
        layer = cls(**_accepted(cls, config_))
        if batch_input_shape is not None:
            layer.batch_input_shape = tuple(batch_input_shape)
        if random_key is not None:
            layer.random_key = random_key
        return layer

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    """The start of a model: declares the input's shape and dtype.

    ``keras.Input(shape=...)`` makes one. It serves both model kinds: listed first in a
    ``Sequential`` it declares the input shape; in the functional API it acts as the
    symbolic input tensor (its ``shape`` has the batch axis, as ``None``), that layers are
    called on.
    """

    _symbolic = True  # calling a layer on it records a functional-model node

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, **kwargs):
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None and "batch_shape" in kwargs:
            batch_shape = tuple(kwargs.pop("batch_shape"))
            shape, batch_size = batch_shape[1:], batch_shape[0]
        if shape is None:
            raise ValueError("InputLayer needs shape=..., the input size without batch axis")
        if isinstance(shape, int):
            shape = (shape,)
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype,
                         input_shape=tuple(shape), batch_size=batch_size, **kwargs)
        self.shape = tuple(shape)  # one sample's shape (keras.Input gives the batch shape)
        self.built = True
        self.input_shape = self.output_shape = (None, *tuple(shape))
        from minidl.models import functional

        self._keras_tensor = functional.input_tensor(self)

    @property
    def batch_shape(self):
        return self.batch_input_shape

    @property
    def ndim(self):
        return len(self.batch_input_shape)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        config_ = {"shape": list(self.batch_input_shape[1:]), "name": self.name}
        if self.dtype is not None:
            config_["dtype"] = str(np.dtype(self.dtype))
        return config_

    @classmethod
    def from_config(cls, config_):
        return cls(**config_)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Keras's ``Input``: the symbolic input of a functional model, or the first entry of
    a ``Sequential`` model (it declares the input shape).

    >>> x = Input(shape=(3,))
    >>> x.shape
    (None, 3)

    Args:
        shape: the shape of one sample (no batch axis).
        batch_size: optional fixed batch size.
        dtype: the input's dtype (default ``config.floatx()``; integer inputs stay integer).
        name: the input's name (matches a key of a dict of input arrays in ``fit``).
        batch_shape: the full shape, batch axis included (instead of ``shape``).

    Returns:
        An ``InputLayer`` that acts as the symbolic input tensor.
    """
    if batch_shape is not None:
        layer = InputLayer(batch_shape=batch_shape, dtype=dtype, name=name)
    else:
        layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    # As the symbolic tensor Keras's Input returns, its shape has the batch axis.
    layer.shape = layer.batch_input_shape
    layer.dtype = layer._keras_tensor.dtype
    return layer


def _is_plain(value):
    """True for a value JSON can hold (numbers, strings, None, lists and dicts of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _accepted(cls, config_):
    """``config_`` without the keys ``cls.__init__`` cannot take (a user's class without
    ``**kwargs`` has no ``name=``), so ``from_config`` never fails on them."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return config_
    names = {p.name for p in params}
    return {k: v for k, v in config_.items() if k in names}


def _serialize(obj):
    """``{"class_name", "config"}`` for a regularizer or similar object (None stays None)."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def _shape_str(shape):
    return str((None, *tuple(shape)[1:]))
