"""Boxes and arrows: a small graph drawer behind ``plot_graph`` and ``plot_model``.

A ``Drawing`` holds nodes (a few lines of text and a style) and edges, and writes them as:

- **DOT** text, for Graphviz if you have it (``dot -Tpng graph.dot -o graph.png``);
- a **self-contained SVG**, laid out here without Graphviz: it opens in any browser;
- a **PNG** (or PDF) through matplotlib, when that is installed.

The layout is the classic layered one, in three steps: each node's layer is the length of
the longest path reaching it (so every arrow points down, or right with ``rankdir="LR"``);
the nodes of a layer are ordered by the mean position of their neighbours (a few sweeps
down and up, which untangles most crossings of small graphs); then the layers are stacked,
each centred on the widest one.
"""

import os
from xml.sax.saxutils import escape

# Colours by node kind: fill, border.
STYLES = {
    "op": ("#dbe9f6", "#4a7bb7"),
    "weight": ("#e3f1df", "#5a9a4a"),
    "input": ("#eeeeee", "#888888"),
    "fused": ("#fde9cf", "#d08a2c"),
    "output": ("#f8dcdc", "#b94a4a"),
    "layer": ("#dbe9f6", "#4a7bb7"),
    "freed": ("#ffffff", "#bbbbbb"),
}
_CHAR_WIDTH = 7.2  # px per character of 12 px monospace text
_LINE_HEIGHT = 16
_PAD = 8
_GAP = 28  # between nodes of a layer
_LAYER_GAP = 44  # between layers


class Node:
    """A box: ``lines`` of text, a ``kind`` (a key of ``STYLES``), and a tooltip."""

    def __init__(self, key, lines, kind="op", tooltip=None):
        self.key, self.lines, self.kind = key, [str(line) for line in lines], kind
        self.tooltip = tooltip or self.lines[0]
        self.width = max(len(line) for line in self.lines) * _CHAR_WIDTH + 2 * _PAD
        self.height = len(self.lines) * _LINE_HEIGHT + 2 * _PAD - 4
        self.x = self.y = 0.0  # the centre, set by the layout


