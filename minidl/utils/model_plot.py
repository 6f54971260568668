"""``plot_model`` (``keras.utils.plot_model``): draw a model's layers, without Graphviz."""

from minidl.utils.drawing import Drawing


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    from minidl import activations

    name = activations.serialize(activation)
    return name if isinstance(name, str) else getattr(activation, "__name__", str(name))


def _shape(shape):
    return "?" if shape is None else str(tuple(shape))


def _layer_lines(layer, options, input_shape=None, output_shape=None):
    """The text of one layer's box, as Keras writes it: name and class, then the options."""
    name = type(layer).__name__
    lines = [f"{layer.name} ({name})" if options["show_layer_names"] else name]
    if options["show_shapes"]:
        lines.append(f"input: {_shape(input_shape)}")
        lines.append(f"output: {_shape(output_shape)}")
    if options["show_dtype"]:
        dtype = getattr(layer, "dtype", None)
        if dtype is None:
            from minidl import config

            dtype = config.floatx()
        lines.append(f"dtype: {dtype}")
    if options["show_layer_activations"]:
        activation = _activation_name(layer)
        if activation is not None:
            lines.append(f"activation: {activation}")
    if options["show_trainable"]:
        lines.append(f"trainable: {bool(getattr(layer, 'trainable', True))}")
    return lines


def _sublayers(layer):
    """The layers inside a model used as a layer, or None for a plain layer."""
    inner = getattr(layer, "layers", None)
    return list(inner) if isinstance(inner, (list, tuple)) else None


def _is_functional(model):
    """A model built from ``keras.Input``: its layer calls are recorded as nodes."""
    return getattr(model, "_nodes", None) is not None and (
        getattr(model, "_inputs_flat", None) is not None)


def _is_sequential(model):
    return type(model).__name__ == "Sequential" or hasattr(model, "_input_layer")


class _Plotter:
    """Adds a model's boxes and arrows to a ``Drawing``; nested models recursively."""

    def __init__(self, drawing, options):
        self.drawing, self.options = drawing, options

    def box(self, key, layer, prefix, in_shapes, out_shapes, kind="layer"):
        lines = _layer_lines(layer, self.options, in_shapes, out_shapes)
        lines[0] = prefix + lines[0]
        self.drawing.add_node(key, lines, kind, tooltip=repr(layer))
        return key

    def connect(self, sources, key):
        for source in sources:
            self.drawing.add_edge(source, key)

    def layer(self, layer, sources, prefix, in_shapes, out_shapes, key):
        """One layer call: a box, or (a model with ``expand_nested``) its own graph.
        Returns the keys of the boxes that make its output(s)."""
        inner = _sublayers(layer)
        if inner is not None and self.options["expand_nested"]:
            return self.model(layer, sources, f"{prefix}{layer.name}/")
        self.box(key, layer, prefix, in_shapes, out_shapes,
                 "fused" if inner is not None else "layer")
        self.connect(sources, key)
        return [key]

    def model(self, model, sources, prefix=""):
        """Draw ``model`` fed by the boxes ``sources`` (None: draw its inputs too)."""
        if _is_functional(model):
            return self.functional(model, sources, prefix)
        if _is_sequential(model):
            return self.sequential(model, sources, prefix)
        return self.subclassed(model, sources, prefix)

    def functional(self, model, sources, prefix):
        made = {}  # id(KerasTensor) -> key of the box that makes it
        for i, t in enumerate(model._inputs_flat):
            if sources is None:
                layer = t.node.layer
                key = self.box(f"{prefix}{id(layer)}", layer, prefix, None, t.shape, "input")
                lines = self.drawing.nodes[key].lines
                if self.options["show_shapes"]:  # an InputLayer has only an output
                    lines.remove(f"input: {_shape(None)}")
                made[id(t)] = [key]
            else:
                made[id(t)] = [sources[min(i, len(sources) - 1)]]
        for node in model._nodes:
            producers = [k for t in node.inputs for k in made.get(id(t), [])]
            in_shapes = [t.shape for t in node.inputs]
            out_shapes = [t.shape for t in node.outputs]
            keys = self.layer(node.layer, producers, prefix,
                              in_shapes[0] if len(in_shapes) == 1 else in_shapes,
                              out_shapes[0] if len(out_shapes) == 1 else out_shapes,
                              f"{prefix}{id(node)}")
            for t in node.outputs:
                made[id(t)] = keys
        return [k for t in model._outputs_flat for k in made.get(id(t), [])]

    def sequential(self, model, sources, prefix):
        try:
            shape = getattr(model, "input_shape", None)
        except ValueError:  # a model that does not know its input yet
            shape = None
        if sources is None:
            sources = []
            if shape is not None:  # Keras draws the InputLayer first
                input_layer = getattr(model, "_input_layer", None)
                name = getattr(input_layer, "name", "input_layer")
                lines = [f"{name} (InputLayer)" if self.options["show_layer_names"]
                         else "InputLayer"]
                if self.options["show_shapes"]:
                    lines.append(f"output: {_shape(shape)}")
                self.drawing.add_node(f"{prefix}input", lines, "input")
                sources = [f"{prefix}input"]
        for layer in model.layers:
            out_shape = getattr(layer, "output_shape", None)
            sources = self.layer(layer, sources, prefix, shape, out_shape,
                                 f"{prefix}{id(layer)}")
            shape = out_shape
        return sources

    def subclassed(self, model, sources, prefix):
        """A subclassed model's ``call`` is Python code: which layer feeds which is not
        recorded, so its layers are drawn in assignment order, without arrows."""
        self.drawing.notes.append(
            f"{model.name} ({type(model).__name__}) is a subclassed model: its call() decides "
            "how the layers connect, so they are shown in assignment order, unconnected")
        keys = []
        for layer in model.layers:
            keys += self.layer(layer, [], prefix, getattr(layer, "input_shape", None),
                               getattr(layer, "output_shape", None), f"{prefix}{id(layer)}")
        for source in sources or ():
            for key in keys[:1]:
                self.drawing.add_edge(source, key)
        return keys[-1:]


