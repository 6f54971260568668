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

import sys

from minidl import config


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


def is_compiled(func):
    """True if calling ``func`` (a kernel, or what replaced it in its module) runs
    Numba-compiled code."""
    if isinstance(func, _LazyKernel):
        return func.is_compiled
    return hasattr(func, "signatures") and hasattr(func, "py_func")  # a Numba dispatcher
