"""Shared test configuration: hypothesis profiles (derandomized by default), seeded state,
data location, the `parity` marker."""

import fnmatch
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# deadline=None: a first call may include a Numba compile, far over hypothesis's 200 ms.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
# `dev` (the default) and `ci` are derandomized: each test draws its examples from a seed
# derived from its own source code, so the README's test command draws the same examples on
# every machine and every run (with the pinned hypothesis version), and a failure seen once
# is seen everywhere. derandomize=True also turns off the example database (.hypothesis/),
# which would replay one machine's past failures first.
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=40, derandomize=True, **_COMMON)
# `thorough` explores: new random examples every run (HYPOTHESIS_PROFILE=thorough), ten
# times as many; a failure is saved in .hypothesis/ and replayed first on the next run.
settings.register_profile("thorough", max_examples=400, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.hookimpl(trylast=True)  # after hypothesis's own plugin has loaded --hypothesis-profile
def pytest_configure(config):
    """``--hypothesis-seed=N`` draws the examples of seed N, whatever the profile.

    NOTE: hypothesis ignores ``--hypothesis-seed`` under ``derandomize=True`` (the test's own
    digest wins), so a seeded run of a derandomized profile would silently repeat the default
    examples. Here it switches to a copy of the profile that is not derandomized and has no
    example database, so the examples are a function of N alone.
    """
    if config.getoption("hypothesis_seed", default=None) is not None and (
            settings.default.derandomize):
        name = f"{settings.get_current_profile_name()}-seeded"
        settings.register_profile(name, parent=settings.default, derandomize=False,
                                  database=None)
        settings.load_profile(name)


def pytest_report_header(config):
    seed = config.getoption("hypothesis_seed", default=None)
    how = (f"the examples of --hypothesis-seed={seed}" if seed is not None
           else "derandomized: the same examples every run" if settings.default.derandomize
           else "random examples, new every run")
    return (f"hypothesis profile {settings.get_current_profile_name()!r}: "
            f"{settings.default.max_examples} examples a test, {how}")


@pytest.fixture(autouse=True)
def _fresh_state():
    """Every test starts from float32, an unseeded-but-fixed minidl RNG and no grad leaks."""
    import minidl

    minidl.config.set_floatx("float32")
    minidl.random.set_seed(1234)
    yield
    minidl.config.set_floatx("float32")


def mnist_path():
    """Path of mnist.npz from MINIDL_DATA_DIR, or None."""
    folder = os.environ.get("MINIDL_DATA_DIR")
    if folder and os.path.exists(os.path.join(folder, "mnist.npz")):
        return os.path.join(folder, "mnist.npz")
    return None


@pytest.fixture
def rng():
    return np.random.default_rng(0)
# ---- how many GPU tests ran (the GPU path counts as verified only where they did) ------
_GPU_TESTS = set()


# ---- the parity files: CI runs their hypothesis tests a second time, with another seed ---
# A file whose name matches one of these is a parity file: its tests compare a kernel, a
# backend or an op with an independent reference (its xp twin, PyTorch, the CPU), where an
# ulp-fragile comparison would show only on some examples. Every test in it gets the
# `parity` marker; `.ci/run` reruns `-m "parity and hypothesis"` with a fixed seed. Another
# file joins with `pytestmark = pytest.mark.parity`.
PARITY_FILES = ("test_ops*.py", "test_conv*.py", "test_pool*.py", "test_fused*.py",
                "test_*kernel*.py", "test_*device*.py", "test_*parity*.py")


def pytest_collection_modifyitems(config, items):
    _GPU_TESTS.update(item.nodeid for item in items if item.get_closest_marker("gpu"))
    for item in items:
        if any(fnmatch.fnmatch(item.path.name, pattern) for pattern in PARITY_FILES):
            item.add_marker("parity")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed"):
        nodeids = {report.nodeid for report in terminalreporter.stats.get(outcome, [])
                   if getattr(report, "nodeid", None) in _GPU_TESTS}
        counts[outcome] = len(nodeids)
    ran = counts["passed"] + counts["failed"] + counts["error"]
    line = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "none selected"
    if not ran:
        line += " (nothing ran on a GPU)"
    terminalreporter.write_sep("-", f"GPU tests: {line}")
    # The PyTorch parity table, counted per dtype, so the log shows it ran (never skipped).
    parity = {}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if nodeid.startswith("tests/test_ops.py::test_op_matches_torch[") and (
                    report.when == "call" or outcome == "skipped"):
                dtype = nodeid.rsplit("-", 1)[-1].rstrip("]")
                parity.setdefault(dtype, {}).setdefault(outcome, 0)
                parity[dtype][outcome] += 1
    if parity:
        summary = "; ".join(
            f"{dtype}: " + ", ".join(f"{n} {o}" for o, n in sorted(parity[dtype].items()))
            for dtype in sorted(parity))
        terminalreporter.write_sep("-", f"torch parity, op rows: {summary}")


# ---- in CI, a skip may only mean "no GPU here" ----------------------------------------
# Every other optional component (torch, CuPy without a GPU, nvcc, MNIST, the CSV) is
# installed by .ci/run, so a skip for it would hide a failure: turn it into one.
ALLOWED_SKIPS_IN_CI = (
    "no GPU",  # CuPy is installed but no CUDA device: the GPU-only tests
    "this machine has a GPU",  # the no-driver path needs a machine without one
    "compares compiled kernels",  # the JIT-off rerun skips kernel-vs-twin comparisons
    "needs the JIT to compare against",
    "already running with JIT off",
    "skipped by +SKIP option",  # a docstring example that illustrates, not runs
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if not any(allowed in reason for allowed in ALLOWED_SKIPS_IN_CI):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every optional component is installed: {reason}"
