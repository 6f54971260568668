"""Move the line links of docs/INSIDE.md to where their code is now.

    python tools/relink_inside.py

A link like [`Dense.call`](../minidl/layers/core.py#L57) names the code it points at; when
an edit moves that code, ``tests/test_inside_docs.py`` fails. This moves each such link to
the nearest line of the same file that names it (a ``def``/``class`` line first), and
prints what it moved and what it could not find.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "INSIDE.md"
LINK = re.compile(r"\[([^\]]+)\]\((\.\./minidl/[^)#\s]+)#L(\d+)\)")


def target_name(text):
    return text.strip("`@").removesuffix("()").split(".")[-1]


def nearest(lines, name, old):
    """The line number (1-based) nearest ``old`` naming ``name``; definitions first."""
    definition = re.compile(rf"^\s*(def|class) {re.escape(name)}\b")
    for wanted in (lambda line: definition.match(line), lambda line: name in line):
        hits = [i + 1 for i, line in enumerate(lines) if wanted(line)]
        if hits:
            return min(hits, key=lambda n: abs(n - old))
    return None


def relink(text):
    moved, missing = [], []

    def fix(match):
        label, path, number = match.group(1), match.group(2), int(match.group(3))
        if label.endswith(".py`"):
            return match.group(0)
        lines = (DOC.parent / path).resolve().read_text(encoding="utf-8").splitlines()
        name = target_name(label)
        if 1 <= number <= len(lines) and name in lines[number - 1]:
            return match.group(0)
        new = nearest(lines, name, number)
        if new is None:
            missing.append(f"{label} in {path}")
            return match.group(0)
        moved.append(f"{label}: {path} L{number} -> L{new}")
        return f"[{label}]({path}#L{new})"

    return LINK.sub(fix, text), moved, missing


if __name__ == "__main__":
    new_text, moved, missing = relink(DOC.read_text(encoding="utf-8"))
    DOC.write_text(new_text, encoding="utf-8")
    print("\n".join(moved) or "no link moved")
    for item in missing:
        print("NOT FOUND:", item)
