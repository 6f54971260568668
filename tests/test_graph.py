"""plot_graph and plot_model: SVGs that parse as XML and name every op and layer, DOT text,
gradient norms, the folded softmax, and the errors."""

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers import check_raises

import minidl as keras
from minidl import Tensor, ops
from minidl.utils import plot_graph, plot_model

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(path):
    """Every text of an SVG file, parsed as XML (so a malformed file fails here)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return [el.text or "" for el in root.iter(f"{SVG}text")], root


def mnist_mlp_step(retain_graph=True):
    """One training step's graph of the MNIST MLP, on random data."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28)).astype("float32")
    y = rng.integers(0, 10, 8)
    y_pred = model(x, training=True)
    loss = model.compute_loss(y, y_pred, None)
    loss.backward(retain_graph=retain_graph)
    return model, loss, y_pred


def walk(roots):
    """The ops and leaves of a graph, found here independently of minidl.utils.graph."""
    ops_, leaves, seen, stack = [], [], set(), list(roots)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.op is None:
            leaves.append(t)
        else:
            ops_.append(t.op)
            stack.extend(t.op.inputs)
    return ops_, leaves


def test_plot_graph_svg_names_every_op_and_weight_with_grad_norms(tmp_path):
    model, loss, y_pred = mnist_mlp_step()
    path = tmp_path / "step.svg"
    drawing = plot_graph([loss, y_pred], path)
    texts, root = svg_texts(path)
    joined = "\n".join(texts)
    graph_ops, leaves = walk([loss, y_pred])
    assert {type(op).__name__ for op in graph_ops} == {
        "Dense", "Dropout", "Softmax", "SparseSoftmaxCrossEntropy"}
    for op in graph_ops:
        assert any(text.startswith(type(op).__name__) for text in texts), type(op).__name__
    assert len(root.findall(f".//{SVG}g")) == len(graph_ops) + len(leaves)  # one box each
    for w in model.trainable_weights:
        assert w.name in texts
        assert f"|grad| = {np.linalg.norm(w.grad.astype(np.float64)):.4g}" in texts
    assert "Dense(activation='relu')" in texts and "(8, 16) float32" in texts
    # One arrow per op input, plus the dashed one of the folded softmax.
    n_inputs = sum(len(op.inputs) for op in graph_ops)
    edges = root.findall(f".//{SVG}path[@class='edge']")
    assert len(edges) == n_inputs + 1
    assert drawing.to_dot().count(" -> ") == n_inputs + 1
    # Self-contained: no scripts, no links, no external fonts or images.
    raw = path.read_text()
    assert "<script" not in raw and "href" not in raw and "<image" not in raw
    assert "softmax + cross-entropy, from the logits" in joined


def test_the_folded_softmax_is_drawn_as_such(tmp_path):
    _, loss, y_pred = mnist_mlp_step()
    path = tmp_path / "folded.svg"
    plot_graph([loss, y_pred], path)
    texts, root = svg_texts(path)
    dashed = [p for p in root.iter(f"{SVG}path") if p.get("stroke-dasharray")]
    assert len(dashed) == 1 and "folded" in texts
    assert any("does not use this softmax's output" in t for t in texts)
    # The loss's inputs really are the logits (the Dense output), not the softmax.
    assert loss.op.inputs[0] is y_pred.op.inputs[0]
    # Drawn from the loss alone, the softmax is not in the graph at all.
    texts_alone = plot_graph(loss).to_svg()
    assert "Softmax(axis=-1)" not in texts_alone and "SparseSoftmaxCrossEntropy" in texts_alone


def test_dot_text_escapes_and_lists_the_nodes(tmp_path):
    x = Tensor(np.ones(3), requires_grad=True, name='say "hi"')
    y = (x * 2).sum()
    path = tmp_path / "g.dot"
    plot_graph(y, path)
    dot = path.read_text()
    assert dot.startswith("digraph ") and dot.rstrip().endswith("}")
    assert r'say \"hi\"' in dot and "Mul" in dot and "Sum(axis=None, keepdims=False)" in dot


