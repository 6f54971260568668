"""Epoch time of minidl against PyTorch eager and the BLAS floor, in one interleaved run.

    python benchmarks/bench_mlp.py [--threads 1] [--quick] [--workloads W1,W4] [--output PATH]
    python benchmarks/bench_mlp.py --modes [--states quiet,busy] [--quick] [--workloads W1]

What it measures (issue 4, "speed"), every competitor at the same thread count:

- W1: the seeds' MLP (784-128-10, ReLU, Dropout 0.2, softmax, Adam, sparse cross-entropy)
  at batch 32; W2: the same at batch 128 and 512; W3: 784-1024-1024-10 (ReLU, Adam, no
  dropout) at batch 256 -- seconds per epoch over the 60,000 MNIST training images, the
  median of the epochs after the first of each process. W4: ``predict`` on the 10,000 test
  images at batch 1024 -- seconds per pass.
- Competitors: minidl through its Keras API with the Numba kernels (JIT) and without them
  (``MINIDL_JIT=0``); a standard PyTorch eager loop with default settings; and the BLAS floor,
  only the matrix products of the same step in NumPy float32 (see ``_workloads.py``).
- Start-up: ``import minidl`` (and ``import numpy`` / ``import torch`` for reference) in fresh
  processes; the first epoch's extra time (first epoch minus the median of the others) with
  a cold Numba cache (a new, empty ``NUMBA_CACHE_DIR``) and a warm one (a persistent cache
  directory filled by an earlier process).
- Peak RSS of each W1 process (``ru_maxrss``) and the test accuracy after the W1 run.

Fairness: each measurement is a fresh process (``_workloads.py``) whose environment sets
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS``
to ``--threads`` (PyTorch also gets ``torch.set_num_threads``). The competitors run
round-robin, several rounds, with the order rotated every round, so that the machine's
slow moments are spread over all of them; the tables report medians. ``OPENBLAS_CORETYPE``
and the rest of the environment are left as the machine sets them, for everyone.

The results go to ``benchmarks/RESULTS.md`` between ``<!-- bench_mlp:start threads=N -->``
and ``<!-- bench_mlp:end threads=N -->``; everything else in that file is kept. ``--quick``
(a subset of the data, one round; for smoke tests, its numbers mean little) prints the
tables and writes only where ``--output`` says.

``--modes``: what users get, who do not pin threads and whose machine is not idle (issue
15). minidl (JIT on) and PyTorch eager run in three thread settings each:

- pinned to 1 thread, and pinned to all usable cores (``len(os.sched_getaffinity(0))``):
  every thread variable (the four above plus ``VECLIB_MAXIMUM_THREADS``,
  ``BLIS_NUM_THREADS`` and ``MINIDL_BLAS_THREADS``) set to the count, and
  ``torch.set_num_threads``;
- **default**: none of those variables in the process's environment and no
  ``set_num_threads``, so every library chooses for itself, as in a user's script;

in two machine states, one after the other: **quiet** (nothing started by the benchmark)
and **busy** (a Python busy loop pinned to the first usable core with
``os.sched_setaffinity``, started before the state's first process and stopped after its
last, also on an exception, Ctrl-C or SIGTERM; killed outright, the benchmark leaves it to
notice that its parent is gone and exit). The workloads are W1 (batch 32), W2 (batch 128),
W3 and W4; training epochs go over the first 6,400 / 12,800 / 15,360 images and are scaled
to 60,000, and a process stops after the epoch that passes a time budget (never before its
second epoch), so that a setting whose threads collapse on the busy machine (tens of
milliseconds a step) still ends in bounded time. The run prints its estimate when it starts
(about 8 minutes on the 2-core development machine, 15 if every multi-threaded setting
collapses). The section (between ``<!-- bench_mlp:start modes -->`` and
``<!-- bench_mlp:end modes -->``) has, per state, the seconds per epoch of every setting,
minidl's default over its best pinned setting and over PyTorch's default, the W1 processes'
first-epoch extra (warm Numba cache), peak RSS and the thread counts the libraries report;
then the targets: minidl's default within 1.2× of its best pinned setting and ahead of
PyTorch's default, in every state and workload.
"""

import argparse
import contextlib
import datetime
import itertools
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORKER = BENCH_DIR / "_workloads.py"
DEFAULT_RESULTS = BENCH_DIR / "RESULTS.md"
# Matches `.numba_cache/` in .gitignore; reused across runs, which is what "warm" means.
DEFAULT_WARM_CACHE = BENCH_DIR / ".numba_cache"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
# Every variable a BLAS, OpenMP, Numba or minidl reads its thread count from. ``--modes``
# sets all of them when it pins a count, and removes all of them for "default".
ALL_THREAD_VARIABLES = THREAD_VARIABLES + ("VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS",
                                           "MINIDL_BLAS_THREADS")


# ---- what is measured -------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One row of the speed table: a model, a batch size, and training or prediction."""

    workload: str  # "W1" .. "W4", as the issue names them
    label: str
    task: str  # "train" (seconds per epoch) or "predict" (seconds per pass over the test set)
    hidden: tuple
    dropout: float
    batch_size: int


CASES = [
    Case("W1", "W1: 784-128-10, dropout 0.2, batch 32", "train", (128,), 0.2, 32),
    Case("W2", "W2: 784-128-10, dropout 0.2, batch 128", "train", (128,), 0.2, 128),
    Case("W2", "W2: 784-128-10, dropout 0.2, batch 512", "train", (128,), 0.2, 512),
    Case("W3", "W3: 784-1024-1024-10, batch 256", "train", (1024, 1024), 0.0, 256),
    Case("W4", "W4: predict 10k test images, batch 1024", "predict", (128,), 0.2, 1024),
]
WORKLOADS = sorted({case.workload for case in CASES})

COMPETITORS = ("minidl", "minidl_nojit", "torch", "floor")
NAMES = {"minidl": "minidl (JIT)", "minidl_nojit": "minidl (JIT off)",
         "torch": "PyTorch eager", "floor": "BLAS floor"}


