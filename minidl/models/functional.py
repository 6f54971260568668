"""The functional API: a model as a graph of layer calls.

``keras.Input(shape=...)`` stands for the data a model will receive. Calling a layer on it
(or on what another layer made from it) does not compute anything: it records a ``Node``
(the layer, the symbolic tensors it was called on, and the ``KerasTensor`` outputs, with
their shapes worked out at once, so a layer that cannot take its input says so here, at
graph-building time). ``Model(inputs, outputs)`` walks back from the outputs, keeps the
nodes in topological order, and on data simply calls the same layers in that order on real
Tensors: the autograd engine records that run like any other, so there is no second graph
engine. A layer called twice is one set of weights; the engine sums its two gradients.

    >>> import minidl as keras
    >>> inputs = keras.Input(shape=(3,))
    >>> hidden = keras.layers.Dense(4, activation="relu")(inputs)
    >>> outputs = keras.layers.Dense(1)(hidden)
    >>> model = keras.Model(inputs=inputs, outputs=outputs)
    >>> model.output_shape
    (None, 1)
"""

import numpy as np

from minidl import config
from minidl.errors import ShapeError
from minidl.layers.base import InputLayer, Layer, is_symbolic, probe_output
from minidl.models.model import Model, deserialize_layer, serialize_layer
from minidl.tensor import Tensor
from minidl.utils import tree

# ---------------------------------------------------------------------------------------
# Symbolic tensors and nodes
# ---------------------------------------------------------------------------------------


