"""The first epoch with and without the background Numba set-up, and steps with and without
the replay of recorded steps.

    python benchmarks/first_epoch.py [--rounds 3]

Part 1 starts fresh processes, alternating ``MINIDL_JIT_WARMUP=1`` (the default: Numba is
set up on a background thread from ``import minidl``) and ``0``: each imports minidl, loads
and scales MNIST, builds and compiles the seeds' MLP and fits 8 batches of 32; it reports the
time of that first ``fit`` and the time from before ``import minidl`` to its end (warm Numba
cache: the benchmark primes it first). Part 2, in one process: epochs of 20,000 images at
batch 32 alternately with ``config.set_step_replay(True)`` and ``(False)``, µs a step. Both
at one BLAS thread. Needs ``mnist.npz`` (``MINIDL_DATA_DIR``).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
import minidl as keras
(x, y), _ = keras.datasets.mnist.load_data()
x = x.astype(np.float32)
x /= 255
model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                          keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dropout(0.2),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fit_start = time.perf_counter()
model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)
end = time.perf_counter()
print(json.dumps({"first_fit": end - fit_start, "total": end - start}))
"""


def child(warmup):
    env = {**os.environ, "MINIDL_JIT_WARMUP": str(warmup), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def replay_ab(rounds):
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import minidl as keras

    (x, y), _ = keras.datasets.mnist.load_data()
    x, y = (x[:20000] / 255.0).astype(np.float32), y[:20000]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dropout(0.2),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:640], y[:640], batch_size=32, verbose=0)  # kernels loaded
    times = {True: [], False: []}
    for _ in range(rounds):
        for replay in (True, False):
            keras.config.set_step_replay(replay)
            start = time.perf_counter()
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            times[replay].append((time.perf_counter() - start) / (len(x) / 32) * 1e6)
    keras.config.set_step_replay(True)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    child(1)  # prime the Numba cache
    runs = {1: [], 0: []}
    for _ in range(args.rounds):
        for warmup in (1, 0):
            runs[warmup].append(child(warmup))
    print("| MINIDL_JIT_WARMUP | first fit (8 steps), s | import to end of first fit, s |")
    print("|---|---|---|")
    for warmup in (1, 0):
        fits = sorted(r["first_fit"] for r in runs[warmup])
        totals = sorted(r["total"] for r in runs[warmup])
        print(f"| {warmup} | {fits[0]:.3f}–{fits[-1]:.3f} | {totals[0]:.2f}–{totals[-1]:.2f} |")
    times = replay_ab(args.rounds)
    print()
    print("| steps | µs a step (20,000 images, batch 32, one thread), each round |")
    print("|---|---|")
    for replay, label in ((True, "replayed"), (False, "ordinary")):
        print(f"| {label} | {', '.join(f'{t:.0f}' for t in times[replay])} |")


if __name__ == "__main__":
    main()
