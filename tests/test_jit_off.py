"""Part of the suite runs again with the JIT off, where every kernel's NumPy twin runs.

Also: ``import minidl`` compiles nothing and imports neither CuPy nor torch; Numba is set up
on a background thread (or not at all with ``MINIDL_JIT_WARMUP=0`` or the JIT off).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JIT_OFF_FILES = ["tests/test_fused.py", "tests/test_optimizer_kernels.py", "tests/test_engine.py"]


@pytest.mark.skipif(os.environ.get("MINIDL_JIT") == "0", reason="already running with JIT off")
def test_kernel_suites_pass_with_the_jit_off():
    env = dict(os.environ, MINIDL_JIT="0")
    files = [f for f in JIT_OFF_FILES if (ROOT / f).exists()]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


HEAVY = "('numba', 'cupy', 'torch', 'matplotlib')"


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True, env={**os.environ, **env}).stdout.strip()


@pytest.mark.parametrize("env", [{"MINIDL_JIT_WARMUP": "0"}, {"MINIDL_JIT": "0"}])
def test_import_minidl_is_light(env):
    code = (f"import sys, minidl; print([m for m in {HEAVY} if m in sys.modules], "
            "minidl.jit._warm_up_thread)")
    assert run_python(code, **env) == "[] None"


def test_the_numba_set_up_runs_on_a_background_thread_and_loads_nothing_heavy():
    code = ("import sys, threading, minidl; t = minidl.jit._warm_up_thread; "
            "print(t is not threading.current_thread(), t.daemon); "
            "minidl.jit.wait_for_warm_up(); print(t.is_alive(), 'numba' in sys.modules, "
            f"[m for m in {HEAVY}[1:] if m in sys.modules])")
    out = run_python(code, MINIDL_JIT="1", MINIDL_JIT_WARMUP="1")
    assert out.splitlines() == ["True True", "False True []"]


def test_a_forked_child_trains_while_the_set_up_may_still_be_running():
    """os.fork right after the import: the set-up is finished first (register_at_fork), so
    the child never inherits a held import lock; it runs a kernel and exits normally."""
    code = ("import os, numpy as np, minidl\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    x = minidl.Tensor(np.ones((4, 3), 'float32'))\n"
            "    w = minidl.Tensor(np.ones((3, 2), 'float32'))\n"
            "    y = minidl.ops.fused.dense(x, w, minidl.Tensor(np.zeros(2, 'float32')), 'relu')\n"
            "    os._exit(0 if float(y.data.sum()) == 24.0 else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status))")
    assert run_python(code, MINIDL_JIT="1", MINIDL_JIT_WARMUP="1") == "0"


def test_numba_flags_live_only_in_config_and_jit():
    """One place for Numba's flags (as stumpy enforces in CI): kernels use @kernel."""
    offenders = []
    for path in (ROOT / "minidl").rglob("*.py"):
        if path.name in ("config.py", "jit.py"):
            continue
        text = path.read_text()
        for needle in ("import numba", "from numba", "njit", "fastmath=", "parallel=True"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders, offenders
