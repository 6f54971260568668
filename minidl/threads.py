"""How many threads BLAS may use: chosen for the work, unless the user chose.

NumPy's matrix products run on a BLAS library (OpenBLAS in NumPy's wheels) that starts one
thread per core. For a large product that is a gain: a 256×784 by 784×1024 product takes
4.6 ms on one core of the 2-core test machine and 2.2 ms on two. For a small one it is not:
the seeds' MLP at batch 32 multiplies 32×784 by 784×128 (3.2 million multiply-adds), which
takes 68 µs on one thread and 68 µs on two; and when another program keeps one core busy,
the two threads wait for each other at every product, and it takes 127 µs (a whole training
step went from 0.5 ms to between 3.6 and 32 ms). So during ``fit``, ``evaluate`` and
``predict`` minidl measures the largest matrix product of the first step and, if it is
smaller than ``SMALL_PRODUCT`` multiply-adds, runs the rest of the call on one BLAS thread.
A larger product gains from BLAS's threads on an idle machine (up to 2.7× on two cores) but
loses as much on a busy one, so there minidl times a few steps each way and keeps the
faster (see ``StepThreads``). The measurements behind these numbers are in
``benchmarks/RESULTS.md``.

The user's choice always wins:

- any of ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``,
  ``BLIS_NUM_THREADS``, ``VECLIB_MAXIMUM_THREADS`` in the environment: minidl never changes
  the thread count;
- ``minidl.config.set_blas_threads(n)`` (or ``MINIDL_BLAS_THREADS=n``): ``n`` threads in every
  ``fit``/``evaluate``/``predict``; ``"auto"`` (the default) goes back to the rule above;
- ``with minidl.threads.limit(n):`` around any code, for example a PyTorch-style loop of
  ``minidl.torch`` (whose ``torch.set_num_threads(n)`` sets it for the whole process, as in
  PyTorch); ``with minidl.threads.auto():`` applies the rule above to such a loop, deciding
  after its first ``optimizer.step()``.

The thread count can change the last bits of a product (BLAS splits the work differently).
For small products the rule depends on shapes only, so runs repeat bitwise; for large ones
the choice follows the machine's load, and two runs may differ in the last bits: pin the
threads (any of the settings above) for bitwise-repeatable runs of large models.
"""

import contextlib
import os
import time

# Below this many multiply-adds (m·k·n) a matrix product gains nothing from a second thread
# and loses a lot when a core is busy (measured: benchmarks/RESULTS.md, "Threads").
SMALL_PRODUCT = 2**23  # about 8.4 million

# Larger products gain from BLAS's threads on an idle machine and lose as much when another
# program keeps a core busy; which holds is measured: PROBE_STEPS steps with BLAS's count,
# as many on one thread, the faster kept by their sum (what an epoch pays: on a busy core
# most steps of two threads are as fast as one thread's, and a few ten times slower), and
# measured again after RECHECK_S seconds. Steps just after a change of count are not timed:
# the first pays for the change, and after dropping to one thread, BLAS's idle threads spin
# for a while on the other core, so the scheduler leaves the main thread on the busy one
# until they sleep (one thread then measured 1.5-2x slower than in a process that never had
# two); SETTLE_S covers that.
PROBE_STEPS = 4
SETTLE_S = 0.25
RECHECK_S = 30.0
# A loop of fewer steps than this (a ``predict`` of ten batches) is too short to measure: it
# keeps BLAS's count for large products, unless a longer loop measured them just before.
MIN_PROBE_STEPS = 30
_measured = {}  # largest product -> (thread count chosen, None for BLAS's own; when)

USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                         "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

# The largest product (m·k·n) computed since the last ``reset_largest_product()``. The ops
# that call BLAS (Dense, matmul, convolution) report each product's size here.
largest_product = 0


def note_product(m, k, n):
    """Record an (m, k) by (k, n) matrix product (called by the ops before BLAS runs it)."""
    global largest_product
    work = m * k * n
    if work > largest_product:
        largest_product = work


def reset_largest_product():
    global largest_product
    largest_product = 0


def user_setting():
    """The thread count the user chose, or None when minidl may choose.

    An environment variable of the BLAS/OpenMP family means the user chose (returns the
    string ``"environment"``: minidl then leaves BLAS alone); otherwise
    ``config.blas_threads()`` decides (an int, or None for ``"auto"``).
    """
    from minidl import config

    if any(os.environ.get(name) for name in USER_THREAD_VARIABLES):
        return "environment"
    if _process_threads is not None:
        return "environment"  # set_num_threads() said so for the whole process
    setting = config.blas_threads()
    return None if setting == "auto" else setting


_controller = None
_process_threads = None  # set by set_process_threads (``minidl.torch.set_num_threads``)


