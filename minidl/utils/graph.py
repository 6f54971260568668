"""``plot_graph``: draw the autograd graph behind a tensor, as SVG (no Graphviz) or DOT."""

import inspect

import numpy as np

from minidl.backend import backend_of
from minidl.tensor import Tensor
from minidl.utils.drawing import Drawing

_LEGEND = ("blue: an op and its output (shape, dtype); green: a weight (requires grad); "
           "grey: a constant; orange: a fused op")
_GRAD_NOTE = "|grad|: the L2 norm of .grad (leaves, and tensors that called retain_grad())"


def _settings(op):
    """The op's settings (the arguments of its ``__init__``) that are plain values."""
    if type(op).__init__ is object.__init__:  # an op without settings
        return ""
    try:
        parameters = list(inspect.signature(type(op).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return ""
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    shown = []
    for name in names:
        value = op.__dict__.get(name)
        if value is None or isinstance(value, (bool, int, float, str)) or (
            isinstance(value, tuple) and all(isinstance(v, int) for v in value)
        ):
            shown.append(f"{name}={value!r}")
    return ", ".join(shown)


def _input_names(op, count):
    """The names of ``forward``'s arguments (``x``, ``w``, ``b``), or ``0, 1, ...``."""
    try:
        parameters = list(inspect.signature(type(op).forward).parameters.values())[1:]
    except (TypeError, ValueError):
        parameters = []
    if any(p.kind is p.VAR_POSITIONAL for p in parameters) or len(parameters) < count:
        return [str(i) for i in range(count)]
    return [p.name for p in parameters[:count]]


def _shape_line(t):
    return f"{tuple(t.shape)} {t.dtype}"


def _grad_line(t):
    """``|grad| = 0.1234``: the L2 norm of the tensor's gradient (on the host)."""
    grad = np.asarray(backend_of(t.grad).to_numpy(t.grad), dtype=np.float64)
    return f"|grad| = {float(np.linalg.norm(grad)):.4g}"


def graph_drawing(tensors, title=None):
    """The ``Drawing`` of the graph ending at ``tensors`` (one Tensor or a list)."""
    roots = [tensors] if isinstance(tensors, Tensor) else tensors
    if not isinstance(roots, (list, tuple)):
        roots = [roots]
    for r in roots:
        if not isinstance(r, Tensor):
            raise TypeError(f"plot_graph expects a Tensor or a list of Tensors, got "
                            f"{type(r).__name__}")
    root_ids = {id(r) for r in roots}
    ops = leaves = 0
    drawing = Drawing(title=title or "")
    folding = {}  # id(logits tensor) -> (key of the op that folds, "softmax"/"sigmoid")
    stack = list(reversed(roots))
    seen = set()
    edges = []
    # Iterative depth-first walk (no recursion: a graph may be thousands of ops deep).
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        key = id(t)
        op = t._op
        if op is None:
            leaves += 1
            kind = "weight" if t.requires_grad else "input"
            label = t.name or ("input" if not t.requires_grad else "tensor")
            lines = [label, _shape_line(t),
                     "requires grad" if t.requires_grad else "constant"]
            if t.grad is not None:
                lines.append(_grad_line(t))
            drawing.add_node(key, lines, kind)
            continue
        ops += 1
        name = type(op).__name__
        settings = _settings(op) if op.inputs is not None else ""
        lines = [f"{name}({settings})" if settings else name, _shape_line(t)]
        if t.name:
            lines.append(t.name)
        folds = getattr(type(op), "folds", None)
        kind = "fused" if folds else ("output" if key in root_ids else "op")
        if folds:
            lines.append(f"{folds} + cross-entropy, from the logits")
        if t.grad is not None:
            lines.append(_grad_line(t))
        if op.inputs is None:
            kind = "freed"
            lines.append("freed by backward(): draw before it,")
            lines.append("or call backward(retain_graph=True)")
            drawing.add_node(key, lines, kind)
            continue
        drawing.add_node(key, lines, kind, tooltip=f"{name}: {t!r}"[:300])
        names = _input_names(op, len(op.inputs))
        # Arrows are labelled with forward's argument names where they say something
        # (x, w, b; logits, labels), not for the a, b of a plain binary op.
        labelled = len(op.inputs) > 1 and names[:2] != ["a", "b"]
        for i, x in enumerate(op.inputs):
            label = names[i] if labelled else ""
            edges.append((id(x), key, label))
            if folds and i == 0:
                folding[id(x)] = (key, folds)
            if id(x) not in seen:
                stack.append(x)
    for edge in edges:
        drawing.add_edge(*edge)
    # The folded activation: a root (e.g. the model's softmax output) whose logits feed a
    # cross-entropy that takes the activation itself gets a dashed arrow to that loss.
    for r in roots:
        logits = getattr(r, "_logits", None)
        if logits is not None and id(logits[1]) in folding:
            target, folds = folding[id(logits[1])]
            if folds == logits[0]:
                drawing.add_edge(id(r), target, "folded", dashed=True)
                drawing.notes.append(
                    f"dashed: the loss does not use this {folds}'s output; it takes the "
                    f"logits and computes log({folds}) stably itself (log-sum-exp)")
    if not drawing.title:
        drawing.title = f"autograd graph: {ops} op(s), {leaves} leaf tensor(s)"
    drawing.notes.append(_LEGEND)
    drawing.notes.append(_GRAD_NOTE)
    return drawing


def plot_graph(tensor, path=None, title=None):
    """Draw the graph of operations that produced ``tensor``: ops, shapes, dtypes, names,
    gradient norms.

    Each op is a box with its class and settings (``Dense(activation='relu')``) and the
    shape and dtype of its output; each leaf a box with its name (``dense/kernel``), shape,
    dtype, and whether it requires grad; arrows go from inputs to the op that uses them,
    labelled with ``forward``'s argument names. After ``backward(retain_graph=True)`` the
    boxes also show ``|grad|``, the norm of each leaf's gradient (and of each intermediate
    tensor that called ``retain_grad()``); a plain ``backward()`` frees the graph, and
    the freed ops are drawn as such.

    A cross-entropy that takes a softmax (or sigmoid) from the logits is drawn as a fused
    op. Pass the model's output too, ``plot_graph([loss, y_pred])``, to see that softmax
    beside it: a dashed arrow marks it as folded into the loss.

    Args:
        tensor: a Tensor, or a list of Tensors drawn in one picture.
        path: where to write: ``.svg`` (drawn by minidl, opens in any browser), ``.dot``
            (Graphviz text), ``.png``/``.pdf`` (through matplotlib). None writes nothing.
        title: the title (default: the number of ops and leaves).

    Returns:
        The ``Drawing``: ``.to_svg()``, ``.to_dot()``, ``.save(path)``; a notebook shows
        it inline.

    Raises:
        TypeError: ``tensor`` is not a Tensor or a list of Tensors.
        ValueError: ``path`` has an extension none of the above.
        ImportError: ``.png``/``.pdf`` without matplotlib.

    >>> from minidl import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    >>> drawing = plot_graph((x * x).sum())
    >>> [node.lines[0] for node in drawing.nodes.values()]  # the boxes' first lines
    ['Sum(axis=None, keepdims=False)', 'Mul', 'x']
    >>> drawing.to_dot().count("->")  # x -> Mul twice (x * x), Mul -> Sum
    3
    """
    drawing = graph_drawing(tensor, title)
    if path is not None:
        drawing.save(path, what="plot_graph")
    return drawing


__all__ = ["plot_graph"]
