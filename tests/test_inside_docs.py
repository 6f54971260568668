"""docs/INSIDE.md: every code link resolves to an existing file and line, and the line is
the one the link names; the graph it shows is the graph a training step builds.

Regenerate the drawing after a change to the step:  python tests/test_inside_docs.py
Move links that an edit made stale:                 python tools/relink_inside.py
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GRAPH = DOCS / "images" / "mnist_step_graph.svg"
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def links(path):
    """(text, target) of every Markdown link in ``path``."""
    return LINK.findall(path.read_text(encoding="utf-8"))


def where_is(name):
    """Where ``def name``/``class name`` is now, to say so when a link went stale."""
    pattern = re.compile(rf"^\s*(def|class) {re.escape(name)}\b")
    for file in sorted((ROOT / "minidl").rglob("*.py")):
        for number, line in enumerate(file.read_text().splitlines(), 1):
            if pattern.match(line):
                return f"../{file.relative_to(ROOT)}#L{number}"
    return "nowhere in minidl/"


def test_inside_md_code_links_resolve_to_the_lines_they_name():
    found = [(text, target) for text, target in links(DOCS / "INSIDE.md")
             if target.startswith("../minidl/")]
    assert len(found) >= 30  # the guide links every step
    for text, target in found:
        file, _, anchor = target.partition("#")
        path = (DOCS / file).resolve()
        assert path.is_file(), f"{text}: {target}: no such file"
        match = re.fullmatch(r"L(\d+)", anchor)
        assert match, f"{text}: {target}: the link needs a line (#L123)"
        lines = path.read_text(encoding="utf-8").splitlines()
        number = int(match.group(1))
        assert 1 <= number <= len(lines), f"{text}: {target}: the file has {len(lines)} lines"
        # `Dense.backward` must point at a line that says `backward` (def, class, or the
        # assignment a non-function link names); file names are checked above.
        name = text.strip("`@").removesuffix("()").split(".")[-1]
        if text.endswith(".py`"):
            continue
        assert name in lines[number - 1], (
            f"{text}: {target} is now the line {lines[number - 1].strip()!r}; "
            f"`def/class {name}` is at {where_is(name)} (python tools/relink_inside.py moves "
            "the stale links)"
        )


@pytest.mark.parametrize("page", ["INSIDE.md", "ARCHITECTURE.md"])
def test_doc_pages_link_only_inside_the_repository(page):
    for text, target in links(DOCS / page):
        if target.startswith(("http://", "https://")):
            continue
        file = target.partition("#")[0]
        assert (DOCS / file).resolve().exists(), f"{page}: {text} -> {target} does not exist"
        assert ROOT in (DOCS / file).resolve().parents, f"{page}: {target} leaves the repo"


def test_no_reference_to_design_notes_outside_the_repository():
    """Docs, README, docstrings and comments explain things in the project's own words."""
    outside = re.compile(r"DESIGN\.md|FAULTS\.md|BEHAVIOURS\.md|STYLE\.md|shared/[A-Z]")
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "minidl").rglob("*.py"),
             *(ROOT / "benchmarks").glob("*.*"), *(ROOT / "examples").glob("*.py"),
             *(ROOT / "tests").glob("*.py")]
    this = Path(__file__).resolve()
    hits = [f"{f.relative_to(ROOT)}:{n}" for f in files if f.resolve() != this and f.is_file()
            for n, line in enumerate(f.read_text(errors="ignore").splitlines(), 1)
            if outside.search(line)]
    assert not hits, hits


def draw_step_graph(path=None):
    """One training step of the MNIST MLP (784-128-10, batch 32) on seeded random pixels,
    drawn as INSIDE.md shows it."""
    import minidl as keras

    keras.layers.clear_session()  # automatic names from dense, as in a fresh program
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28)).astype("float32")
    y = rng.integers(0, 10, 32)
    y_pred = model(x, training=True)
    loss = model.compute_loss(y, y_pred)
    loss.backward(retain_graph=True)
    return keras.utils.plot_graph([loss, y_pred], path, title="one training step of the "
                                  "MNIST MLP (batch 32)")


def test_the_drawn_graph_is_the_graph_of_a_training_step():
    svg = "{http://www.w3.org/2000/svg}"
    committed = ET.parse(GRAPH).getroot()
    fresh = ET.fromstring(draw_step_graph().to_svg().split("\n", 1)[1])

    def boxes(root):  # the first line of every box: op names and weight names
        return sorted(g.find(f"{svg}text").text for g in root.iter(f"{svg}g"))

    assert boxes(committed) == boxes(fresh)
    names = boxes(committed)
    for op in ("Dense(activation='relu')", "Dense(activation='linear')", "Softmax(axis=-1)",
               "SparseSoftmaxCrossEntropy"):
        assert op in names
    assert any(n.startswith("Dropout(rate=0.2") for n in names)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    draw_step_graph(GRAPH)
    print(f"wrote {GRAPH}")