def _blas():
    """threadpoolctl's handle on the BLAS libraries loaded in this process (made once)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def current():
    """The number of threads BLAS uses now (the largest over its loaded libraries)."""
    counts = [lib["num_threads"] for lib in _blas().info()]
    return max(counts) if counts else 1


@contextlib.contextmanager
def limit(n):
    """Run the block with BLAS limited to ``n`` threads; the previous count comes back after.

    >>> with limit(1):
    ...     current()
    1

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads.limit: the thread count must be a positive integer, got "
                         f"{n!r}")
    with _blas().limit(limits=n):
        yield


class StepThreads:
    """The thread rule for one loop of similar steps (one ``fit``, ``evaluate``, ``predict``).

    Use as a context manager around the loop, and call ``step_done()`` after each step::

        with StepThreads() as threads:
            for batch in batches:
                step(batch)
                threads.step_done()

    The first step runs with the thread count as it was. After it: one thread if its largest
    matrix product is small; otherwise the next steps run with BLAS's own count and then on
    one thread (``PROBE_STEPS`` of each timed), and the faster is kept (and measured again
    every ``RECHECK_S`` seconds, since the load may change). On leaving, the previous count
    comes back.
    """

    def __init__(self, steps=None):
        """``steps``: how many steps the loop will run, when known (None: unknown)."""
        self._short = steps is not None and steps < MIN_PROBE_STEPS
        self._fixed = user_setting()  # the user's choice (a count or "environment"), or None
        self._limiter = None
        self._work = None  # the first step's largest product, once known
        self._settled = self._fixed is not None  # nothing more to decide in this loop
        self._probe = None  # step times while measuring: BLAS's count first, then one
        self._last = self._since = 0.0  # the end of the last step; when the choice was made
        self._settling, self._switched, self._settle_s = False, 0.0, 0.0  # see _settle

    def __enter__(self):
        if isinstance(self._fixed, int):
            self._use(self._fixed)
        reset_largest_product()
        return self

    def step_done(self):
        """After each step: decide, measure or (most of the time) nothing."""
        if self._settled:
            return
        now = time.perf_counter()
        if self._work is None:  # after the first step
            self._work = largest_product
            if self._work < SMALL_PRODUCT:
                self._use(1)
                self._settled = True
                return
            known = _measured.get(self._work)
            if known is not None and now - known[1] < RECHECK_S:
                self._use(known[0])  # a loop with these products measured it just now
                self._since = now
            elif self._short:
                self._settled = True  # too short to measure: BLAS's own count
            else:
                self._start_probe(now)
            return
        if self._probe is not None:
            duration = now - self._last
            self._last = now
            if self._settling:  # this step paid for the change of count: not timed
                self._settling = now - self._switched < self._settle_s
                return
            self._probe.append(duration)
            if len(self._probe) == PROBE_STEPS:  # BLAS's count timed; now one thread
                self._use(1)
                self._settle(now, SETTLE_S)
            elif len(self._probe) == 2 * PROBE_STEPS:
                own, one = sum(self._probe[:PROBE_STEPS]), sum(self._probe[PROBE_STEPS:])
                choice = 1 if one < own else None
                _measured[self._work] = (choice, now)
                self._use(choice)
                self._probe = None
                self._since = now
        elif now - self._since > RECHECK_S:
            self._start_probe(now)

    def _start_probe(self, now):
        self._use(None)
        self._probe = []
        self._last = now
        self._settle(now, 0.0)

    def _settle(self, now, seconds):
        """Leave the next step (and those within ``seconds``) untimed, after a change."""
        self._switched, self._settle_s, self._settling = now, seconds, True

    def _use(self, n):
        """``n`` BLAS threads from now on; None: the count BLAS had before this loop."""
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None
        if n is not None:
            self._limiter = _blas().limit(limits=n)

    def __exit__(self, *exc):
        self._use(None)
        return False


_active_loops = []  # the ``auto()`` blocks now open (innermost last)


@contextlib.contextmanager
def auto():
    """Apply the thread rule to a hand-written training loop (``minidl.torch`` style).

    Inside the block, the first ``optimizer.step()`` of a ``minidl.torch.optim`` optimizer
    decides (the same rule as ``fit``); the previous thread count comes back on leaving::

        with minidl.threads.auto():
            for x, y in loader:
                optimizer.zero_grad()
                loss_fn(model(x), y).backward()
                optimizer.step()
    """
    with StepThreads() as loop:
        _active_loops.append(loop)
        try:
            yield loop
        finally:
            _active_loops.remove(loop)


def optimizer_stepped():
    """Called by ``minidl.torch.optim`` after each step: tells an open ``auto()`` block."""
    if _active_loops:
        _active_loops[-1].step_done()


def set_process_threads(n):
    """Set BLAS to ``n`` threads for the rest of the process (``torch.set_num_threads``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: the thread count must be a positive integer, got "
                         f"{n!r}")
    global _process_threads
    _blas().limit(limits=n)  # not restored: a process-wide setting, as PyTorch's
    _process_threads = n


__all__ = ["SMALL_PRODUCT", "limit", "auto", "current", "StepThreads", "note_product",
           "user_setting"]
