"""examples/01_autograd_by_hand.py runs, and its checks pass (run as a user would run it)."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "01_autograd_by_hand.py"


def test_autograd_by_hand_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    graph = tmp_path / "graph.svg"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--graph", str(graph)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    # L = (2·(-3) + 10)·(-2) = -8, and dL/da = f·b = 6 (worked out independently here).
    assert "L = -8" in output
    assert "dL/da    minidl 6." in output
    assert "MISMATCH" not in output and "FAILED" not in output
    assert output.count("gradcheck (finite differences): ok") == 3
    assert "All gradients agree" in output
    # The graph, printed inputs first, and drawn: the three ops and the four leaves with
    # the size of their gradients (|dL/da| = |f·b| = 6).
    assert "a, b -> Mul -> e\n    e, c -> Add -> d\n    d, f -> Mul -> L" in output
    root = ET.parse(graph).getroot()
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("Mul") == 2 and texts.count("Add") == 1
    for name in "abcf":
        assert name in texts
    assert "|grad| = 6" in texts
