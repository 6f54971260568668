"""The test suite's own determinism: which examples hypothesis draws, and which files CI
runs a second time.

- ``dev`` and ``ci`` are derandomized: two runs draw the same examples;
- ``--hypothesis-seed=N`` really changes them (hypothesis alone ignores the seed under
  ``derandomize=True``), and the same N draws the same examples again;
- ``thorough`` draws new random examples every run;
- the ``parity`` marker goes to the files named like parity files and to files that ask for
  it, and ``-m "parity and hypothesis"`` (CI's second run) picks their hypothesis tests.

The draws are checked end to end: pytest runs in a subprocess on probe files, under this
suite's ``tests/conftest.py`` (executed by the probe folder's own conftest), and the probe
tests write down what they drew.
"""

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from conftest import PARITY_FILES

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

{mark}

@given(st.integers(0, 2**62))
def test_draws(n):
    with open(os.environ["DRAWS_FILE"], "a") as f:
        f.write(f"{{__name__}} {{n}}\\n")


def test_plain():
    {plain}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A folder with the suite's conftest and three probe files: one named like a parity
    file, one that asks for the marker, one that is neither (its tests fail if selected)."""
    folder = tmp_path_factory.mktemp("probe")
    conftest = ROOT / "tests" / "conftest.py"
    (folder / "conftest.py").write_text(
        f"exec(compile(open({str(conftest)!r}).read(), {str(conftest)!r}, 'exec'))\n")
    (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    parity: a parity test\n")
    ok, never = "pass", "raise AssertionError('selected, but not a parity hypothesis test')"
    (folder / "test_ops_probe.py").write_text(PROBE.format(mark="", plain=never))
    (folder / "test_asks.py").write_text(
        PROBE.format(mark="pytestmark = pytest.mark.parity", plain=never))
    (folder / "test_other.py").write_text(
        PROBE.format(mark="", plain=ok).replace("def test_draws(n):\n",
                                                "def test_draws(n):\n    assert False\n"))
    return folder


def run_parity_rerun(folder, *args):
    """CI's second run (``-m "parity and hypothesis"``) in ``folder``, with the ``dev``
    profile: returns the draws of the selected tests, and pytest's output."""
    draws = folder / "draws.txt"
    draws.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    env.update(HYPOTHESIS_PROFILE="dev", DRAWS_FILE=str(draws),
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m",
               "parity and hypothesis", *args]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed, 4 deselected" in result.stdout, result.stdout[-3000:]
    return draws.read_text().splitlines(), result.stdout


def test_dev_is_derandomized_and_a_seed_draws_other_examples(probe):
    first, output = run_parity_rerun(probe)
    assert "hypothesis profile 'dev': 40 examples a test, derandomized" in output
    assert {line.split()[0] for line in first} == {"test_ops_probe", "test_asks"}
    assert len(first) >= 60  # 40 examples per test (hypothesis may stop a few early)
    again, _ = run_parity_rerun(probe)
    assert again == first, "the derandomized profile drew different examples in two runs"

    # Other draws share only a few (hypothesis tries 0 and the bounds in every run).
    seed_1, output = run_parity_rerun(probe, "--hypothesis-seed=1")
    assert "the examples of --hypothesis-seed=1" in output
    assert len(set(seed_1) & set(first)) < 10, "--hypothesis-seed did not change the examples"
    seed_2, _ = run_parity_rerun(probe, "--hypothesis-seed=2")
    assert len(set(seed_2) & set(seed_1)) < 10, "two seeds drew the same examples"
    assert run_parity_rerun(probe, "--hypothesis-seed=1")[0] == seed_1


def test_profiles():
    for name, examples in (("dev", 40), ("ci", 60)):
        profile = settings.get_profile(name)
        # derandomize=True: the examples are a function of each test's source, and no
        # example database replays one machine's past failures.
        assert profile.derandomize and profile.database is None, name
        assert profile.max_examples == examples and profile.deadline is None, name
    thorough = settings.get_profile("thorough")
    assert not thorough.derandomize and thorough.max_examples == 400


@pytest.mark.parametrize("name, parity", [
    ("test_ops.py", True), ("test_ops_conv.py", True), ("test_conv.py", True),
    ("test_conv2d_torch.py", True), ("test_pooling.py", True), ("test_fused.py", True),
    ("test_optimizer_kernels.py", True), ("test_cuda_kernels.py", True),
    ("test_standin_device.py", True), ("test_norm_parity.py", True),
    ("test_models.py", False), ("test_optimizers.py", False), ("test_layers.py", False),
])  # fmt: skip
def test_parity_file_patterns(name, parity):
    assert any(fnmatch.fnmatch(name, p) for p in PARITY_FILES) == parity
