"""Seed 004's PyTorch training loop on minidl.torch and on PyTorch, in one run, 1 thread each.

    python benchmarks/bench_torch_face.py [--threads 1] [--rounds 3] [--epochs 2] [--quick]

The loop is seed 004's, written once (``train`` below) and run with either library as
``torch``: the 784-128-10 ``nn.Module`` (Flatten, Linear, ReLU, Linear),
``nn.CrossEntropyLoss``, ``optim.Adam(model.parameters())``, a ``DataLoader`` of
``TensorDataset(images, labels)`` at batch 64 with ``shuffle=True``, and
``zero_grad(); loss.backward(); step()``. Each measurement is a fresh process whose thread
variables (``OMP_NUM_THREADS`` and friends; ``torch.set_num_threads`` too) say
``--threads``; the two libraries alternate, several rounds, the order swapped every round.
A process trains ``--epochs`` epochs over the 60,000 MNIST images and reports each epoch's
time; the table takes the epochs after the first (Numba compiles and caches warm up in the
first) and prints their median for each library, and the ratio, as a Markdown row, with
the ratio of the processes' CPU time beside it (steadier than wall time on a busy machine).

Note on the data loading: PyTorch's ``DataLoader`` fetches the 64 samples of a batch one
by one and stacks them; minidl's batches a ``TensorDataset`` with one fancy index per
tensor (the same batches). That is part of what the default row measures; ``--per-sample``
makes minidl fetch and collate sample by sample too (a ``collate_fn`` turns the fast path
off), to show the loop without that difference.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")


def train(torch, nn, optim, data, epochs, quick, per_sample=False):
    """Seed 004's loop; returns each epoch's wall-clock and CPU seconds."""
    (x, y) = data
    if quick:
        x, y = x[:6400], y[:6400]
    images = torch.from_numpy(x).float().unsqueeze(1) / 255.0
    labels = torch.from_numpy(y).long()
    extra = {}
    if per_sample:  # any collate_fn: minidl then fetches sample by sample, as PyTorch
        collate = torch.utils.data.default_collate if hasattr(
            torch.utils.data, "default_collate") else None
        extra["collate_fn"] = lambda batch: collate(batch)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, labels),
                                         batch_size=64, shuffle=True, **extra)

    class SimpleModel(nn.Module):
        def __init__(self):
            super(SimpleModel, self).__init__()  # noqa: UP008 - the seed's line
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(28*28, 128)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.flatten(x)
            x = self.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    model = SimpleModel()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters())
    times, cpu = [], []
    for _ in range(epochs):
        start, start_cpu = time.perf_counter(), time.process_time()
        for batch_images, batch_labels in loader:
            optimizer.zero_grad()
            output = model(batch_images)
            loss = criterion(output, batch_labels)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall": times, "cpu": cpu}


def worker(library, threads, epochs, quick, per_sample):
    sys.path.insert(0, str(REPO_ROOT))
    from minidl.datasets import mnist

    (x, y), _ = mnist.load_data()
    if library == "torch":
        import torch
        import torch.utils.data  # noqa: F401 - makes torch.utils.data an attribute

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        import torch.nn as nn
        import torch.optim as optim
    else:
        import minidl.torch as torch
        import minidl.torch.nn as nn
        import minidl.torch.optim as optim

        torch.manual_seed(0)
    print(json.dumps(train(torch, nn, optim, (x, y), epochs, quick, per_sample)))


def measure(library, args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    command = [sys.executable, __file__, "--worker", library, "--threads", str(args.threads),
               "--epochs", str(args.epochs)] + (["--quick"] if args.quick else []) + (
                   ["--per-sample"] if args.per_sample else [])
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="6,400 images, one round")
    parser.add_argument("--per-sample", action="store_true",
                        help="minidl's DataLoader fetches sample by sample, as PyTorch's")
    parser.add_argument("--worker", choices=("minidl", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.epochs, args.quick, args.per_sample)
        return
    rounds = 1 if args.quick else args.rounds
    times = {(lib, kind): [] for lib in ("minidl", "torch") for kind in ("wall", "cpu")}
    for r in range(rounds):
        order = ("minidl", "torch") if r % 2 == 0 else ("torch", "minidl")
        for library in order:
            epochs = measure(library, args)
            for kind in ("wall", "cpu"):
                values = epochs[kind]
                times[library, kind].extend(values[1:] if len(values) > 1 else values)
            print(f"round {r + 1} {library}: " + ", ".join(
                f"{w:.2f}s (cpu {c:.2f}s)" for w, c in zip(epochs["wall"], epochs["cpu"])),
                file=sys.stderr)
    med = {key: statistics.median(values) for key, values in times.items()}
    subset = "6,400 images" if args.quick else "60,000 images"
    subset += ", per-sample loading" if args.per_sample else ""
    print("| workload | threads | minidl.torch s/epoch | PyTorch s/epoch | ratio | ratio of "
          "CPU time |")
    print("|---|---|---|---|---|---|")
    print(f"| seed 004 loop (784-128-10, Adam, batch 64, DataLoader), {subset} | "
          f"{args.threads} | {med['minidl', 'wall']:.2f} | {med['torch', 'wall']:.2f} | "
          f"{med['minidl', 'wall'] / med['torch', 'wall']:.2f}× | "
          f"{med['minidl', 'cpu'] / med['torch', 'cpu']:.2f}× |")

if __name__ == "__main__":
    main()
