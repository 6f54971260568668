"""``Sequential``: a model that is a plain stack of layers, each feeding the next.

It is a ``Model`` (``minidl/models/model.py`` holds compile/fit/evaluate/predict/summary
and saving, once for every kind of model); this file holds only what a stack adds: ``add``
and ``pop``, building the layers one after another (so two layers whose sizes cannot
connect are named together), and its config.

    >>> from minidl.layers import Dense, Flatten
    >>> model = Sequential([Flatten(input_shape=(28, 28)), Dense(10, activation="softmax")])
    >>> model.output_shape
    (None, 10)
"""

from minidl.errors import ShapeError
from minidl.layers import InputLayer, Layer
from minidl.layers.base import unique_name
from minidl.models.model import Model, deserialize_layer


class Sequential(Model):
    """A linear stack of layers (or models: a model is a layer).

    >>> model = Sequential([Flatten(input_shape=(28, 28)), Dense(10, activation="softmax")])
    ...                                                               # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
    ...               metrics=["accuracy"])                            # doctest: +SKIP
    >>> history = model.fit(x_train, y_train, epochs=5, validation_split=0.2)  # doctest: +SKIP

    Args:
        layers: a list of layers (an ``Input(...)`` first is allowed).
        name: the model's name (default ``sequential``, ``sequential_1``, ...).
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise TypeError(f"Sequential() got unexpected arguments {sorted(kwargs)}")
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._layers = []
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    # ---- structure --------------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layers)

    def _sublayers(self):
        return self.__dict__.get("_layers", [])

    def add(self, layer):
        """Append a layer (or a model). An ``InputLayer``/``Input`` first declares the input
        shape."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("an Input/InputLayer can only be the first layer of a model")
            self._input_layer = layer
            self._try_build()
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a minidl Layer, got {type(layer).__name__}: {layer!r}"
            )
        self._layers.append(layer)
        if not self.trainable:  # as Keras: a frozen model freezes what is added to it
            layer.trainable = False
        self.built = False
        self._try_build()
    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise IndexError("pop() on a Sequential model with no layers")
        layer = self._layers.pop()
        self.built = False
        self._try_build()
        return layer

    def _declared_input_shape(self):
        if self._input_layer is not None:
            return self._input_layer.batch_input_shape
        if self._layers and self._layers[0].batch_input_shape is not None:
            return self._layers[0].batch_input_shape
        return None

    def _try_build(self):
        shape = self._declared_input_shape()
        if shape is not None and self._layers:
            self.build(shape)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first).

        Raises:
            ShapeError: two adjacent layers whose sizes cannot connect (names both).
        """
        if input_shape is None:
            input_shape = self._declared_input_shape()
        if input_shape is None:
            raise ValueError(
                f"model '{self.name}' does not know its input shape yet: pass "
                "input_shape=... to the first layer, start with keras.Input(shape=...), "
                "call model.build((None, n_features)), or call the model on data"
            )
        shape = (None, *tuple(input_shape)[1:])
        self.batch_input_shape = shape
        previous = "the input"
        for i, layer in enumerate(self._layers):
            declared = layer.batch_input_shape
            if i > 0 and declared is not None and not _shapes_connect(declared, shape):
                # Keras ignores input_shape on a later layer; a mismatch there is almost
                # surely a mistake in the model, so it is reported rather than ignored.
                raise ShapeError(
                    f"layers '{self._layers[i - 1].name}' and '{layer.name}' cannot connect: "
                    f"{previous} produces outputs of shape {shape}, but '{layer.name}' "
                    f"declares input_shape {(None, *declared[1:])}; fix the sizes, or drop "
                    f"input_shape from '{layer.name}' (only the first layer needs it)"
                )
            if layer.built and _built_shape(layer) is not None:
                expected = _built_shape(layer)
                if len(expected) != len(shape) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(expected[1:], shape[1:])
                ):
                    raise ShapeError(
                        f"layer '{layer.name}' was built for inputs of shape {expected} but "
                        f"{previous} produces {shape}"
                    )
                shape = layer.output_shape
            else:
                try:
                    shape = layer.build_for(shape)
                except ShapeError as exc:
                    raise ShapeError(f"{exc} (its input comes from {previous}, which produces "
                                     f"shape {shape})") from None
            previous = f"layer '{layer.name}'"
        self.output_shape = shape
        self.built = True
        self._trainable_cache = None


    def call(self, inputs, training=None):
        """Run the layers in order on ``inputs`` (Tensors); returns a Tensor."""
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    # ---- configuration ----------------------------------------------------------------
    def get_config(self):
        from minidl.models.model import serialize_layer

        layers = []
        if self._input_layer is not None:
            layers.append({"class_name": "InputLayer", "config": self._input_layer.get_config()})
        for layer in self._layers:
            layers.append(serialize_layer(layer))
        return {"name": self.name, "layers": layers,
                "build_input_shape": list(getattr(self, "batch_input_shape", None) or [])
                or None}

    @classmethod
    def from_config(cls, config_, custom_objects=None):
        model = cls(name=config_.get("name"))
        for spec in config_["layers"]:
            model.add(deserialize_layer(spec, custom_objects))
        shape = config_.get("build_input_shape")
        if shape and not model.built:
            model.build(tuple(shape))
        return model


def _built_shape(layer):
    """The input shape a built layer was built for (None when it does not say)."""
    if isinstance(layer, Model):
        return layer.batch_input_shape if layer.built else None
    return layer.input_shape


def _shapes_connect(declared, produced):
    """True if a layer declaring inputs of shape ``declared`` can take ``produced``."""
    declared, produced = tuple(declared)[1:], tuple(produced)[1:]
    return len(declared) == len(produced) and all(
        a is None or b is None or a == b for a, b in zip(declared, produced))


