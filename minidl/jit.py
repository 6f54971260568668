"""The one kernel decorator.

``@kernel`` turns a plain Python function over arrays into a Numba-compiled kernel with
minidl's flags (from ``minidl.config``). It is lazy: numba is imported and the function
compiled on the first call, never at ``import minidl``. When the JIT is off
(``MINIDL_JIT=0``, ``NUMBA_DISABLE_JIT=1``) or numba is not installed, the plain Python
function runs instead.

Every kernel keeps its undecorated body as ``kernel.py_func``: the readable reference the
tests compare the compiled version against.

    >>> @kernel
    ... def axpy(a, x, y):
    ...     for i in range(x.size):
    ...         y[i] += a * x[i]
"""

import importlib.util
import os
import sys
import threading

from minidl import config

_warm_up_thread = None


class _LazyKernel:
    """A function compiled by Numba on its first call (see module docstring)."""

    def __init__(self, py_func, fastmath, parallel):
        self.py_func = py_func
        self.fastmath = fastmath
        self.parallel = parallel
        self._compiled = None
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__doc__ = py_func.__doc__
        self.__module__ = py_func.__module__

    def _compile(self):
        if not config.JIT_ENABLED:
            return self.py_func
        wait_for_warm_up()  # the set-up it does would be done here otherwise
        try:
            import numba
        except ImportError:  # numba is a dependency, but the engine must not need it
            return self.py_func
        options = dict(config.JIT_OPTIONS)
        if self.fastmath:
            options["fastmath"] = config.JIT_FASTMATH
        if self.parallel:
            options["parallel"] = True
        return numba.njit(**options)(self.py_func)

    def __call__(self, *args):
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = self._compile()
            if compiled is not self.py_func:
                # Put the compiled function where this wrapper was, in the module that
                # defined it: later calls from there skip this wrapper (~2 µs a call, and a
                # training step makes a dozen). References held elsewhere keep working.
                module = sys.modules.get(self.__module__)
                if module is not None and getattr(module, self.__name__, None) is self:
                    setattr(module, self.__name__, compiled)
        return compiled(*args)

    @property
    def is_compiled(self):
        """True when calls go to Numba-compiled code (after the first call)."""
        return self._compiled is not None and self._compiled is not self.py_func


def kernel(func=None, *, fastmath=False, parallel=False):
    """Declare a Numba kernel with minidl's flags (``cache=True``, ``error_model='numpy'``).

    Args:
        fastmath: allow the NaN-safe fast-math flags from ``config.JIT_FASTMATH``
            (reassociation for vectorised reductions; never ``nnan``/``ninf``).
        parallel: compile with ``parallel=True`` for ``prange`` loops. Off by default: on
            small machines a parallel kernel fights BLAS's threads (see
            docs/ARCHITECTURE.md, "Threads").
    """

    def wrap(f):
        return _LazyKernel(f, fastmath, parallel)

    return wrap(func) if func is not None else wrap


def _set_up_numba():
    """Numba's one-time set-up: import it, then build its typing and lowering tables.

    This is most of the first kernel call of a process, even when every kernel comes from
    the on-disk cache: importing numba takes about 0.2 s and building the tables (they
    import NumPy support modules, and SciPy's BLAS when SciPy is installed) 0.25–0.5 s on
    the 2-core test machine. Each cached kernel then loads in 3–8 ms.
    """
    try:
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target
    except ImportError:  # no numba: the kernels run as plain Python
        return
    with global_compiler_lock:  # what a compilation would hold while doing the same
        cpu_target.target_context.refresh()


def start_warm_up():
    """Do Numba's set-up on a background thread, from ``import minidl`` on.

    Programs import minidl, then load and scale their data, then build and train a model:
    the set-up (about half a second) overlaps the data loading on another core instead of
    stalling the first training step. Nothing is compiled or run: the first kernel call
    waits for the set-up if it is still going (``wait_for_warm_up``), so results never
    depend on timing. Off when the JIT is off, when numba is not installed, or with
    ``MINIDL_JIT_WARMUP=0``.
    """
    global _warm_up_thread
    if (_warm_up_thread is not None or not config.JIT_ENABLED or not config.JIT_WARM_UP
            or importlib.util.find_spec("numba") is None):
        return
    _warm_up_thread = threading.Thread(target=_set_up_numba, name="minidl-numba-set-up",
                                       daemon=True)
    _warm_up_thread.start()


def wait_for_warm_up():
    """Block until the background set-up (if any) has finished."""
    thread = _warm_up_thread
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join()


# A child process forked while the set-up thread holds an import lock would inherit the lock
# and never see it released: finish the set-up first.
os.register_at_fork(before=wait_for_warm_up)


def is_compiled(func):
    """True if calling ``func`` (a kernel, or what replaced it in its module) runs
    Numba-compiled code."""
    if isinstance(func, _LazyKernel):
        return func.is_compiled
    return hasattr(func, "signatures") and hasattr(func, "py_func")  # a Numba dispatcher