def model_drawing(model, show_shapes=False, show_dtype=False, show_layer_names=False,
                  rankdir="TB", expand_nested=False, show_layer_activations=False,
                  show_trainable=False):
    """The ``Drawing`` of ``model``'s layers (see ``plot_model`` for the arguments)."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"plot_model expects a model with .layers, got {type(model).__name__}")
    if show_shapes and not getattr(model, "built", True):
        raise ValueError(
            f"plot_model(show_shapes=True) needs the shapes of model '{model.name}', which is "
            "not built yet: pass input_shape=... to the first layer, start with "
            "keras.Input(shape=...), call model.build((None, n_features)), or call the "
            "model on a batch of data first"
        )
    options = {"show_shapes": show_shapes, "show_dtype": show_dtype,
               "show_layer_names": show_layer_names, "expand_nested": expand_nested,
               "show_layer_activations": show_layer_activations,
               "show_trainable": show_trainable}
    drawing = Drawing(title=getattr(model, "name", type(model).__name__), rankdir=rankdir)
    _Plotter(drawing, options).model(model, None)
    return drawing


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False):
    """Draw a model's layers as boxes and arrows, as ``keras.utils.plot_model`` does.

    minidl draws the picture itself (no Graphviz, no pydot): ``.svg`` needs nothing,
    ``.png``/``.pdf`` need matplotlib, ``.dot`` writes the Graphviz text.

    Args:
        model: a model. A ``Sequential`` is drawn as a chain; a functional model
            (``keras.Model(inputs, outputs)``) from its recorded layer calls, with its
            branches, merges and several inputs; a model used as a layer is one box, or
            with ``expand_nested`` its own layers. A subclassed model's ``call`` is Python
            code that records no connections: its layers are drawn unconnected.
        to_file: the file to write; its extension picks the format.
        show_shapes: show each layer's input and output shapes (batch axis as None).
        show_dtype: show each layer's dtype.
        show_layer_names: show each layer's name beside its class.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
        expand_nested: draw the layers of nested models instead of one box each.
        dpi: resolution of a ``.png``.
        show_layer_activations: show the activation of layers that have one.
        show_trainable: show whether each layer is trainable.

    Returns:
        The ``Drawing`` (a notebook shows it inline; ``.to_svg()``, ``.to_dot()``).

    Raises:
        ValueError: ``show_shapes`` on a model that is not built, or an unknown extension
            or ``rankdir``.
        ImportError: a ``.png``/``.pdf`` without matplotlib (the message suggests ``.svg``).
    """
    drawing = model_drawing(model, show_shapes, show_dtype, show_layer_names, rankdir,
                            expand_nested, show_layer_activations, show_trainable)
    if to_file is not None:
        drawing.save(to_file, dpi=dpi, what="plot_model")
    return drawing


__all__ = ["plot_model"]