@dataclass(frozen=True)
class Plan:
    """How much to measure: rounds per workload, epochs per process, data size.

    The full plan takes about 5-7 minutes at 1 thread on the 2-core development machine (7
    with other work running): PyTorch's W1 epoch takes 2-3 s there and its W3 epoch 6.5-12 s,
    so W3 gets 2 rounds of 2 epochs (one measured epoch per process).
    """

    rounds: dict
    epochs: dict  # per process; the first is dropped from the epoch medians
    predict_reps: int  # timed predict passes per process, after one warm-up pass
    import_rounds: int
    n_train: int = None  # None: all 60,000 images
    n_test: int = None
    accuracy: bool = True  # evaluate the test set after each W1 process
    # Per workload (``--modes``): epochs over only the first N training images, reported
    # scaled to a full epoch; and a time budget after which a process stops at the end of an
    # epoch (never before its second). None: whole epochs, no budget.
    epoch_images: dict = None
    budget_s: dict = None

    def images_per_epoch(self, workload):
        """Training images one measured epoch of ``workload`` goes through."""
        return (self.epoch_images or {}).get(workload) or self.n_train or 60000

    def train_spec(self, workload):
        """The worker spec entries of a training case."""
        extra = {"epochs": self.epochs[workload]}
        if (self.epoch_images or {}).get(workload):
            extra["epoch_images"] = self.epoch_images[workload]
        if (self.budget_s or {}).get(workload):
            extra["budget_s"] = self.budget_s[workload]
        return extra

    @property
    def accuracy_epochs(self):
        """Test accuracy is taken after the W1 processes' epochs."""
        return self.epochs["W1"]


FULL = Plan(rounds={"W1": 3, "W2": 2, "W3": 2, "W4": 3}, epochs={"W1": 5, "W2": 3, "W3": 2},
            predict_reps=20, import_rounds=5)
# Two W1 rounds even in --quick, so that both the cold and the warm cache path run.
QUICK = Plan(rounds={"W1": 2, "W2": 1, "W3": 1, "W4": 1}, epochs={"W1": 3, "W2": 2, "W3": 2},
             predict_reps=5, import_rounds=1, n_train=2048, n_test=1024)


# ---- running the worker processes -------------------------------------------------------
class Runner:
    """Starts ``_workloads.py`` processes with one thread setting and collects their JSON.

    Args:
        threads: the thread count every library is pinned to, or None for the libraries'
            own defaults (no thread variable in the environment, no
            ``torch.set_num_threads``).
        data_path: the path of ``mnist.npz``.
        warm_cache: the persistent Numba cache directory.
        timeout: seconds one worker process may take.
        variables: the environment variables set to ``threads`` when it is a number.
    """

    def __init__(self, threads, data_path, warm_cache, timeout, variables=THREAD_VARIABLES):
        self.threads = threads
        self.data_path = data_path
        self.warm_cache = warm_cache
        self.timeout = timeout
        self.variables = variables

    def environment(self, competitor, numba_cache=None):
        env = dict(os.environ)
        if self.threads is None:
            # What a user who never heard of these variables gets: every library decides.
            for name in ALL_THREAD_VARIABLES:
                env.pop(name, None)
        else:
            for name in self.variables:
                env[name] = str(self.threads)
        # The minidl of this checkout, whether or not it is pip-installed.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        env["MINIDL_JIT"] = "0" if competitor == "minidl_nojit" else "1"
        env["NUMBA_CACHE_DIR"] = str(numba_cache or self.warm_cache)
        return env

    def spec(self, competitor, case, plan, seed, **extra):
        return {
            "competitor": "minidl" if competitor.startswith("minidl") else competitor,
            "task": case.task, "hidden": list(case.hidden), "dropout": case.dropout,
            "batch_size": case.batch_size, "seed": seed, "threads": self.threads,
            "n_train": plan.n_train, "n_test": plan.n_test, "data_path": self.data_path,
            **extra,
        }

    def run(self, spec, env):
        """The worker's result dict, or ``{"error": ...}`` if the process failed."""
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(WORKER), json.dumps(spec)], env=env,
                                  cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {self.timeout} s"}
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return {"error": f"exit code {done.returncode}: {tail}"}
        result = json.loads(lines[-1])
        result["process_s"] = time.perf_counter() - start
        return result


def rotated(items, by):
    """``items`` rotated left by ``by``: round r starts with a different competitor."""
    by %= len(items)
    return list(items[by:]) + list(items[:by])


def log(message):
    print(message, file=sys.stderr, flush=True)


def describe(result):
    """One progress line for a worker result."""
    if "error" in result:
        return f"FAILED: {result['error']}"
    parts = []
    if "epoch_times" in result:
        parts.append("epochs " + " ".join(f"{t:.3f}" for t in result["epoch_times"]))
    if "predict_times" in result:
        parts.append(f"predict median {statistics.median(result['predict_times']):.4f}")
    if "accuracy" in result:
        parts.append(f"accuracy {result['accuracy']:.4f}")
    if "import_s" in result:
        parts.append(f"import {result['import_s']:.3f}")
    if "max_rss_mb" in result:
        parts.append(f"rss {result['max_rss_mb']:.0f} MB")
    return ", ".join(parts)


def prime_warm_cache(runner, plan):
    """Fill the persistent Numba cache with one small process (train, evaluate, predict)."""
    small = Plan(rounds={}, epochs={"W1": 1}, predict_reps=1, import_rounds=0,
                 n_train=1024, n_test=1024)
    env = runner.environment("minidl")
    for case in (CASES[0], CASES[-1]):
        spec = runner.spec("minidl", case, small, seed=0, epochs=1, accuracy=True, reps=1)
        result = runner.run(spec, env)
        log(f"  prime warm cache ({case.task}): {describe(result)}")


def measure_imports(runner, rounds):
    """Seconds to import numpy, minidl and torch, each in a fresh process, interleaved."""
    times = {"numpy": [], "minidl": [], "torch": []}
    flags = {}
    for r in range(rounds):
        for module in rotated(list(times), r):
            result = runner.run({"task": "import", "module": module}, runner.environment(""))
            log(f"  import {module} round {r + 1}/{rounds}: {describe(result)}")
            if "error" not in result:
                times[module].append(result["import_s"])
                if module == "minidl":
                    flags = {"numba": result["numba_loaded"], "torch": result["torch_loaded"]}
    return {"times": times, "minidl_loads": flags}


@dataclass(frozen=True)
class Contender:
    """One column of a speed table: a competitor run by a runner (its thread setting)."""

    key: object  # the column's key in the results: a competitor, or (competitor, setting)
    competitor: str  # one of COMPETITORS
    runner: Runner
    name: str  # for the progress lines


