"""Where the memory of a W1 training process goes, stage by stage.

    python benchmarks/rss_profile.py [--epochs 1] [--numba-stages] [--hide-scipy] [--json]

Runs the W1 workload of ``bench_mlp.py`` (MNIST through ``minidl.datasets.mnist.load_data()``,
scaled to float32, the 784-128-10 MLP with Dropout 0.2, ``fit(batch_size=32, verbose=0)``, then
``evaluate``) in this one process, and after each stage prints the peak resident memory so far
(``ru_maxrss``) and the current one (``VmRSS``, split into anonymous memory and mapped files
from ``/proc/self/status``), in MiB, as ``bench_mlp.py`` reports them. Set the thread-count
variables as the benchmark does (``OMP_NUM_THREADS=1`` ...) for comparable figures; the script
sets them to 1 itself unless they are already set.

The peak is what the benchmark compares with PyTorch; the current figures show what each
stage keeps (a freed temporary raises the peak but not the current RSS). At the end it lists
the resident memory per mapped file (``libllvmlite.so`` is LLVM) and of anonymous memory.

By default minidl sets Numba up on a background thread from ``import minidl`` on, so its
memory arrives while the data loads; ``MINIDL_JIT_WARMUP=0`` moves it to the first kernel
call. Two options take Numba's share apart (both use Numba internals, for measurement only,
and both turn the background set-up off):

- ``--numba-stages`` starts Numba before ``fit`` the way the first kernel call does, one
  piece at a time: loading LLVM (``llvmlite.binding``), ``import numba``, compiling Numba's
  runtime module (NRT) with LLVM, and importing every implementation registry.
- ``--hide-scipy`` makes ``import scipy`` fail while Numba starts. Numba imports SciPy for a
  version check and ``scipy.linalg`` (to find a BLAS for ``np.dot`` inside kernels, which
  minidl's kernels never use) when SciPy is installed; this measures what that costs.
"""

import argparse
import contextlib
import json
import os
import resource
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_STATUS_FIELDS = ("VmRSS", "RssAnon", "RssFile")


def memory():
    """``{"peak": ru_maxrss, "rss": VmRSS, "anon": RssAnon, "file": RssFile}`` in MiB."""
    values = {"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in _STATUS_FIELDS:
                values[key] = int(rest.split()[0]) / 1024  # reported in kB
    return {"peak": values["peak"], "rss": values["VmRSS"], "anon": values["RssAnon"],
            "file": values["RssFile"]}


def resident_by_mapping(top=8):
    """``[(MiB, name)]``: the resident memory of each mapped file (shared libraries) and of
    the anonymous memory (heap, NumPy arrays, Python objects), largest first, from
    ``/proc/self/smaps``."""
    totals, name = {}, None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's header: address perms ... [path]
                path = fields[5] if len(fields) > 5 else ""
                name = os.path.basename(path) if path.startswith("/") else "anonymous"
            elif fields[0] == "Rss:":
                totals[name] = totals.get(name, 0) + int(fields[1]) / 1024
    return sorted(((mib, name) for name, mib in totals.items()), reverse=True)[:top]


class Profile:
    """The stages recorded so far, printed as a table."""

    def __init__(self):
        self.rows = []
        self._start = time.perf_counter()

    def mark(self, stage):
        self.rows.append({"stage": stage, "seconds": time.perf_counter() - self._start,
                          **memory()})

    def table(self):
        lines = ["| stage | peak (ru_maxrss) | RSS | anonymous | files | s |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for row in self.rows:
            lines.append(f"| {row['stage']} | {row['peak']:.0f} | {row['rss']:.0f} | "
                         f"{row['anon']:.0f} | {row['file']:.0f} | {row['seconds']:.2f} |")
        return "\n".join(lines)


@contextlib.contextmanager
def scipy_hidden():
    """``import scipy`` raises ImportError inside the block (unless SciPy is already
    imported); afterwards SciPy imports normally again."""
    hide = "scipy" not in sys.modules
    if hide:
        sys.modules["scipy"] = None  # a None entry makes the import fail
    try:
        yield
    finally:
        if hide:
            del sys.modules["scipy"]


def start_numba(profile, stages):
    """Start Numba as minidl's first kernel call does; mark each piece when ``stages``."""
    import llvmlite.binding  # noqa: F401  (the LLVM library and its static initialisers)

    if stages:
        profile.mark("numba: llvmlite.binding (LLVM loaded)")
    import numba  # noqa: F401
    import numba.np.arraymath  # noqa: F401  (its import looks for scipy.linalg's BLAS)

    if stages:
        profile.mark("numba: import numba")
        from numba.core.registry import cpu_target
        from numba.core.runtime import rtsys

        context = cpu_target.target_context  # the code generator (target machine, MCJIT)
        rtsys.initialize(context)  # compiles Numba's runtime (NRT) module with LLVM
        profile.mark("numba: NRT runtime compiled")
        context.refresh()  # imports every implementation registry (numba.np, typed, ...)
        profile.mark("numba: implementation registries")


def run(epochs, profile, numba_stages=False, hide_scipy=False):
    profile.mark("interpreter + numpy")
    import minidl as keras

    profile.mark("import minidl")
    (x, y), (x_test, y_test) = keras.datasets.mnist.load_data()
    profile.mark("load_data (uint8)")
    # As benchmarks/_workloads.py's load_mnist(): float32 without a float64 temporary, the
    # uint8 arrays held until both are scaled.
    scaled, scaled_test = x.astype("float32"), x_test.astype("float32")
    scaled /= 255
    scaled_test /= 255
    profile.mark("scaled to float32 (uint8 still held)")
    x, x_test = scaled, scaled_test
    del scaled, scaled_test
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    profile.mark("model built and compiled")
    if numba_stages or hide_scipy:
        with scipy_hidden() if hide_scipy else contextlib.nullcontext():
            start_numba(profile, numba_stages)

    class Marks(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0 and not any(r["stage"] == "first train step" for r in profile.rows):
                profile.mark("first train step")

        def on_epoch_end(self, epoch, logs=None):
            profile.mark(f"end of epoch {epoch + 1}")

    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[Marks()])
    profile.mark("fit returned")
    model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    profile.mark("evaluate")
    loaded = sorted(name for name in ("numba", "llvmlite", "scipy", "torch")
                    if name in sys.modules)
    return {"modules_loaded": loaded, "module_count": len(sys.modules),
            "resident_by_mapping": resident_by_mapping()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--numba-stages", action="store_true",
                        help="start Numba before fit, one piece at a time")
    parser.add_argument("--hide-scipy", action="store_true",
                        help="start Numba before fit with scipy made unimportable")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.numba_stages or args.hide_scipy:
        os.environ["MINIDL_JIT_WARMUP"] = "0"  # read when minidl is imported, in run()
    profile = Profile()
    info = run(args.epochs, profile, args.numba_stages, args.hide_scipy)
    if args.json:
        print(json.dumps({"stages": profile.rows, **info}))
    else:
        print(profile.table())
        print(f"\nmodules: {info['module_count']} loaded; of note: "
              f"{', '.join(info['modules_loaded']) or 'none'}")
        print("resident at the end, MiB: " + ", ".join(
            f"{name} {mib:.0f}" for mib, name in info["resident_by_mapping"]))


if __name__ == "__main__":
    main()
