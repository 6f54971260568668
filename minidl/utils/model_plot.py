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


def _chain(drawing, layers, options, previous, input_shape, prefix=""):
    """Draw ``layers`` one after the other, from the box ``previous``; returns the last key.

    A model among the layers is one box, or with ``expand_nested`` its own layers drawn in
    the chain, their names prefixed with the model's (``inner/dense``).
    """
    shape = input_shape
    for layer in layers:
        out_shape = getattr(layer, "output_shape", None)
        inner = _sublayers(layer)
        if inner is not None and options["expand_nested"]:
            previous = _chain(drawing, inner, options, previous, shape,
                              prefix=f"{prefix}{layer.name}/")
        else:
            key = f"{prefix}{layer.name}#{id(layer)}"
            lines = _layer_lines(layer, options, shape, out_shape)
            if prefix:
                lines[0] = prefix + lines[0]
            kind = "fused" if inner is not None else "layer"
            drawing.add_node(key, lines, kind, tooltip=repr(layer))
            if previous is not None:
                drawing.add_edge(previous, key)
            previous = key
        shape = out_shape
    return previous


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
    try:
        input_shape = getattr(model, "input_shape", None)
    except ValueError:  # a model that does not know its input yet: no input box
        input_shape = None
    previous = None
    if input_shape is not None:  # Keras draws the InputLayer first
        lines = ["InputLayer"]
        if show_layer_names:
            input_layer = getattr(model, "_input_layer", None)
            lines = [f"{getattr(input_layer, 'name', 'input_layer')} (InputLayer)"]
        if show_shapes:
            lines.append(f"output: {_shape(input_shape)}")
        drawing.add_node("input", lines, "input")
        previous = "input"
    _chain(drawing, list(layers), options, previous, input_shape)
    return drawing


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False):
    """Draw a model's layers as boxes and arrows, as ``keras.utils.plot_model`` does.

    minidl draws the picture itself (no Graphviz, no pydot): ``.svg`` needs nothing,
    ``.png``/``.pdf`` need matplotlib, ``.dot`` writes the Graphviz text.

    Args:
        model: a model (``Sequential``; a model inside it is drawn as one box, or with
            ``expand_nested`` as its own layers).
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