def measure_case(contenders, case, plan, cold_start=True, prefix="", **extra_spec):
    """Every contender on one case, ``rounds`` interleaved rounds; per-round results.

    With ``cold_start``, the first W1 round of minidl (JIT) starts from an empty Numba
    cache; ``extra_spec`` goes into every worker's spec.
    """
    rounds = plan.rounds[case.workload]
    runs = {contender.key: [] for contender in contenders}
    for r in range(rounds):
        for contender in rotated(contenders, r):
            competitor, runner = contender.competitor, contender.runner
            extra = {"reps": plan.predict_reps} if case.task == "predict" else {
                **plan.train_spec(case.workload),
                "accuracy": plan.accuracy and case.workload == "W1"}
            spec = runner.spec(competitor, case, plan, seed=r, **extra, **extra_spec)
            # The first W1 round of minidl (JIT) starts from an empty Numba cache: the
            # first-time user's experience. Every other JIT process uses the warm cache.
            cold = cold_start and competitor == "minidl" and case.workload == "W1" and r == 0
            cold_dir = tempfile.mkdtemp(prefix="minidl-numba-cold-") if cold else None
            try:
                result = runner.run(spec, runner.environment(competitor, cold_dir))
            finally:
                if cold_dir:
                    shutil.rmtree(cold_dir, ignore_errors=True)
            result["cache"] = "cold" if cold else "warm"
            runs[contender.key].append(result)
            log(f"  {prefix}{case.label} round {r + 1}/{rounds} {contender.name}: "
                f"{describe(result)}")
    return runs


# ---- statistics -------------------------------------------------------------------------
def ok(runs):
    return [run for run in runs if "error" not in run]


def spread(values):
    """(median, min, max, count), or None for no values."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values)


def seconds_per_unit(runs, scale=1.0):
    """Seconds per epoch (epochs after the first of every process) or per predict pass.

    ``scale`` multiplies every time: an epoch over part of the images, scaled to a full one.
    """
    values = []
    for run in ok(runs):
        values += run.get("epoch_times", [])[1:] or run.get("predict_times", [])
    return spread([value * scale for value in values])


def first_epoch_extra(run):
    """The first epoch's time minus the median of the later epochs of the same process."""
    times = run.get("epoch_times", [])
    if len(times) < 2:
        return None
    return times[0] - statistics.median(times[1:])


def summarize(measured):
    """Medians and ratios from the raw per-process results."""
    speed = {}
    for label, runs in measured["cases"].items():
        speed[label] = {c: seconds_per_unit(runs[c]) for c in COMPETITORS}
    w1 = measured["cases"].get(CASES[0].label)
    startup = {"extra": {}, "rss": {}, "accuracy": {}}
    if w1:
        for competitor in COMPETITORS:
            good = ok(w1[competitor])
            for cache in ("cold", "warm"):
                extras = [first_epoch_extra(r) for r in good if r["cache"] == cache]
                startup["extra"][competitor, cache] = spread([e for e in extras if e is not None])
            # Peak memory of the warm processes: a cold start's LLVM compile is one-off.
            rss = [r["max_rss_mb"] for r in good if r["cache"] == "warm"]
            startup["rss"][competitor] = spread(rss)
            startup["accuracy"][competitor] = spread([r["accuracy"] for r in good
                                                      if "accuracy" in r])
    imports = {m: spread(t) for m, t in measured["imports"]["times"].items()}
    return {"speed": speed, "startup": startup, "imports": imports}


def ratio(a, b):
    return a[0] / b[0] if a and b and b[0] > 0 else None


# ---- the report -------------------------------------------------------------------------
def fmt_seconds(stat, with_range=True):
    if stat is None:
        return "—"
    median, low, high, _ = stat
    text = f"{median:.3g}"
    return f"{text} [{low:.3g}, {high:.3g}]" if with_range and stat[3] > 1 else text


