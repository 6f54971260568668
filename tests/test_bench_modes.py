"""The pure helpers of ``benchmarks/bench_mlp.py --modes`` (no benchmark runs here).

What is checked: the "default" setting removes every thread variable a library reads and
PyTorch is then left to choose; the busy loop pins itself to one core and is stopped however
its block ends (and stops by itself if the benchmark is killed); the tables' ratios and
verdicts match hand computations; the run-time estimate follows its formula; the results
file keeps everything outside the block it writes.
"""

import doctest
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent.parent / "benchmarks"

# Every variable the issue names for "no thread setting at all": written out here, not read
# from the module, so that a variable dropped from the module fails the test.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS",
                    "MINIDL_BLAS_THREADS")


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load("bench_mlp")
workloads = load("_workloads")


def test_doctests_of_the_helpers():
    result = doctest.testmod(bench)
    assert result.attempted >= 4 and result.failed == 0


# ---- thread settings --------------------------------------------------------------------
@pytest.fixture
def every_variable_set(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.setenv(name, "7")


def make_runner(threads, **kwargs):
    return bench.Runner(threads, "mnist.npz", Path("cache"), 60, **kwargs)


def test_default_setting_removes_every_thread_variable(every_variable_set):
    env = make_runner(None).environment("minidl")
    assert [name for name in THREAD_VARIABLES if name in env] == []
    assert env["MINIDL_JIT"] == "1"  # the rest of the worker's environment is still set


def test_pinned_modes_setting_sets_every_thread_variable(every_variable_set):
    env = make_runner(2, variables=bench.ALL_THREAD_VARIABLES).environment("torch")
    assert {name: env[name] for name in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES,
                                                                             "2")


def test_threads_mode_sets_the_same_four_variables_as_before(every_variable_set):
    env = make_runner(1).environment("minidl")
    assert [env[name] for name in THREAD_VARIABLES] == ["1"] * 4 + ["7"] * 3


def test_default_spec_leaves_pytorch_threads_alone(monkeypatch):
    calls = []
    fake = types.SimpleNamespace(set_num_threads=lambda n: calls.append(n),
                                 manual_seed=lambda seed: None)
    monkeypatch.setitem(sys.modules, "torch", fake)
    case = bench.MODE_CASES[0]
    default = make_runner(None).spec("torch", case, bench.MODES_QUICK, seed=0)
    pinned = make_runner(2).spec("torch", case, bench.MODES_QUICK, seed=0)
    # The spec travels as JSON: "default" must arrive as null.
    workloads.torch_setup(json.loads(json.dumps(default)))
    assert calls == []
    workloads.torch_setup(json.loads(json.dumps(pinned)))
    assert calls == [2]


def test_thread_settings_follow_the_usable_cores():
    assert [(s.role, s.threads) for s in bench.thread_settings(4)] == [
        ("one", 1), ("all", 4), ("default", None)]
    assert [s.short for s in bench.thread_settings(4)] == ["1 thread", "4 threads", "default"]


# ---- the busy loop ----------------------------------------------------------------------
def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def process_state(pid):
    """The state letter of ``/proc/PID/stat`` ('R', 'S', 'Z', ...), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def test_busy_loop_pins_one_core_and_stops_on_an_exception():
    core = min(os.sched_getaffinity(0))
    with pytest.raises(RuntimeError, match="interrupted"):
        with bench.CompetingLoad(core) as load:
            pid = load.process.pid
            assert wait_for(lambda: os.sched_getaffinity(pid) == {core})
            assert load.alive()
            raise RuntimeError("interrupted")
    assert load.process.poll() is not None
    assert not load.alive()


def test_busy_loop_exits_by_itself_when_the_benchmark_is_killed():
    # A middle process starts the loop and dies at once (as under SIGKILL): nobody stops
    # the loop, so it must notice its parent is gone.
    middle = ("import os, subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
              f"{bench.BUSY_LOOP!r}, '{min(os.sched_getaffinity(0))}', str(os.getpid())], "
              "stdout=subprocess.DEVNULL); print(p.pid)")
    done = subprocess.run([sys.executable, "-c", middle], capture_output=True, text=True,
                          timeout=30)
    pid = int(done.stdout.strip())
    try:
        assert wait_for(lambda: process_state(pid) in (None, "Z"))
    finally:
        if process_state(pid) not in (None, "Z"):
            os.kill(pid, 9)


# ---- the worker's budget and subset -----------------------------------------------------
def test_budget_stops_only_after_two_epochs():
    spec = {"budget_s": 1.0}
    assert not workloads.out_of_time(spec, [5.0])  # one epoch: nothing measured yet
    assert workloads.out_of_time(spec, [0.6, 0.5])
    assert not workloads.out_of_time(spec, [0.3, 0.3])
    assert not workloads.out_of_time({}, [9.0, 9.0, 9.0])


def test_epoch_subset_is_a_view_of_the_first_images():
    import numpy as np

    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    xs, ys = workloads.epoch_subset({"epoch_images": 4}, x, y)
    assert np.shares_memory(xs, x) and xs.tolist() == x[:4].tolist() and ys.tolist() == [0, 1,
                                                                                          2, 3]
    assert workloads.epoch_subset({"epoch_images": None}, x, y)[0] is x


# ---- summaries, tables, targets ---------------------------------------------------------
def run(*epoch_times, rss=100.0):
    return {"epoch_times": list(epoch_times), "max_rss_mb": rss, "cache": "warm",
            "threads_seen": {"blas": [1]}}


def test_summary_scales_partial_epochs_and_finds_the_best_pinned_setting():
    plan = bench.Plan(rounds={"W1": 1}, epochs={"W1": 3}, predict_reps=1, import_rounds=0,
                      epoch_images={"W1": 15000})  # a quarter of 60,000: times × 4
    w1 = bench.MODE_CASES[0].label
    runs = {("minidl", "one"): [run(5.0, 1.0, 1.2, rss=300)],
            ("minidl", "all"): [run(5.0, 2.0, 2.0)],
            ("minidl", "default"): [run(5.5, 1.2, 1.4, rss=300)],
            ("torch", "one"): [run(3.0, 3.0, 3.0)],
            ("torch", "all"): [run(3.0, 3.0)],  # stopped at its budget after 2 of 3
            ("torch", "default"): [run(2.0, 2.0, 2.0, rss=600)]}
    measured = {"states": {"busy": {"cases": {w1: runs}}}}
    summary = bench.summarize_modes(measured, plan)["busy"]
    speed = summary["speed"][w1]
    assert speed[("minidl", "one")][:3] == pytest.approx((4.4, 4.0, 4.8))
    settings = bench.thread_settings(2)
    best, label = bench.best_pinned(speed, "minidl", settings)
    assert label == "1 thread" and best[0] == pytest.approx(4.4)
    # First-epoch extra is not scaled: 5.5 - median(1.2, 1.4) seconds.
    assert summary["w1"]["extra"][("minidl", "default")][0] == pytest.approx(4.2)

    table = bench.modes_targets_table({"busy": summary}, settings)
    # default 5.2 / best pinned 4.4 = 1.18 (met); / PyTorch default 8.0 = 0.65 (met);
    # RSS 300 / 600 = 0.5 (met); first-epoch extra 4.2 s > 0.3 s (missed).
    assert "| busy | W1 | 1.18× | met | 0.65× | met |" in table
    assert "| busy | peak RSS ≤ 0.6× PyTorch's | 0.50× | met |" in table
    assert "| busy | first-epoch extra ≤ 0.3 s (warm Numba cache) | 4.2 s | missed" in table
    speed_table = bench.modes_speed_table(summary["speed"], settings, summary["cut"])
    assert "1.18× (vs 1 thread)" in speed_table and "| 0.65× |" in speed_table
    assert summary["cut"] == {(w1, ("torch", "all"))} and "| 12 † |" in speed_table


def test_ratio_verdict_never_rounds_a_miss_into_a_hit():
    assert bench.ratio_verdict(1.2004, 1.2) == ("1.20×", "missed: 0.0% above the target")
    assert bench.ratio_verdict(1.2, 1.2)[1] == "met"
    assert bench.ratio_verdict(None, 1.2) == ("—", "not measured")


def test_estimate_follows_its_formula():
    settings = bench.thread_settings(2)
    w1, w4 = bench.MODE_CASES[0], bench.MODE_CASES[-1]
    plan = bench.Plan(rounds={"W1": 2, "W4": 1}, epochs={"W1": 3}, predict_reps=4,
                      import_rounds=0, epoch_images={"W1": 6400}, budget_s={"W1": 8})
    ref, proc = bench.REFERENCE_SECONDS, bench.PROCESS_SECONDS
    predict = sum(proc[c] + 5 * ref["W4"][c] for c in ("minidl", "torch")) * 3
    assert bench.estimate_seconds(plan, [w4], ["quiet"], settings) == pytest.approx(predict)
    quiet_w1 = sum(2 * (proc[c] + 3 * ref["W1"][c] * 6400 / 60000) for c in ("minidl", "torch"))
    assert bench.estimate_seconds(plan, [w1], ["quiet"], settings) == pytest.approx(3 * quiet_w1)
    # Busy with collapse: the 2-thread and default settings add 0.05 s to each of the
    # 200 steps, so an epoch passes the 8 s budget and each process stops after 2 epochs.
    collapsed = sum(2 * (proc[c] + 2 * (ref["W1"][c] * 6400 / 60000 + 0.05 * 200))
                    for c in ("minidl", "torch"))
    assert math.isclose(bench.estimate_seconds(plan, [w1], ["busy"], settings, 0.05),
                        quiet_w1 + 2 * collapsed)


def test_modes_block_replaces_only_itself(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# results\n\nintro\n\n<!-- bench_mlp:start threads=1 -->\nold one\n"
                    "<!-- bench_mlp:end threads=1 -->\n\ntail\n")
    bench.write_section(path, "modes", "first")
    bench.write_section(path, "modes", "second")
    text = path.read_text()
    assert text.count("<!-- bench_mlp:start modes -->") == 1
    assert "second" in text and "first" not in text
    assert text.startswith("# results\n\nintro\n\n<!-- bench_mlp:start threads=1 -->\nold one\n"
                           "<!-- bench_mlp:end threads=1 -->\n\ntail\n")


def test_arguments(capsys):
    args = bench.parse_args(["--modes", "--states", "busy", "--workloads", "w1"])
    assert args.modes and args.states == ["busy"] and args.workloads == ["W1"]
    assert bench.parse_args([]).threads == 1
    for wrong in (["--modes", "--threads", "2"], ["--modes", "--states", "calm"],
                  ["--modes", "--states", "busy,busy"]):
        with pytest.raises(SystemExit):
            bench.parse_args(wrong)
    assert "--states got 'busy,busy'" in capsys.readouterr().err