def test_a_freed_graph_is_drawn_as_freed_and_retain_grad_shows_a_norm():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    h = ops.tanh(x)
    h.retain_grad()
    loss = (h * h).sum()
    loss.backward()  # frees the graph
    svg = plot_graph(loss).to_svg()
    assert "freed by backward()" in svg
    y = ops.tanh(x)
    y.retain_grad()
    (y * y).sum().backward(retain_graph=True)
    texts = plot_graph(y).to_svg()
    assert f"|grad| = {np.linalg.norm(2 * np.tanh(x.data)):.4g}" in texts


def test_a_long_chain_is_drawn_without_recursion():
    x = Tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(1500):
        y = y * 1.0
    drawing = plot_graph(y)
    assert drawing.to_dot().count(" -> ") == 3000  # each Mul: the tensor and the constant


def test_plot_graph_errors(tmp_path):
    x = Tensor(np.ones(2), requires_grad=True)
    check_raises(TypeError, "Tensor or a list of Tensors, got ndarray", plot_graph, np.ones(2))
    check_raises(ValueError, r"unknown extension \.txt.*\.svg", plot_graph, x * 2,
                 tmp_path / "g.txt")  # fmt: skip
    check_raises(FileNotFoundError, "does not exist", plot_graph, x * 2,
                 tmp_path / "missing" / "g.svg")  # fmt: skip


# --------------------------------------------------------------------------------------
# plot_model
# --------------------------------------------------------------------------------------


def small_model():
    return keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax", name="probabilities"),
    ])


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_plot_model_svg_names_every_layer_with_shapes(tmp_path, rankdir):
    model = small_model()
    path = tmp_path / "model.svg"
    plot_model(model, to_file=path, show_shapes=True, show_layer_names=True,
               show_layer_activations=True, rankdir=rankdir)
    texts, root = svg_texts(path)
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in texts
        assert f"output: {layer.output_shape}" in texts
    assert "output: (None, 28, 28)" in texts  # the input box, first as in Keras
    assert "input: (None, 784)" in texts and "activation: relu" in texts
    assert len(root.findall(f".//{SVG}path[@class='edge']")) == len(model.layers)
    # The chain goes one way: each box after the previous one (down, or right with LR).
    boxes = [g.find(f"{SVG}rect") for g in root.iter(f"{SVG}g")]
    axis = "y" if rankdir == "TB" else "x"
    coords = [float(b.get(axis)) for b in boxes]
    assert coords == sorted(coords) and len(set(coords)) == len(coords)


def test_plot_model_png_through_matplotlib(tmp_path):
    path = tmp_path / "model.png"
    plot_model(small_model(), to_file=str(path), show_shapes=True, dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_model_png_without_matplotlib_says_to_use_svg(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    check_raises(ImportError, r"needs matplotlib.*\.svg", plot_model, small_model(),
                 tmp_path / "model.png")  # fmt: skip
    assert not (tmp_path / "model.png").exists()
    plot_model(small_model(), tmp_path / "model.svg")  # needs nothing


def test_plot_model_show_shapes_before_build_says_how_to_build(tmp_path):
    model = keras.Sequential([keras.layers.Dense(3)])
    check_raises(ValueError, r"not built yet.*input_shape", plot_model, model,
                 tmp_path / "m.svg", show_shapes=True)  # fmt: skip
    plot_model(model, tmp_path / "m.svg")
    texts, _ = svg_texts(tmp_path / "m.svg")
    assert "Dense" in texts  # without shapes it can be drawn


def test_plot_model_returns_the_drawing_for_notebooks():
    drawing = plot_model(small_model(), to_file=None)
    assert drawing._repr_svg_().lstrip().startswith("<?xml")
    check_raises(ValueError, "rankdir must be 'TB' or 'LR', got 'BT'", plot_model,
                 small_model(), None, rankdir="BT")  # fmt: skip