def fmt_ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def speed_table(summary, plan):
    header = ("| workload | minidl (JIT) | minidl (JIT off) | PyTorch eager | BLAS floor "
              "| JIT / PyTorch | JIT / floor | JIT off / PyTorch | JIT off / floor "
              "| PyTorch / floor |")
    lines = [header, "|" + "---|" * 10]
    for case in CASES:
        stats = summary["speed"].get(case.label)
        if stats is None:
            continue
        torch, floor = stats["torch"], stats["floor"]
        cells = [case.label] + [fmt_seconds(stats[c]) for c in COMPETITORS]
        pairs = [(stats["minidl"], torch), (stats["minidl"], floor),
                 (stats["minidl_nojit"], torch), (stats["minidl_nojit"], floor), (torch, floor)]
        cells += [fmt_ratio(ratio(a, b)) for a, b in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def startup_table(summary, plan):
    imports, st = summary["imports"], summary["startup"]
    lines = ["| measure | minidl (JIT) | minidl (JIT off) | PyTorch eager | BLAS floor (NumPy) |",
             "|---|---|---|---|---|"]
    lines.append(f"| `import` time, s (fresh process; NumPy alone for reference) "
                 f"| {fmt_seconds(imports['minidl'])} | same module "
                 f"| {fmt_seconds(imports['torch'])} | {fmt_seconds(imports['numpy'])} |")
    if st["extra"]:
        for cache, what in (("cold", "cold Numba cache (empty `NUMBA_CACHE_DIR`)"),
                            ("warm", "warm Numba cache (others: no cache to warm)")):
            cells = [fmt_seconds(st["extra"][c, cache]) if (c == "minidl" or cache == "warm")
                     else "—" for c in COMPETITORS]
            lines.append(f"| first-epoch extra, W1, s: {what} | " + " | ".join(cells) + " |")
        torch_rss = st["rss"]["torch"]
        cells = [fmt_seconds(st["rss"][c], with_range=False)
                 + (f" ({fmt_ratio(ratio(st['rss'][c], torch_rss))} PyTorch)"
                    if c != "torch" and st["rss"][c] and torch_rss else "")
                 for c in COMPETITORS]
        lines.append("| peak RSS of a W1 process, MB (data included) | " + " | ".join(cells) + " |")
        cells = [f"{st['accuracy'][c][0]:.2%}" if st["accuracy"][c] else "—" for c in COMPETITORS]
        lines.append(f"| test accuracy after {plan.accuracy_epochs} W1 epochs (median of rounds) | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(value, limit, unit, higher_is_better=False):
    """'met' or 'missed: ... above/below ...' for one target."""
    if value is None:
        return "—", "not measured"
    shown = f"{value:.2%}" if unit == "%" else f"{value:.3g}{unit}"
    good = value >= limit if higher_is_better else value <= limit
    if good:
        return shown, "met"
    if unit == "%":
        return shown, f"missed by {(limit - value) * 100:.2f} points"
    return shown, f"missed: {value / limit - 1:.0%} above the target"


def targets_table(summary, plan):
    speed, st, imports = summary["speed"], summary["startup"], summary["imports"]

    def speed_ratio(label, other):
        stats = speed.get(label)
        return ratio(stats["minidl"], stats[other]) if stats else None

    rss = ratio(st["rss"].get("minidl"), st["rss"].get("torch")) if st["rss"] else None
    warm = st["extra"].get(("minidl", "warm"))
    accuracy = st["accuracy"].get("minidl")
    rows = [
        ("W1 epoch ≤ 0.3× PyTorch's", speed_ratio(CASES[0].label, "torch"), 0.3, "×"),
        ("W2 (batch 128) epoch ≤ 0.5× PyTorch's", speed_ratio(CASES[1].label, "torch"), 0.5, "×"),
        ("W3 epoch ≤ 1.1× the BLAS floor", speed_ratio(CASES[3].label, "floor"), 1.1, "×"),
        ("W4 predict ≤ 1.1× the BLAS floor", speed_ratio(CASES[4].label, "floor"), 1.1, "×"),
        ("`import minidl` ≤ 0.3 s", imports["minidl"][0] if imports["minidl"] else None, 0.3,
         " s"),
        ("first-epoch extra ≤ 0.5 s with a warm cache (W1)", warm[0] if warm else None, 0.5,
         " s"),
        ("peak RSS ≤ 0.6× PyTorch's (W1)", rss, 0.6, "×"),
    ]
    lines = ["| target | measured (minidl, JIT) | result |", "|---|---|---|"]
    for text, value, limit, unit in rows:
        shown, result = verdict(value, limit, unit)
        lines.append(f"| {text} | {shown} | {result} |")
    shown, result = verdict(accuracy[0] if accuracy else None, 0.975, "%", higher_is_better=True)
    lines.append(f"| W1 test accuracy after 5 epochs ≥ 97.5% (here after {plan.accuracy_epochs}) "
                 f"| {shown} | {result} |")
    return "\n".join(lines)


# ---- the machine ------------------------------------------------------------------------
def read_first(path, key):
    """The value of the first ``key: value`` line of a /proc file."""
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return "unknown"


def openblas_core():
    """The OpenBLAS kernel NumPy runs (threadpoolctl if installed, else OpenBLAS itself)."""
    try:
        from threadpoolctl import threadpool_info

        cores = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                 for i in threadpool_info() if i.get("user_api") == "blas"]
        if cores:
            return "; ".join(cores) + " (threadpoolctl)"
    except ImportError:
        pass
    import ctypes

    import numpy  # noqa: F401  (loads the BLAS library this reads)

    with open("/proc/self/maps") as maps:
        libraries = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for library in sorted(libraries):
        handle = ctypes.CDLL(library)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                     "openblas_get_corename64_", "openblas_get_corename"):
            function = getattr(handle, name, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return function().decode() + " (openblas_get_corename)"
    return "unknown"


def torch_info():
    code = ("import json, torch; cfg = torch.__config__.show(); "
            "blas = [p.split('=')[1] for p in cfg.replace(',', ' ').split() "
            "if p.startswith('BLAS_INFO=')]; "
            "print(json.dumps({'version': torch.__version__, 'blas': blas[0] if blas else '?', "
            "'onednn': torch.backends.mkldnn.is_available()}))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, IndexError, json.JSONDecodeError):
        return {"version": "not installed", "blas": "?", "onednn": False}


def git_revision():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                              capture_output=True, text=True).stdout.strip()
        # Read-only check (no index refresh): does minidl/ differ from the commit?
        dirty = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--", "minidl"],
                               cwd=REPO_ROOT).returncode != 0
    except OSError:
        return "unknown"
    return f"{head}{' with uncommitted changes in minidl/' if dirty else ''}" or "unknown"


def machine_info(threads):
    """The machine block of a ``--threads`` report: the machine, then the thread setting."""
    return machine_lines() + [
        f"Threads: {threads} for every competitor ("
        + ", ".join(f"{v}={threads}" for v in THREAD_VARIABLES)
        + f" in each process; PyTorch also `torch.set_num_threads({threads})`)",
    ]


def machine_lines():
    """CPU, library versions, BLAS kernels and BLAS settings, one line each."""
    from importlib import metadata

    import numpy as np

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    try:
        numba_version = metadata.version("numba")
    except metadata.PackageNotFoundError:
        numba_version = "not installed"
    memory_kb = read_first("/proc/meminfo", "MemTotal").split()[0]
    torch = torch_info()
    return [
        f"CPU: {read_first('/proc/cpuinfo', 'model name')} (family "
        f"{read_first('/proc/cpuinfo', 'cpu family')}, model {read_first('/proc/cpuinfo', 'model')}"
        f"{', AVX-512' if 'avx512f' in read_first('/proc/cpuinfo', 'flags').split() else ''}), "
        f"{os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable), "
        f"{int(memory_kb) / 2**20:.0f} GiB memory" if memory_kb.isdigit() else "",
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba_version}, "
        f"PyTorch {torch['version']}",
        f"NumPy's BLAS: {blas.get('name')} {blas.get('version')}; kernel in use: "
        f"{openblas_core()}",
        f"PyTorch's BLAS: {torch['blas']} (oneDNN {'on' if torch['onednn'] else 'off'})",
        "OPENBLAS_CORETYPE=" + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
        + ", OPENBLAS_L2_SIZE=" + os.environ.get("OPENBLAS_L2_SIZE", "(unset)")
        + " — the machine's setting, left as it is for every competitor",
    ]


