"""Where BLAS threads pay: one matrix product at 1 thread and at every core, on a quiet and
on a busy machine (a busy loop on one core), for the products of the benchmarks' models.

    python benchmarks/bench_threads.py [--reps 5]

The numbers behind ``minidl.threads.SMALL_PRODUCT`` (one thread below it) and behind the
timing of larger products (see ``minidl/threads.py``). Prints a Markdown table; the median
of ``--reps`` timings of a loop of products, each loop about 0.2 s of work.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import CompetingLoad  # noqa: E402  (the busy loop of bench_mlp --modes)

# (m, k, n, where the product comes from)
PRODUCTS = [
    (32, 784, 128, "W1 forward x·W1 (batch 32)"),
    (784, 32, 128, "W1 backward xᵀ·dz"),
    (128, 784, 128, "W2 forward (batch 128)"),
    (512, 784, 128, "W2 forward (batch 512)"),
    (1024, 784, 128, "W4 predict (batch 1024)"),
    (256, 784, 1024, "W3 forward x·W1 (batch 256)"),
    (256, 1024, 1024, "W3 forward h·W2"),
    (15488, 288, 64, "W5 second convolution (im2col, batch 128)"),
]


def seconds_per_product(m, k, n, threads, reps):
    rng = np.random.default_rng(0)
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    loops = max(3, int(2e8 / (m * k * n)))
    with threadpool_limits(threads, user_api="blas"):
        for _ in range(3):
            np.matmul(a, b, out=out)
        timings = []
        for _ in range(reps):
            start = time.perf_counter()
            for _ in range(loops):
                np.matmul(a, b, out=out)
            timings.append((time.perf_counter() - start) / loops)
    return float(np.median(timings))


def measure(cores, reps):
    rows = []
    for m, k, n, what in PRODUCTS:
        one = seconds_per_product(m, k, n, 1, reps)
        every = seconds_per_product(m, k, n, cores, reps)
        rows.append((m, k, n, what, one, every))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    quiet = measure(cores, args.reps)
    with CompetingLoad(min(os.sched_getaffinity(0))):
        time.sleep(0.5)
        busy = measure(cores, args.reps)
    print(f"| product (m·k·n) | multiply-adds | quiet: 1 thread | quiet: {cores} threads | "
          f"quiet gain | busy: 1 thread | busy: {cores} threads | busy gain |")
    print("|---|---|---|---|---|---|---|---|")
    for (m, k, n, what, q1, qn), (*_, b1, bn) in zip(quiet, busy):
        print(f"| {what}: {m}×{k}·{k}×{n} | {m * k * n / 1e6:.1f} M | {q1 * 1e6:.0f} µs | "
              f"{qn * 1e6:.0f} µs | {q1 / qn:.2f}× | {b1 * 1e6:.0f} µs | {bn * 1e6:.0f} µs | "
              f"{b1 / bn:.2f}× |")


if __name__ == "__main__":
    main()