class KerasTensor:
    """A symbolic tensor: the shape (batch axis ``None``) and dtype of data to come, and
    the node (layer call) that will make it."""

    _symbolic = True

    def __init__(self, shape, dtype, name, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = str(np.dtype(dtype))
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def _keras_history(self):
        """(layer, node index, tensor index), as Keras names it."""
        layer = self.node.layer
        return layer, layer._inbound_nodes.index(self.node), self.index

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One recorded layer call: ``layer(call_args, **kwargs) -> outputs``."""

    def __init__(self, layer, call_args, kwargs, output_structure):
        self.layer = layer
        self.call_args = call_args  # the structure of KerasTensors it was called on
        self.kwargs = kwargs
        self.output_structure = output_structure
        self.inputs = [t for t in tree.flatten(call_args) if isinstance(t, KerasTensor)]
        self.outputs = tree.flatten(output_structure)


def input_tensor(input_layer):
    """The KerasTensor of an ``InputLayer`` (a node with no inputs)."""
    dtype = input_layer.dtype or config.floatx()
    kt = KerasTensor(input_layer.batch_input_shape, dtype, input_layer.name)
    node = Node(input_layer, [], {}, kt)
    kt.node = node
    input_layer._inbound_nodes.append(node)
    return kt


def _as_keras_tensor(value):
    if isinstance(value, InputLayer):
        return value._keras_tensor
    if isinstance(value, KerasTensor):
        return value
    raise TypeError(
        f"a layer called on symbolic inputs got {type(value).__name__} {value!r} among them: "
        "in the functional API every input must come from keras.Input(...) or a layer call"
    )


def _describe(tensors):
    return " and ".join(f"layer '{t.node.layer.name}' (output shape {t.shape})"
                        for t in tensors)


def _overrides_output_shape(layer):
    return type(layer).compute_output_shape is not Layer.compute_output_shape


def _check_built_input(layer, shapes):
    """A built layer (one called before: a shared layer) must get inputs it can take."""
    expected = layer.input_shape
    if expected is None or isinstance(layer, Model):
        return
    for want, got in zip(tree.flatten_shapes(expected), tree.flatten_shapes(shapes)):
        if len(want) == len(got) and any(a is not None and b is not None and a != b
                                         for a, b in zip(want[1:], got[1:])):
            raise ShapeError(
                f"Input 0 of layer '{layer.name}' is incompatible with the layer: it was "
                f"built for inputs of shape {want}, but received input with shape {got}"
            )


def symbolic_call(layer, inputs, training, kwargs):
    """Record ``layer(inputs)`` on symbolic inputs; returns the symbolic output(s).

    The layer is built (if it is not) and its output shape worked out now, so a layer that
    cannot take its input fails here, naming itself and the layers its inputs come from.
    """
    inputs = tree.map_structure(_as_keras_tensor, inputs)
    flat = tree.flatten(inputs)
    shapes = tree.map_structure(lambda t: t.shape, inputs)
    dtypes = tree.map_structure(lambda t: t.dtype, inputs)
    try:
        if layer.built:
            _check_built_input(layer, shapes)
        else:
            layer.build_for(shapes, compute_output=False)
        shapes = tree.map_shapes(lambda s: (None, *s[1:]) if s else s, shapes)
        if isinstance(layer, Model) and layer.output_shape is not None and (
                layer.input_shape == shapes):
            out_shapes, out_dtypes = layer.output_shape, None
        elif _overrides_output_shape(layer):
            out_shapes, out_dtypes = layer.compute_output_shape(shapes), None
        else:
            out_shapes, out_dtypes = probe_output(layer, shapes, dtypes)
    except ShapeError as exc:
        raise ShapeError(f"{exc} (while calling layer '{layer.name}' on the output of "
                         f"{_describe(flat)})") from None
    if layer.output_shape is None:
        layer.output_shape = tree.map_shapes(tuple, out_shapes)
    flat_shapes = tree.flatten_shapes(out_shapes)
    if out_dtypes is None:
        float_in = [t.dtype for t in flat if np.dtype(t.dtype).kind == "f"]
        default = layer.dtype or (float_in[0] if float_in else config.floatx())
        out_dtypes = [default] * len(flat_shapes)
    flat_dtypes = tree.flatten(out_dtypes)
    outputs = [KerasTensor(s, d, f"{layer.name}_{len(layer._inbound_nodes)}_{i}")
               for i, (s, d) in enumerate(zip(flat_shapes, flat_dtypes))]
    if tree.is_shape(out_shapes):
        structure = outputs[0]
    else:
        it = iter(outputs)
        structure = tree.map_shapes(lambda _: next(it), out_shapes)
    if training is not None:
        kwargs = {**kwargs, "training": training}
    node = Node(layer, inputs, kwargs, structure)
    for i, t in enumerate(outputs):
        t.node, t.index = node, i
    layer._inbound_nodes.append(node)
    return structure


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


def _ordered_nodes(outputs):
    """The nodes that lead to ``outputs``, each after the nodes it needs (an iterative
    depth-first search: a deep graph needs no deep recursion)."""
    order, visited = [], set()
    stack = [(t.node, False) for t in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((t.node, False) for t in reversed(node.inputs)
                     if id(t.node) not in visited)
    return order


class Functional(Model):
    """A model built from symbolic inputs and outputs (``keras.Model(inputs, outputs)``).

    Args:
        inputs: a ``keras.Input``, or a list or dict of them.
        outputs: a symbolic tensor made from the inputs by layer calls, or a list or dict
            of them.
        name: the model's name (default ``functional``, ``functional_1``, ...).

    Raises:
        ValueError: an output that cannot be computed from ``inputs`` alone (the graph is
            disconnected), or inputs that are not ``keras.Input`` tensors.
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        for what, value in (("inputs", inputs), ("outputs", outputs)):
            if not is_symbolic(value) or not all(
                    isinstance(v, (KerasTensor, InputLayer)) for v in tree.flatten(value)):
                raise ValueError(
                    f"Model({what}=...) expects symbolic tensors: keras.Input(...) for inputs, "
                    f"the results of layer calls on them for outputs (or lists/dicts of "
                    f"them); got {what}={value!r}"
                )
        super().__init__(name=name or _unique("functional"), trainable=True, **kwargs)
        self._input_structure = tree.map_structure(_as_keras_tensor, inputs)
        self._output_structure = tree.map_structure(_as_keras_tensor, outputs)
        self._inputs_flat = tree.flatten(self._input_structure)
        self._outputs_flat = tree.flatten(self._output_structure)
        for t in self._inputs_flat:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(
                    f"Model inputs must come from keras.Input(...); got the output of layer "
                    f"'{t.node.layer.name}'. Use the Input tensors themselves as inputs"
                )
        nodes = _ordered_nodes(self._outputs_flat)
        known = {id(t) for t in self._inputs_flat}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs[0]) not in known:
                raise ValueError(
                    f"Graph disconnected: the output(s) need input '{node.layer.name}' "
                    f"(shape {node.outputs[0].shape}), which is not among the model's "
                    f"inputs {[t.name for t in self._inputs_flat]}; add it to inputs=[...]"
                )
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        layers = [t.node.layer for t in self._inputs_flat]
        for node in self._nodes:
            if all(node.layer is not layer for layer in layers):
                layers.append(node.layer)
        self._layers = layers
        self.built = True
        in_shapes = [t.shape for t in self._inputs_flat]
        out_shapes = [(None, *t.shape[1:]) for t in self._outputs_flat]
        self.batch_input_shape = in_shapes[0] if len(in_shapes) == 1 else in_shapes
        self.output_shape = out_shapes[0] if len(out_shapes) == 1 else out_shapes
        self.trainable = trainable

    # ---- structure --------------------------------------------------------------------
    @property
    def layers(self):
        """The layers, ``InputLayer``s first, then in the order they are called."""
        return list(self._layers)

    def _sublayers(self):
        return self.__dict__.get("_layers", [])

    @property
    def inputs(self):
        return list(self._inputs_flat)

    @property
    def outputs(self):
        return list(self._outputs_flat)

    @property
    def input(self):
        return self._input_structure

    @property
    def output(self):
        return self._output_structure

    @property
    def input_names(self):
        return [t.node.layer.name for t in self._inputs_flat]

    @property
    def output_names(self):
        """As Keras: the dict keys of dict outputs, else the names of the layers that
        make the outputs."""
        if isinstance(self._output_structure, dict):
            return list(self._output_structure)
        return [t.node.layer.name for t in self._outputs_flat]

    def _input_dtypes(self):
        return [t.dtype for t in self._inputs_flat]

    # ---- running ----------------------------------------------------------------------
    def call(self, inputs, training=None):
        """Run the recorded layer calls, in order, on real inputs."""
        flat = self._flatten_data(inputs, "inputs")
        values = {id(t): x for t, x in zip(self._inputs_flat, flat)}
        for node in self._nodes:
            args = tree.map_structure(lambda t: values[id(t)], node.call_args)
            if node.kwargs:
                kwargs = dict(node.kwargs)
                out = node.layer(args, training=kwargs.pop("training", training), **kwargs)
            else:
                out = node.layer(args, training=training)
            for t, value in zip(node.outputs, tree.flatten(out)):
                values[id(t)] = value
        return tree.map_structure(lambda t: values[id(t)], self._output_structure)

    def _flatten_data(self, data, what):
        """Data for the inputs, in the order of ``self.inputs``: one array/Tensor for one
        input; a list in order, or a dict keyed by the inputs' dict keys or names."""
        n = len(self._inputs_flat)
        if isinstance(data, dict):
            keys = (list(self._input_structure) if isinstance(self._input_structure, dict)
                    else self.input_names)
            missing = [k for k in keys if k not in data]
            if missing:
                raise ValueError(f"model '{self.name}' expects {what} for {keys}; the dict "
                                 f"has no {missing} (it has {sorted(data)})")
            return [data[k] for k in keys]
        if isinstance(data, (list, tuple)) and not isinstance(data, Tensor):
            if len(data) != n:
                raise ValueError(f"model '{self.name}' has {n} input(s) but {what} has "
                                 f"{len(data)} arrays")
            return list(data)
        if n != 1:
            raise ValueError(f"model '{self.name}' has {n} inputs "
                             f"({self.input_names}): pass {what} as a list or dict of "
                             f"{n} arrays")
        return [data]

    def compute_output_shape(self, input_shape):
        return self.output_shape

    def _summary_connections(self):
        """Keras's rule: a graph that is a plain chain (one input, one output, every call
        on one tensor, no layer called twice) gets no "Connected to" column; any other
        gets it, each layer's inputs written ``layer_name[node index][tensor index]``."""
        consumers = {}
        for node in self._nodes:
            for t in node.inputs:
                consumers[id(t)] = consumers.get(id(t), 0) + 1
        layers = [node.layer for node in self._nodes]
        chain = (len(self._inputs_flat) == 1 and len(self._outputs_flat) == 1
                 and all(len(node.inputs) == 1 for node in self._nodes)
                 and all(n <= 1 for n in consumers.values())
                 and len({id(layer) for layer in layers}) == len(layers))
        if chain:
            return None

        def connections(layer):
            found = []
            for node in self._local_nodes(layer):
                if isinstance(layer, InputLayer):
                    continue
                for t in node.inputs:
                    source = t.node.layer
                    found.append(f"{source.name}[{source._inbound_nodes.index(t.node)}]"
                                 f"[{t.index}]")
            return ", ".join(found) or "-"

        return connections

    # ---- configuration ----------------------------------------------------------------
    def _local_nodes(self, layer):
        """The calls of ``layer`` that belong to this model (a layer may serve others)."""
        if isinstance(layer, InputLayer):
            return layer._inbound_nodes[:1]
        ids = {id(n) for n in self._nodes}
        return [n for n in layer._inbound_nodes if id(n) in ids]

    def get_config(self):
        """The graph as Keras writes it: each layer's config with its inbound nodes (for
        every call, its inputs as [layer name, node index, tensor index]), and the model's
        inputs and outputs the same way. Node indices count this model's calls only."""
        def ref(t):
            layer = t.node.layer
            return [layer.name, self._local_nodes(layer).index(t.node), t.index]

        layers = []
        for layer in self._layers:
            inbound = [] if isinstance(layer, InputLayer) else [
                {"args": tree.map_structure(ref, node.call_args), "kwargs": dict(node.kwargs)}
                for node in self._local_nodes(layer)]
            layers.append({**serialize_layer(layer), "name": layer.name,
                           "inbound_nodes": inbound})
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": tree.map_structure(ref, self._input_structure),
                "output_layers": tree.map_structure(ref, self._output_structure)}

    @classmethod
    def from_config(cls, config_, custom_objects=None):
        created = {}  # layer name -> layer
        tensors = {}  # (layer name, node index, tensor index) -> KerasTensor
        pending = list(config_["layers"])

        def lookup(ref):
            return tensors[tuple(ref)]

        def is_ref(value):
            return (isinstance(value, list) and len(value) == 3
                    and isinstance(value[0], str) and isinstance(value[1], int))

        def resolve(args):
            if is_ref(args):
                return lookup(args)
            if isinstance(args, dict):
                return {k: resolve(v) for k, v in args.items()}
            return [resolve(a) for a in args]

        for spec in pending:
            layer = deserialize_layer(spec, custom_objects)
            created[spec["name"]] = layer
            if isinstance(layer, InputLayer):
                tensors[(spec["name"], 0, 0)] = layer._keras_tensor
        # Replay the calls: a call can run once every tensor it needs exists (repeat the
        # pass until all ran: a shared layer's later nodes may wait on other layers).
        todo = [(spec["name"], i, node) for spec in pending
                for i, node in enumerate(spec.get("inbound_nodes", []))]
        done = set()
        while len(done) < len(todo):
            progress = False
            for name, index, node in todo:
                if (name, index) in done or (index and (name, index - 1) not in done):
                    continue  # a layer's calls replay in their saved order
                try:
                    args = resolve(node["args"])
                except KeyError:
                    continue
                if isinstance(args, list) and len(args) == 1:
                    args = args[0]
                out = created[name](args, **node.get("kwargs", {}))
                for j, t in enumerate(tree.flatten(out)):
                    tensors[(name, index, j)] = t
                done.add((name, index))
                progress = True
            if not progress:
                raise ValueError("the saved graph cannot be rebuilt: some layer calls need "
                                 "tensors that no other call makes")
        return cls(inputs=resolve(config_["input_layers"]),
                   outputs=resolve(config_["output_layers"]),
                   name=config_.get("name"), trainable=config_.get("trainable", True))


def _unique(base):
    from minidl.layers.base import unique_name

    return unique_name(base)