def report(summary, measured, plan, args, machine, elapsed):
    quick = " (--quick: a subset of the data, numbers not comparable)" if args.quick else ""
    epochs = ", ".join(f"{w}: {plan.rounds[w]} rounds × {plan.epochs[w]} epochs"
                       for w in ("W1", "W2", "W3"))
    load_start, load_end = measured["load"]
    lines = [
        f"## Benchmark: minidl vs PyTorch eager vs the BLAS floor, {args.threads} "
        f"thread{'s' if args.threads > 1 else ''}{quick}",
        "",
        f"Command: `{measured['command']}`  ",
        f"Date: {measured['date']}; minidl at git {measured['git']}; the run took "
        f"{elapsed / 60:.1f} min; load average {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end.",
        "",
        f"Seconds per epoch over the {plan.n_train or 60000:,} MNIST training images (W4: "
        f"seconds per `predict` pass over the {plan.n_test or 10000:,} test images); median "
        "over the epochs after the first of every process, [min, max] beside it. Each "
        "competitor runs in its own "
        f"process, round-robin with the order rotated each round ({epochs}; W4: "
        f"{plan.rounds['W4']} rounds × {plan.predict_reps} passes). Ratios are taken in this "
        "run. minidl trains through `compile(optimizer='adam', "
        "loss='sparse_categorical_crossentropy', metrics=['accuracy'])` and "
        "`fit(..., verbose=0)`; PyTorch through a standard eager loop (`nn.Sequential`, "
        "`CrossEntropyLoss`, `Adam(lr=1e-3)`, shuffled index batches); the floor is only the "
        "step's matrix products (forward `x@W1`, `h@W2`; backward `hᵀ@dz2`, `dz2@W2ᵀ`, "
        "`xᵀ@dz1`) in NumPy float32.",
        "",
        speed_table(summary, plan),
        "",
        "### Start-up, memory, accuracy",
        "",
        f"Import times: median of {plan.import_rounds} fresh process(es) (interpreter start-up "
        f"excluded); `import minidl` loaded numba: "
        f"{measured['imports']['minidl_loads'].get('numba', '?')}, torch: "
        f"{measured['imports']['minidl_loads'].get('torch', '?')}. First-epoch extra = first "
        "epoch minus the median of the later epochs of the same process. Peak RSS: "
        "`ru_maxrss` of the W1 process, MNIST in float32 included.",
        "",
        startup_table(summary, plan),
        "",
        "### Targets (issue 4)",
        "",
        targets_table(summary, plan),
        "",
        "### Machine",
        "",
        *[f"- {line}" for line in machine if line],
    ]
    failures = [f"- {label}, {NAMES[c]}: {run['error']}"
                for label, runs in measured["cases"].items() for c in COMPETITORS
                for run in runs[c] if "error" in run]
    if failures:
        lines += ["", "### Failed processes", "", *failures]
    return "\n".join(lines) + "\n"


def write_section(path, key, text):
    """Replace the block marked ``key`` in ``path`` (or append it); keep everything else.

    Args:
        path: the Markdown file (created if missing).
        key: the block's marker, ``"threads=N"`` or ``"modes"``: the block lies between
            ``<!-- bench_mlp:start KEY -->`` and ``<!-- bench_mlp:end KEY -->``.
        text: the block's new content.
    """
    start = f"<!-- bench_mlp:start {key} -->"
    end = f"<!-- bench_mlp:end {key} -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    i, j = old.find(start), old.find(end)
    if 0 <= i < j:
        new = old[:i] + block + old[j + len(end):]
    elif old.strip():
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    else:
        new = "# minidl benchmark results\n\n" + block + "\n"
    # Atomic: a reader never sees half a file, and an interrupted write keeps the old one.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


# ---- --modes: pinned and default threads, on a quiet and a busy machine ------------------
MODE_COMPETITORS = ("minidl", "torch")
MODE_NAMES = {"minidl": "minidl", "torch": "PyTorch"}
# One case per workload: W2 at batch 128 only.
MODE_CASES = [case for case in CASES if not (case.workload == "W2" and case.batch_size != 128)]
STATES = ("quiet", "busy")

# Epochs over part of the training set (200 steps of W1, 100 of W2, 60 of W3), scaled to
# 60,000 images: on the busy machine a multi-threaded setting can collapse to 30-50 ms a
# step (PyTorch at 2 threads here), which would make one full W1 epoch last 60-90 s. The
# budgets stop such a process after its second epoch; quiet epochs stay well inside them.
# Estimated (estimate_seconds): about 8 minutes at quiet 1-thread speeds, 15 if every
# multi-threaded setting collapses on the busy machine.
MODES_FULL = Plan(rounds={"W1": 3, "W2": 2, "W3": 2, "W4": 2},
                  epochs={"W1": 3, "W2": 3, "W3": 3}, predict_reps=10, import_rounds=0,
                  accuracy=False, epoch_images={"W1": 6400, "W2": 12800, "W3": 15360},
                  budget_s={"W1": 8, "W2": 8, "W3": 20})
MODES_QUICK = Plan(rounds={"W1": 1, "W2": 1, "W3": 1, "W4": 1},
                   epochs={"W1": 2, "W2": 2, "W3": 2}, predict_reps=2, import_rounds=0,
                   n_train=2048, n_test=1024, accuracy=False, budget_s={"W1": 8, "W2": 8,
                                                                       "W3": 20})

# For the run-time estimate only: seconds per epoch (W4: per pass) at 1 thread on a quiet
# machine, full data, from the `threads=1` block of RESULTS.md (2026-11-22); and the
# seconds a worker process costs besides its epochs (interpreter, imports, data, and
# minidl's first-epoch extra).
REFERENCE_SECONDS = {"W1": {"minidl": 1.0, "torch": 2.2}, "W2": {"minidl": 0.6, "torch": 1.3},
                     "W3": {"minidl": 7.2, "torch": 10.3},
                     "W4": {"minidl": 0.026, "torch": 0.039}}
PROCESS_SECONDS = {"minidl": 2.5, "torch": 3.0}
# The extra seconds a step took with 2 threads when the busy loop held one of the 2 cores
# (PyTorch, W1, this machine: 3.1-3.3 s for 64 steps).
COLLAPSED_STEP_S = 0.05

# A competing CPU-bound process for the "busy" state: ``python -c BUSY_LOOP CORE PARENT``.
# It pins itself to CORE and exits by itself once PARENT (the benchmark) is gone: getppid()
# changes when the benchmark dies without cleaning up, even on SIGKILL. It is checked every
# few milliseconds, against the pid it was given (reading getppid() at start would race
# with a parent that dies at once).
BUSY_LOOP = """\
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
parent = int(sys.argv[2])
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


@dataclass(frozen=True)
class Setting:
    """A thread setting of ``--modes``: pinned to a count, or the libraries' default."""

    role: str  # "one", "all" or "default": the column it fills
    threads: int  # None for "default"
    label: str

    @property
    def short(self):
        """'1 thread', '2 threads' or 'default'."""
        if self.threads is None:
            return "default"
        return f"{self.threads} thread{'s' if self.threads > 1 else ''}"


def thread_settings(usable):
    """1 thread, all ``usable`` cores (if more than one), and the default.

    >>> [s.label for s in thread_settings(2)]
    ['1 thread', '2 threads (all cores)', 'default']
    >>> [s.role for s in thread_settings(1)]
    ['one', 'default']
    """
    settings = [Setting("one", 1, "1 thread")]
    if usable > 1:
        settings.append(Setting("all", usable, f"{usable} threads (all cores)"))
    settings.append(Setting("default", None, "default"))
    return settings