class Drawing:
    """A directed graph to draw: add nodes and edges, then ``to_svg``, ``to_dot``, ``save``.

    Args:
        title: shown at the top of the SVG and as the DOT graph's label.
        rankdir: ``"TB"`` (top to bottom, the default) or ``"LR"`` (left to right).
    """

    def __init__(self, title="", rankdir="TB"):
        if rankdir not in ("TB", "LR"):
            raise ValueError(f"rankdir must be 'TB' or 'LR', got {rankdir!r}")
        self.title, self.rankdir = title, rankdir
        self.nodes = {}  # key -> Node, in insertion order
        self.edges = []  # (from_key, to_key, label, dashed)
        self.notes = []  # lines printed under the drawing

    def add_node(self, key, lines, kind="op", tooltip=None):
        self.nodes[key] = Node(key, lines, kind, tooltip)
        return self.nodes[key]

    def add_edge(self, source, target, label="", dashed=False):
        self.edges.append((source, target, label, dashed))

    # ---- layout -----------------------------------------------------------------------
    def _ranks(self):
        """Each node's layer: the longest path reaching it; then each source (a weight, an
        input) is moved down to just above the first node that uses it."""
        preds = {key: [] for key in self.nodes}
        succs = {key: [] for key in self.nodes}
        for a, b, _, _ in self.edges:
            succs[a].append(b)
            preds[b].append(a)
        # Kahn's algorithm: a node's layer is known once all its predecessors' are.
        waiting = {key: len(preds[key]) for key in self.nodes}
        ready = [key for key in self.nodes if waiting[key] == 0]
        rank = dict.fromkeys(ready, 0)
        while ready:
            key = ready.pop()
            for b in succs[key]:
                rank[b] = max(rank.get(b, 0), rank[key] + 1)
                waiting[b] -= 1
                if waiting[b] == 0:
                    ready.append(b)
        for key in self.nodes:  # a cycle cannot come from autograd; be safe anyway
            rank.setdefault(key, 0)
        for key in self.nodes:
            if not preds[key] and succs[key]:
                rank[key] = min(rank[b] for b in succs[key]) - 1
        return rank

    def layout(self):
        """Place every node (and the bends of long arrows); return ``(width, height)``.

        An arrow that spans several layers gets a bend point in each layer it crosses, which
        takes part in the ordering like a thin node, so it runs beside the boxes, not
        through them.
        """
        rank = self._ranks()
        points = {key: (node.width, node.height) for key, node in self.nodes.items()}
        preds = {key: [] for key in points}
        succs = {key: [] for key in points}
        self._routes = []
        for n, (a, b, _, _) in enumerate(self.edges):
            route = [a]
            for r in range(rank[a] + 1, rank[b]):
                bend = ("bend", n, r)
                points[bend], rank[bend] = (8.0, 8.0), r
                preds[bend], succs[bend] = [], []
                route.append(bend)
            route.append(b)
            for u, v in zip(route, route[1:]):
                succs[u].append(v)
                preds[v].append(u)
            self._routes.append(route)
        low = min(rank.values(), default=0)
        layers = [[] for _ in range(max(rank.values(), default=-1) + 1 - low)]
        for key in points:
            layers[rank[key] - low].append(key)
        # Barycentre sweeps: order each layer by its neighbours' mean position.
        for neighbours, sweep in ((preds, layers[1:]), (succs, layers[-2::-1])) * 2:
            position = {key: i for layer in layers for i, key in enumerate(layer)}
            for layer in sweep:
                def centre(key, neighbours=neighbours, position=position):
                    near = [position[n] for n in neighbours[key]]
                    return sum(near) / len(near) if near else position[key]

                layer.sort(key=centre)
                position.update((key, i) for i, key in enumerate(layer))

        across_tb = self.rankdir == "TB"

        def extent(key, along):  # a box's size within a layer (across) or along layers
            width, height = points[key]
            return (height if across_tb else width) if along else (
                width if across_tb else height)

        spans = [sum(extent(k, False) for k in layer) + _GAP * (len(layer) - 1)
                 for layer in layers]
        widest = max(spans, default=0)
        top = 40 if self.title else 16
        pos = top
        self._centres = {}
        for layer, span in zip(layers, spans):
            depth = max(extent(k, True) for k in layer) if layer else 8.0
            across = 16 + (widest - span) / 2
            for key in layer:
                size = extent(key, False)
                centre = (across + size / 2, pos + depth / 2)
                self._centres[key] = centre if across_tb else centre[::-1]
                across += size + _GAP
            pos += depth + _LAYER_GAP
        for key, node in self.nodes.items():
            node.x, node.y = self._centres[key]
        length = pos - _LAYER_GAP + 16
        size = widest + 32
        notes = len(self.notes) * _LINE_HEIGHT + (8 if self.notes else 0)
        if across_tb:
            return max(size, self._title_width()), length + notes
        return max(length, self._title_width()), size + (top - 16) + notes

    def _title_width(self):
        lines = [self.title, *self.notes]
        return max(len(line) for line in lines) * _CHAR_WIDTH + 32 if any(lines) else 0

    def _anchor(self, node, leaving):
        """Where an arrow leaves (or enters) a box: its bottom (top), or right (left)."""
        if self.rankdir == "TB":
            return node.x, node.y + (node.height / 2 if leaving else -node.height / 2)
        return node.x + (node.width / 2 if leaving else -node.width / 2), node.y

    def _route_points(self, n):
        """The points of arrow ``n``: out of its source, through its bends, into its target."""
        route = self._routes[n]
        return ([self._anchor(self.nodes[route[0]], True)]
                + [self._centres[bend] for bend in route[1:-1]]
                + [self._anchor(self.nodes[route[-1]], False)])

    def _svg_path(self, pts):
        """A smooth path through ``pts``: one cubic per segment, leaving and entering each
        point along the direction of the layers."""
        d = f"M {pts[0][0]:.1f} {pts[0][1]:.1f}"
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            if self.rankdir == "TB":
                mid = (y1 + y2) / 2
                d += f" C {x1:.1f} {mid:.1f} {x2:.1f} {mid:.1f} {x2:.1f} {y2:.1f}"
            else:
                mid = (x1 + x2) / 2
                d += f" C {mid:.1f} {y1:.1f} {mid:.1f} {y2:.1f} {x2:.1f} {y2:.1f}"
        return d

    # ---- output -----------------------------------------------------------------------
    def to_svg(self):
        """The drawing as one self-contained SVG document (no scripts, fonts or links)."""
        width, height = self.layout()
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">',
            f"<title>{escape(self.title or 'graph')}</title>",
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
            f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        ]
        if self.title:
            out.append(f'<text x="16" y="24" font-size="14" font-weight="bold">'
                       f"{escape(self.title)}</text>")
        for n, (_, _, label, dashed) in enumerate(self.edges):
            pts = self._route_points(n)
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            out.append(f'<path class="edge" d="{self._svg_path(pts)}" fill="none" '
                       f'stroke="#555" stroke-width="1.2"{dash} marker-end="url(#arrow)"/>')
            if label:  # beside the last segment, near the box it enters
                (x1, y1), (x2, y2) = pts[-2], pts[-1]
                out.append(f'<text x="{(x1 + x2) / 2 + 4:.1f}" y="{(y1 + y2) / 2 + 4:.1f}" '
                           f'fill="#555" font-size="11">{escape(label)}</text>')
        for node in self.nodes.values():
            fill, stroke = STYLES.get(node.kind, STYLES["op"])
            x0, y0 = node.x - node.width / 2, node.y - node.height / 2
            out.append(f'<g class="node {node.kind}"><title>{escape(node.tooltip)}</title>')
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{node.width:.1f}" '
                       f'height="{node.height:.1f}" rx="6" fill="{fill}" stroke="{stroke}" '
                       'stroke-width="1.3"/>')
            for i, line in enumerate(node.lines):
                weight = ' font-weight="bold"' if i == 0 else ""
                out.append(f'<text x="{node.x:.1f}" y="{y0 + _PAD + 12 + i * _LINE_HEIGHT:.1f}"'
                           f' text-anchor="middle"{weight}>{escape(line)}</text>')
            out.append("</g>")
        for i, note in enumerate(self.notes):
            out.append(f'<text x="16" y="{height - 8 - (len(self.notes) - 1 - i) * _LINE_HEIGHT}"'
                       f' fill="#555">{escape(note)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def to_dot(self):
        """The drawing as Graphviz DOT text (the same nodes, edges and labels)."""

        def quote(text):
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        names = {key: f"n{i}" for i, key in enumerate(self.nodes)}
        out = [f"digraph {quote(self.title or 'graph')} {{", f"  rankdir={self.rankdir};",
               '  node [shape=box, style="rounded,filled", fontname="monospace", '
               "fontsize=11];"]
        if self.title:
            out.append(f"  label={quote(self.title)}; labelloc=t;")
        for key, node in self.nodes.items():
            fill, stroke = STYLES.get(node.kind, STYLES["op"])
            label = quote("\n".join(node.lines)).replace("\n", "\\n")
            out.append(f'  {names[key]} [label={label}, fillcolor="{fill}", color="{stroke}"];')
        for source, target, label, dashed in self.edges:
            attrs = []
            if label:
                attrs.append(f"label={quote(label)}")
            if dashed:
                attrs.append("style=dashed")
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            out.append(f"  {names[source]} -> {names[target]}{suffix};")
        out.append("}")
        return "\n".join(out) + "\n"

    def _repr_svg_(self):  # Jupyter shows the drawing inline
        return self.to_svg()

    def save(self, path, dpi=200, what="plot"):
        """Write ``path`` in the format its extension names: ``.svg``, ``.dot``/``.gv``, or
        ``.png``/``.pdf``/``.jpg`` through matplotlib.

        Raises:
            ValueError: an extension none of these.
            ImportError: a raster format without matplotlib (use ``.svg``, which needs
                nothing).
            FileNotFoundError: the folder of ``path`` does not exist.
        """
        path = os.fspath(path)
        extension = os.path.splitext(path)[1].lower()
        if extension not in (".svg", ".dot", ".gv", ".png", ".pdf", ".jpg", ".jpeg"):
            raise ValueError(
                f"{what} cannot write {path!r}: unknown extension {extension or '(none)'}; "
                "use .svg (drawn by minidl, no dependency), .dot (Graphviz text), or "
                ".png/.pdf (through matplotlib)"
            )
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{what} cannot save to {path}: the folder {folder} does "
                                    "not exist")
        if extension == ".svg":
            text = self.to_svg()
        elif extension in (".dot", ".gv"):
            text = self.to_dot()
        else:
            self._save_matplotlib(path, dpi, what)
            return path
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        return path

    def _save_matplotlib(self, path, dpi, what):
        try:
            from matplotlib.figure import Figure
            from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
        except ImportError:
            raise ImportError(
                f"{what} needs matplotlib to write {os.path.basename(path)}, and it is not "
                'installed: pip install "minidl[plot]", or save as .svg (drawn by minidl '
                "without any dependency) or .dot"
            ) from None
        width, height = self.layout()
        # NOTE: a bare Figure (no pyplot): nothing touches the user's interactive backend.
        figure = Figure(figsize=(width / 100, height / 100), dpi=100)
        ax = figure.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)  # y grows downwards, as in the SVG
        ax.axis("off")
        if self.title:
            ax.text(16, 24, self.title, fontsize=10, fontweight="bold", family="monospace")
        for n, (_, _, label, dashed) in enumerate(self.edges):
            pts = self._route_points(n)
            style = "--" if dashed else "-"
            for (x1, y1), (x2, y2) in zip(pts[:-2], pts[1:-1]):  # through the bends
                ax.plot([x1, x2], [y1, y2], color="#555", linewidth=1, linestyle=style)
            ax.add_patch(FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", linestyle=style,
                                         mutation_scale=10, color="#555", shrinkA=0))
            if label:
                (x1, y1), (x2, y2) = pts[-2], pts[-1]
                ax.text((x1 + x2) / 2 + 4, (y1 + y2) / 2 + 4, label, fontsize=7,
                        color="#555", family="monospace")
        for node in self.nodes.values():
            fill, stroke = STYLES.get(node.kind, STYLES["op"])
            ax.add_patch(FancyBboxPatch((node.x - node.width / 2, node.y - node.height / 2),
                                        node.width, node.height, boxstyle="round,pad=0,"
                                        "rounding_size=6", facecolor=fill, edgecolor=stroke))
            ax.text(node.x, node.y, "\n".join(node.lines), ha="center", va="center",
                    family="monospace", fontsize=8.5, linespacing=1.35)
        for i, note in enumerate(self.notes):
            ax.text(16, height - 8 - (len(self.notes) - 1 - i) * _LINE_HEIGHT, note,
                    family="monospace", fontsize=8.5, color="#555")
        figure.savefig(path, dpi=dpi)
