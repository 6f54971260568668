"""The base of every layer: ``Layer`` (weights, the build-on-first-call lifecycle, config),
``InputLayer``/``Input``, and the automatic names (``dense``, ``dense_1``, ...)."""


import numpy as np

from minidl import config, initializers
from minidl import random as mrandom
from minidl.errors import ShapeError
from minidl.tensor import Tensor
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
# The base class
# ---------------------------------------------------------------------------------------


class Layer:
    """Base class of all layers (see the module docstring for the lifecycle).

    Args:
        name: the layer's name (default: the class name in snake case, made unique).
        trainable: whether ``fit`` updates this layer's weights.
        input_shape / input_dim: the input size without the batch axis, as Keras accepts on
            the first layer of a ``Sequential`` model.
    """

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        # This layer's random streams (initial weights, dropout masks) derive from this key:
        # its name when the user chose one (so adding other layers shifts nothing), else
        # its ordinal among layers of its kind since the last set_random_seed (so a model
        # rebuilt after re-seeding draws the same numbers, whatever its automatic names).
        self.random_key = name or mrandom.stream_name(type(self).__name__)
        self.trainable = trainable
        self.dtype = dtype
        self.built = False
        self._weights = []
        self._regularized = []  # (weight, regularizer) pairs
        self.batch_input_shape = _batch_shape(input_shape, input_dim, batch_size)
        self.input_shape = None  # set by build, with the batch axis as None
        self.output_shape = None

    # ---- weights ----------------------------------------------------------------------
    def add_weight(self, shape, initializer="glorot_uniform", name=None, trainable=True,
                   regularizer=None, dtype=None):
        """Create a weight (a Tensor that requires grad) and track it."""
        dtype = dtype or self.dtype or config.floatx()
        init = initializers.get(initializer)
        value = init(shape, dtype=dtype, generator=mrandom.generator(f"{self.random_key}/{name}"))
        weight = Tensor(np.asarray(value, dtype=dtype), requires_grad=trainable,
                        name=f"{self.name}/{name}")
        return self._track(weight, trainable, regularizer)

    def _track(self, weight, trainable, regularizer):
        self._weights.append((weight, trainable))
        if regularizer is not None:
            self._regularized.append((weight, regularizer))
        return weight

    @property
    def weights(self):
        return [w for w, _ in self._weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w, t in self._weights if t]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for w, t in self._weights if not t]

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies)."""
        return [np.array(w.to_numpy()) for w in self.weights]

    def set_weights(self, values):
        """Set the weights from a list of arrays, checking count and shapes first."""
        assign_checked(self.weights, values, f"layer '{self.name}'")

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self):
        """Regularization penalties of this layer's weights (scalar Tensors)."""
        return [reg(w) for w, reg in self._regularized]

    # ---- lifecycle --------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training=False):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def reseed(self, key):
        """Restart this layer's random streams from (seed, layer name, ``key``); a no-op for
        layers that draw no random numbers. ``fit`` calls it at the start of each epoch with
        ``"epoch<e>"``, so masks depend on the epoch, not on what ran before it."""

    def build_for(self, input_shape):
        """Build once for ``input_shape`` and record input/output shapes (batch as None)."""
        input_shape = (None, *tuple(input_shape)[1:])
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
            self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    def __call__(self, inputs, training=False):
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        if not self.built:
            self.build_for(x.shape)
        return self.call(x, training=training)

    # ---- configuration ----------------------------------------------------------------
    def get_config(self):
        config_ = {"name": self.name, "trainable": self.trainable}
        if self.batch_input_shape is not None:
            config_["batch_input_shape"] = list(self.batch_input_shape)
        if self.random_key != self.name:  # minidl only: a reloaded layer keeps its streams
            config_["random_key"] = self.random_key
        return config_

    @classmethod
    def from_config(cls, config_):
        config_ = dict(config_)
        batch_input_shape = config_.pop("batch_input_shape", None)
        random_key = config_.pop("random_key", None)
        layer = cls(**config_)
        if batch_input_shape is not None:
            layer.batch_input_shape = tuple(batch_input_shape)
        if random_key is not None:
            layer.random_key = random_key
        return layer

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    """Declares the input shape of a model: ``Sequential([Input(shape=(784,)), ...])``."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, **kwargs):
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None and "batch_shape" in kwargs:
            batch_shape = tuple(kwargs.pop("batch_shape"))
            shape, batch_size = batch_shape[1:], batch_shape[0]
        if shape is None:
            raise ValueError("InputLayer needs shape=..., the input size without batch axis")
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype,
                         input_shape=tuple(shape), batch_size=batch_size, **kwargs)
        self.shape = tuple(shape)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name}

    @classmethod
    def from_config(cls, config_):
        return cls(**config_)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Keras's ``Input``: here it makes an ``InputLayer`` for the start of a Sequential model."""
    if batch_shape is not None:
        return InputLayer(batch_shape=batch_shape, dtype=dtype, name=name)
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)


def _serialize(obj):
    """``{"class_name", "config"}`` for a regularizer or similar object (None stays None)."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def _shape_str(shape):
    return str((None, *tuple(shape)[1:]))