def estimate_seconds(plan, cases, states, settings, collapsed_step_s=0.0):
    """A rough run time of ``--modes``, in seconds, from REFERENCE_SECONDS.

    Args:
        plan, cases, states, settings: what the run measures.
        collapsed_step_s: seconds every training step of a multi-threaded setting takes
            extra on the busy machine (0: no collapse; about 0.05 was measured here).
    """
    total = 0.0
    for state in states:
        for case, setting, competitor in itertools.product(cases, settings, MODE_COMPETITORS):
            reference = REFERENCE_SECONDS[case.workload][competitor]
            if case.task == "predict":
                units = plan.predict_reps + 1  # the untimed warm-up pass too
                work = units * reference * (plan.n_test or 10000) / 10000
            else:
                images = plan.images_per_epoch(case.workload)
                epoch = reference * images / 60000
                if state == "busy" and setting.threads != 1:
                    epoch += collapsed_step_s * math.ceil(images / case.batch_size)
                units = plan.epochs[case.workload]
                budget = (plan.budget_s or {}).get(case.workload)
                if budget:  # the process stops after the epoch that passes the budget
                    units = min(units, max(2, math.ceil(budget / epoch)))
                work = units * epoch
            total += plan.rounds[case.workload] * (PROCESS_SECONDS[competitor] + work)
    return total


class CompetingLoad:
    """A CPU-bound busy loop on one core for the duration of a ``with`` block.

    The process is stopped when the block ends, however it ends (an exception, Ctrl-C, or
    SIGTERM, which ``run_modes`` turns into SystemExit).

    Args:
        core: the core the loop pins itself to (``os.sched_setaffinity``).
    """

    def __init__(self, core):
        self.core = core
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", BUSY_LOOP, str(self.core), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        return self

    def alive(self):
        """True while the busy loop still runs (it should through the whole state)."""
        return self.process is not None and self.process.poll() is None

    def __exit__(self, *exc_info):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return False


def measure_state(state, contenders, cases, plan):
    """Every case under one machine state; the busy loop lives only inside this call."""
    core = min(os.sched_getaffinity(0)) if state == "busy" else None
    result = {"load": [os.getloadavg()[0]], "busy_core": core, "busy_alive": None,
              "cases": {}}
    log(f"bench_mlp --modes: {state} machine"
        + (f" (a busy loop pinned to core {core})" if core is not None else ""))
    with CompetingLoad(core) if core is not None else contextlib.nullcontext() as load:
        for case in cases:
            result["cases"][case.label] = measure_case(
                contenders, case, plan, cold_start=False, prefix=f"{state}: ",
                probe_threads=True)
        if load is not None:
            result["busy_alive"] = load.alive()
        result["load"].append(os.getloadavg()[0])  # before the busy loop stops
    return result


def epoch_scale(case, plan):
    """The factor from one measured epoch of ``case`` to a full epoch of ``plan.n_train``."""
    if case.task != "train":
        return 1.0
    return (plan.n_train or 60000) / plan.images_per_epoch(case.workload)


def summarize_modes(measured, plan):
    """Per state: seconds per unit, W1 first-epoch extra, peak RSS and threads seen, per key."""
    summary = {}
    cases = {case.label: case for case in MODE_CASES}
    for state, result in measured["states"].items():
        speed = {label: {key: seconds_per_unit(runs[key], epoch_scale(cases[label], plan))
                         for key in runs}
                 for label, runs in result["cases"].items()}
        w1 = {"extra": {}, "rss": {}, "threads": {}}
        runs_w1 = result["cases"].get(CASES[0].label, {})
        for key, runs in runs_w1.items():
            good = ok(runs)
            extras = [first_epoch_extra(r) for r in good]
            w1["extra"][key] = spread([e for e in extras if e is not None])
            w1["rss"][key] = spread([r["max_rss_mb"] for r in good])
            w1["threads"][key] = sorted({json.dumps(r.get("threads_seen", {}), sort_keys=True)
                                         for r in good})
        # Cells where a process stopped at its time budget, before the planned epochs.
        cut = {(label, key) for label, runs in result["cases"].items() for key in runs
               for r in ok(runs[key]) if cases[label].task == "train"
               and len(r.get("epoch_times", [])) < plan.epochs[cases[label].workload]}
        summary[state] = {"speed": speed, "w1": w1, "cut": cut}
    return summary


def best_pinned(stats, competitor, settings):
    """(median spread, label) of the fastest pinned setting of ``competitor``, or None."""
    pinned = [(stats.get((competitor, s.role)), s.short) for s in settings
              if s.threads is not None]
    pinned = [(stat, label) for stat, label in pinned if stat]
    return min(pinned, key=lambda pair: pair[0][0]) if pinned else None


def modes_columns(settings):
    return [(c, s) for c in MODE_COMPETITORS for s in settings]


