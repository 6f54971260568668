"""Finding the op that made the first NaN or Inf: ``detect_anomaly()``.

When a loss turns into NaN, the NaN was born somewhere earlier: a ``log`` of a negative
number, an ``exp`` that overflowed, a ``0/0`` in a backward pass. Inside
``detect_anomaly()`` every op checks what it produced, forward and backward, and the first
one that produced a non-finite value is reported with:

- the op (``Log``) and the pass (forward or backward),
- the line of *your* code that created it (the first frame outside the minidl package),
- the shape, dtype and range (min, max) of each of its inputs, and how many of them were
  already non-finite (then the NaN came in from outside the graph: the data, or weights
  spoiled by an earlier step).

    >>> with minidl.debug.detect_anomaly():   # doctest: +SKIP
    ...     model.fit(x, y)                     # raises NonFiniteError naming the op

It is slow (every op scans its output, and op creation records a line number), so it is
opt-in and never on by default. The checks run after each op, outside any Numba kernel:
no kernel ever tests for NaN, so fast-math kernels stay fast and NaNs stay visible.

``TerminateOnNaN(detect_anomaly=True)`` runs a ``fit`` in this mode without raising: it
records the first anomaly, and reports it when the loss becomes non-finite.
"""

import os
import sys

import numpy as np

from minidl import tensor as _tensor
from minidl.array_backend import backend_of
from minidl.errors import NonFiniteError

# Frames from files under this folder are minidl's own; the first frame outside is the
# user's line that created the op.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def current_detector():
    """The active ``detect_anomaly`` (or ``None`` when anomaly mode is off)."""
    return _tensor._anomaly


def set_detector(detector):
    """Make ``detector`` (a ``detect_anomaly`` or ``None``) the active one."""
    _tensor._anomaly = detector


def is_anomaly_enabled():
    """True inside ``detect_anomaly()``."""
    return _tensor._anomaly is not None


class Anomaly:
    """The first non-finite value found: which op, which pass, where it was created.

    Attributes:
        op: the op's class name (``"Log"``).
        phase: ``"forward"`` or ``"backward"``.
        site: ``(filename, line, function)`` of the user code that created the op, or None.
        inputs: one ``(shape, dtype, min, max, non_finite_count)`` per array input.
        output: ``(nan_count, inf_count, shape)`` of the offending result.
    """

    def __init__(self, op, phase, site, inputs, output, which=None):
        self.op, self.phase, self.site = op, phase, site
        self.inputs, self.output, self.which = inputs, output, which

    def __str__(self):
        nan, inf, shape = self.output
        what = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "Inf")) if n)
        result = "output" if self.phase == "forward" else f"gradient for input {self.which}"
        lines = [f"{self.op} ({self.phase}) produced {what} in its {result} of shape {shape}"]
        if self.site is not None:
            filename, line, function = self.site
            lines[0] += f"; the op was created at {filename}:{line} in {function}()"
        for i, (in_shape, dtype, lo, hi, bad) in enumerate(self.inputs):
            text = f"  input {i}: shape {in_shape}, {dtype}, range [{lo:.6g}, {hi:.6g}]"
            if bad:
                text += (f", {bad} non-finite value(s) already (they came from outside the "
                         "graph: the data, or weights spoiled by an earlier step)")
            lines.append(text)
        return "\n".join(lines)


class detect_anomaly:
    """Context manager: report the first op whose forward or backward made a NaN/Inf.

    Args:
        raise_error: raise ``NonFiniteError`` at once, naming the op (default). With
            ``False`` only the first anomaly is recorded (in ``.anomaly``) and the
            computation goes on.

    Raises:
        NonFiniteError: (inside the block, with ``raise_error=True``) with the op, the
            pass, the line of user code that created the op and its inputs' ranges; the
            ``Anomaly`` is on the error's ``.anomaly``.

    >>> x = Tensor([-1.0, 2.0], requires_grad=True)
    >>> with detect_anomaly():  # doctest: +ELLIPSIS, +IGNORE_EXCEPTION_DETAIL
    ...     y = x.log()
    Traceback (most recent call last):
    NonFiniteError: Log (forward) produced 1 NaN in its output of shape (2,)...
    """

    def __init__(self, raise_error=True):
        self.raise_error = raise_error
        self.anomaly = None
        self._previous = None

    def __enter__(self):
        self._previous = _tensor._anomaly
        _tensor._anomaly = self
        return self

    def __exit__(self, *exc_info):
        _tensor._anomaly = self._previous
        return False

    # ---- called by Op.apply and Tensor.backward (tensor.py) while this mode is on ------
    def forward(self, op, inputs, out):
        """Check an op's output; remember where the op was created (for its backward)."""
        op._anomaly_site = _user_site()
        counts = _non_finite(out)
        if counts is not None:
            self._found(Anomaly(type(op).__name__, "forward", op._anomaly_site,
                                [_describe(t.data) for t in inputs], (*counts, out.shape)))

    def backward(self, op, grads):
        """Check the gradients an op's backward returned for its inputs."""
        for i, g in enumerate(grads):
            counts = None if g is None else _non_finite(g)
            if counts is not None:
                inputs = [_describe(t.data) for t in (op.inputs or ())]
                self._found(Anomaly(type(op).__name__, "backward",
                                    getattr(op, "_anomaly_site", None), inputs,
                                    (*counts, g.shape), which=i))
                return

    def _found(self, anomaly):
        if self.anomaly is not None:  # only the first one is the origin
            return
        self.anomaly = anomaly
        if self.raise_error:
            error = NonFiniteError(f"{anomaly}")
            error.anomaly = anomaly
            raise error


def _non_finite(array):
    """``(nan_count, inf_count)`` of a float array with a non-finite value, else None."""
    if getattr(array, "dtype", None) is None or array.dtype.kind not in "fc":
        return None
    xp = backend_of(array).xp
    if bool(xp.isfinite(array).all()):
        return None
    nan = int(xp.isnan(array).sum())
    return nan, int(array.size - nan - int(xp.isfinite(array).sum()))


def _describe(array):
    """``(shape, dtype, min, max, non_finite_count)`` of an input (on the host)."""
    a = np.asarray(backend_of(array).to_numpy(array)) if hasattr(array, "dtype") else (
        np.asarray(array))
    shape = tuple(a.shape)
    if a.size == 0 or a.dtype.kind not in "biuf":
        return shape, a.dtype, float("nan"), float("nan"), 0
    finite = np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, dtype=bool)
    bad = int(a.size - finite.sum())
    values = a[finite] if bad else a
    if values.size == 0:
        return shape, a.dtype, float("nan"), float("nan"), bad
    return shape, a.dtype, float(values.min()), float(values.max()), bad


def _user_site():
    """``(filename, line, function)`` of the innermost frame outside minidl, or None."""
    frame = sys._getframe(2)  # skip _user_site and detect_anomaly.forward
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


__all__ = ["detect_anomaly", "Anomaly", "is_anomaly_enabled"]