def modes_speed_table(speed, settings, cut=()):
    """Rows: workloads; columns: each competitor at each setting, then the two ratios.

    A cell in ``cut`` ((label, key) pairs) is marked †: a process stopped at its budget.
    """
    header = ["workload"]
    for competitor in MODE_COMPETITORS:
        header += [f"{MODE_NAMES[competitor]} {s.label}" for s in settings]
        header.append("**minidl default / minidl best pinned**" if competitor == "minidl"
                      else "**minidl default / PyTorch default**")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in MODE_CASES:
        stats = speed.get(case.label)
        if stats is None:
            continue
        default = stats.get(("minidl", "default"))
        cells = [case.label]
        for competitor in MODE_COMPETITORS:
            cells += [fmt_seconds(stats.get((competitor, s.role)))
                      + (" †" if (case.label, (competitor, s.role)) in cut else "")
                      for s in settings]
            if competitor == "minidl":
                best = best_pinned(stats, "minidl", settings)
                cells.append(f"{fmt_ratio(ratio(default, best[0]))} (vs {best[1]})"
                             if best and default else "—")
            else:
                cells.append(fmt_ratio(ratio(default, stats.get(("torch", "default")))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe_threads(seen):
    """'BLAS 1 in fit, 2 after' / 'intra-op 2' from the worker's ``threads_seen`` JSONs.

    >>> describe_threads(['{"blas": [2], "blas_in_fit": [1]}', '{"blas": [2], "torch": 2}'])
    'BLAS 1 in fit, 2 after; intra-op 2'
    """
    parts = []
    for text in seen:
        found = json.loads(text)
        if "torch" in found:
            parts.append(f"intra-op {found['torch']}")
        elif found.get("blas"):
            counts = "/".join(str(n) for n in found["blas"])
            in_fit = "/".join(str(n) for n in found.get("blas_in_fit") or [])
            parts.append(f"BLAS {in_fit} in fit, {counts} after" if in_fit else f"BLAS {counts}")
    return "; ".join(parts) or "?"


def modes_w1_table(w1, settings):
    """W1 processes: first-epoch extra, peak RSS and the thread counts the libraries chose."""
    columns = modes_columns(settings)
    header = ["W1 process"] + [f"{MODE_NAMES[c]} {s.label}" for c, s in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = [fmt_seconds(w1["extra"].get((c, s.role))) for c, s in columns]
    lines.append("| first-epoch extra, s (minidl: warm Numba cache) | " + " | ".join(cells)
                 + " |")
    cells = []
    for c, s in columns:
        rss, torch_rss = w1["rss"].get((c, s.role)), w1["rss"].get(("torch", s.role))
        text = fmt_seconds(rss, with_range=False)
        if c == "minidl" and rss and torch_rss:
            text += f" ({fmt_ratio(ratio(rss, torch_rss))} PyTorch)"
        cells.append(text)
    lines.append("| peak RSS, MB (data included; minidl: ratio to PyTorch at the same setting) | "
                 + " | ".join(cells) + " |")
    cells = [describe_threads(w1["threads"].get((c, s.role), [])) for c, s in columns]
    lines.append("| threads the library reports (minidl: NumPy's BLAS inside `fit` and after "
                 "it; PyTorch: `torch.get_num_threads()`) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_verdict(value, limit):
    """(shown, 'met' or 'missed: ... above') for a ratio target ``value <= limit``.

    >>> ratio_verdict(1.2007, 1.2)
    ('1.20×', 'missed: 0.1% above the target')
    >>> ratio_verdict(0.5, 1.0)
    ('0.50×', 'met')
    """
    if value is None:
        return "—", "not measured"
    if value <= limit:
        return f"{value:.2f}×", "met"
    return f"{value:.2f}×", f"missed: {value / limit - 1:.1%} above the target"


def modes_targets_table(summary, settings):
    """Issue 15's two speed targets, per state and workload, plus W1's start-up and memory."""
    lines = ["| state | workload | minidl default / best pinned | ≤ 1.2× | "
             "minidl default / PyTorch default | < 1× |", "|---|---|---|---|---|---|"]
    for state, result in summary.items():
        for case in MODE_CASES:
            stats = result["speed"].get(case.label)
            if stats is None:
                continue
            default = stats.get(("minidl", "default"))
            best = best_pinned(stats, "minidl", settings)
            own = ratio_verdict(ratio(default, best[0]) if best else None, 1.2)
            torch = ratio_verdict(ratio(default, stats.get(("torch", "default"))), 1.0)
            lines.append(f"| {state} | {case.workload} | {own[0]} | {own[1]} | {torch[0]} "
                         f"| {torch[1]} |")
    lines += ["", "| state | target (W1, both at their default threads) | measured | result |",
              "|---|---|---|---|"]
    for state, result in summary.items():
        w1 = result["w1"]
        extra = w1["extra"].get(("minidl", "default"))
        rss = ratio(w1["rss"].get(("minidl", "default")), w1["rss"].get(("torch", "default")))
        for text, value, limit, unit in (
                ("first-epoch extra ≤ 0.3 s (warm Numba cache)", extra[0] if extra else None,
                 0.3, " s"),
                ("peak RSS ≤ 0.6× PyTorch's", rss, 0.6, "×")):
            shown, verdict_text = (verdict(value, limit, unit) if unit == " s"
                                   else ratio_verdict(value, limit))
            lines.append(f"| {state} | {text} | {shown} | {verdict_text} |")
    return "\n".join(lines)


def modes_report(summary, measured, plan, args, settings, machine, elapsed):
    """The Markdown section of ``--modes``."""
    quick = " (--quick: a subset of the data, numbers not comparable)" if args.quick else ""
    usable = len(os.sched_getaffinity(0))
    epochs = ", ".join(f"{w}: {plan.rounds[w]} round(s) × {plan.epochs[w]} epochs over "
                       f"{plan.images_per_epoch(w):,} images"
                       + (f", stopped after the epoch that passes {plan.budget_s[w]} s "
                          "(never before the second)" if (plan.budget_s or {}).get(w) else "")
                       for w in ("W1", "W2", "W3"))
    lines = [
        f"## Benchmark modes: minidl and PyTorch at pinned and default threads, on a quiet "
        f"and a busy machine{quick}",
        "",
        f"Command: `{measured['command']}`  ",
        f"Date: {measured['date']}; minidl at git {measured['git']}; the run took "
        f"{elapsed / 60:.1f} min.",
        "",
        "What a user gets. Each competitor runs in three thread settings: pinned to 1 thread, "
        f"pinned to all {usable} usable cores (every thread variable set, "
        "`torch.set_num_threads`), and **default**: no thread variable in the environment "
        "and no `set_num_threads`, so each library chooses. Two machine states: **quiet** "
        "(nothing else started by the benchmark) and **busy** (a Python busy loop pinned to "
        "one core, started before the state's first process and stopped after its last). "
        f"Seconds per epoch of {plan.n_train or 60000:,} MNIST training images, measured on "
        "epochs over the first images (below) and scaled to the full count, so that a "
        "collapsing setting ends in bounded time (W4: "
        f"seconds per `predict` pass over the {plan.n_test or 10000:,} test images); median "
        "over the epochs after the first of every process, [min, max] beside it. Every "
        "(competitor, setting) pair runs in its own process, round-robin with the order "
        f"rotated each round ({epochs}; W4: {plan.rounds['W4']} round(s) × "
        f"{plan.predict_reps} passes). minidl (JIT on, warm Numba cache) trains through "
        "`fit(..., verbose=0)`, PyTorch through a standard eager loop, as in the "
        "`--threads` tables. \"Best pinned\" is the faster of minidl's pinned settings in "
        "the same state.",
    ]
    for state, result in summary.items():
        raw = measured["states"][state]
        load = raw["load"]
        title = "Quiet machine" if state == "quiet" else (
            f"Busy machine (a busy loop on core {raw['busy_core']}"
            + ("" if raw["busy_alive"] in (True, None) else "; it DIED before the end")
            + ")")
        lines += [
            "",
            f"### {title}",
            "",
            f"Load average (1 min) {load[0]:.2f} at the start of the state, "
            f"{load[-1]:.2f} at its end (it lags by about a minute).",
            "",
            modes_speed_table(result["speed"], settings, result["cut"]),
            *(["", "† at least one process stopped at its time budget (fewer epochs measured)."]
              if result["cut"] else []),
            "",
            modes_w1_table(result["w1"], settings),
        ]
    lines += [
        "",
        "### Targets (issue 15)",
        "",
        modes_targets_table(summary, settings),
        "",
        "### Machine",
        "",
        *[f"- {line}" for line in machine if line],
        f"- Threads: pinned = {', '.join(ALL_THREAD_VARIABLES)} set to N in each process "
        "(PyTorch also `torch.set_num_threads(N)`); default = none of them in the "
        "environment and no `set_num_threads`.",
    ]
    failures = [f"- {state}, {label}, {MODE_NAMES[key[0]]} {key[1]}: {run['error']}"
                for state, result in measured["states"].items()
                for label, runs in result["cases"].items() for key in runs
                for run in runs[key] if "error" in run]
    if failures:
        lines += ["", "### Failed processes", "", *failures]
    return "\n".join(lines) + "\n"


def run_modes(args, argv=None):
    """``--modes``: measure every state and setting, print the section and write it."""
    plan = MODES_QUICK if args.quick else MODES_FULL
    began = time.perf_counter()
    measured = start_record(argv)
    data_path = find_mnist()
    warm_cache = Path(args.numba_cache_dir).resolve()
    warm_cache.mkdir(parents=True, exist_ok=True)
    settings = thread_settings(len(os.sched_getaffinity(0)))
    runners = {s.role: Runner(s.threads, data_path, warm_cache, args.timeout,
                              variables=ALL_THREAD_VARIABLES) for s in settings}
    contenders = [Contender((c, s.role), c, runners[s.role], f"{MODE_NAMES[c]} {s.label}")
                  for s in settings for c in MODE_COMPETITORS]
    cases = [case for case in MODE_CASES if case.workload in args.workloads]
    quiet = estimate_seconds(plan, cases, args.states, settings) / 60
    collapsed = estimate_seconds(plan, cases, args.states, settings, COLLAPSED_STEP_S) / 60
    log(f"bench_mlp --modes: states {','.join(args.states)}, workloads "
        f"{','.join(args.workloads)}{', quick' if args.quick else ''}; estimated {quiet:.1f} "
        f"min at a quiet machine's 1-thread speeds, {collapsed:.1f} min if every "
        f"multi-threaded setting collapses on the busy machine ({COLLAPSED_STEP_S * 1000:.0f} "
        "ms a step)")
    # SIGTERM would end the process without running `finally`, leaving the busy loop to
    # find out by itself that its parent is gone: make it unwind like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        prime_warm_cache(runners["one"], plan)
        measured["states"] = {state: measure_state(state, contenders, cases, plan)
                              for state in args.states}
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = summarize_modes(measured, plan)
    text = modes_report(summary, measured, plan, args, settings, machine_lines(),
                        time.perf_counter() - began)
    print(text)
    finish(args, "modes", text)


# ---- main -------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every competitor (default 1)")
    parser.add_argument("--modes", action="store_true",
                        help="minidl and PyTorch pinned to 1 thread, pinned to all cores, and "
                             "at their default threads, on a quiet and a busy machine "
                             "(~15 min; its own section of the results)")
    parser.add_argument("--states", default=",".join(STATES),
                        help="with --modes: comma-separated subset of quiet,busy "
                             "(default: both)")
    parser.add_argument("--quick", action="store_true",
                        help="a subset of the data and one round: a smoke test (~1 minute)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of W1,W2,W3,W4 (default: all)")
    parser.add_argument("--output", default=None,
                        help=f"Markdown file to update (default: {DEFAULT_RESULTS} for a full "
                             "run, none for --quick)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--numba-cache-dir", default=str(DEFAULT_WARM_CACHE),
                        help="the persistent ('warm') Numba cache directory")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds one worker process may take")
    args = parser.parse_args(argv)
    if args.modes and args.threads is not None:
        parser.error(f"--modes measures its own thread settings; got --threads {args.threads} "
                     "too: pass one of them")
    if args.threads is None:
        args.threads = 1
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}")
    states = [s.strip().lower() for s in args.states.split(",") if s.strip()]
    if not states or set(states) - set(STATES) or len(set(states)) < len(states):
        parser.error(f"--states got {args.states!r}; choose from {','.join(STATES)}")
    args.states = states
    chosen = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(WORKLOADS))
    if unknown or not chosen:
        parser.error(f"--workloads got {args.workloads!r}; choose from {','.join(WORKLOADS)}")
    args.workloads = chosen
    return args


def find_mnist():
    """The path of mnist.npz, found the way minidl finds it (MINIDL_DATA_DIR first)."""
    shared = REPO_ROOT.parent / "shared" / "datasets"
    if "MINIDL_DATA_DIR" not in os.environ and (shared / "mnist.npz").exists():
        os.environ["MINIDL_DATA_DIR"] = str(shared)  # the workers inherit it
    sys.path.insert(0, str(REPO_ROOT))
    from minidl.datasets import mnist
    from minidl.datasets._files import get_file

    return get_file("mnist.npz", origin=mnist.ORIGIN, sha256=mnist.SHA256)


def start_record(argv):
    """The command, date and git revision every report starts with."""
    command = "python benchmarks/bench_mlp.py " + " ".join(sys.argv[1:] if argv is None
                                                           else argv)
    return {
        "command": command.strip(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_revision(),
        "cases": {},
    }


def finish(args, key, text):
    """Write ``text`` as the block ``key`` of the results file, unless told not to."""
    output = args.output or (None if args.quick else DEFAULT_RESULTS)
    if output and not args.no_write:
        write_section(output, key, text)
        log(f"bench_mlp: wrote {output}")
    elif not args.no_write:
        log("bench_mlp: --quick results not written (pass --output PATH to write them)")


def main(argv=None):
    args = parse_args(argv)
    if args.modes:
        run_modes(args, argv)
        return
    plan = QUICK if args.quick else FULL
    began = time.perf_counter()
    measured = start_record(argv)
    load_start = os.getloadavg()[0]
    runner = Runner(args.threads, find_mnist(), Path(args.numba_cache_dir).resolve(),
                    args.timeout)
    runner.warm_cache.mkdir(parents=True, exist_ok=True)

    log(f"bench_mlp: {args.threads} thread(s), workloads {','.join(args.workloads)}"
        f"{', quick' if args.quick else ''}; data {runner.data_path}")
    prime_warm_cache(runner, plan)
    measured["imports"] = measure_imports(runner, plan.import_rounds)
    for case in CASES:
        if case.workload in args.workloads:
            contenders = [Contender(c, c, runner, NAMES[c]) for c in COMPETITORS]
            measured["cases"][case.label] = measure_case(contenders, case, plan)
    measured["load"] = (load_start, os.getloadavg()[0])

    summary = summarize(measured)
    text = report(summary, measured, plan, args, machine_info(args.threads),
                  time.perf_counter() - began)
    print(text)
    finish(args, f"threads={args.threads}", text)


if __name__ == "__main__":
    main()
