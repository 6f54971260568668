"""Shared test helpers: compare an op with PyTorch, compare floats in ulps, check raised errors.

``check_op`` is in the spirit of tinygrad's ``helper_test_op``: the same seeded inputs go to
minidl and to torch, and the output's shape, dtype and values, then the gradients of
``fn(*xs).sum()`` must agree (the comparison itself is ``minidl.testing.assert_matches_torch``,
which users can call in their own tests).
"""

import re

import numpy as np
import pytest

from minidl.testing import assert_matches_torch


def make_inputs(shapes_or_arrays, dtype="float32", low=-2.0, high=2.0, seed=0):
    """Seeded inputs: a shape becomes a uniform array in [low, high); an array is kept.

    Args:
        shapes_or_arrays: a list of shapes (tuples) and arrays. Float arrays are cast to
            ``dtype``; integer and boolean arrays (labels, indices, masks) are kept as they are.
        dtype: the float dtype of the inputs.
        low, high: the value range, one number for all inputs or a sequence with one entry
            per input (e.g. a positive range for the input of ``log``).
        seed: the seed of the value generator.
    """
    rng = np.random.default_rng(seed)
    count = len(shapes_or_arrays)
    lows = list(low) if np.ndim(low) else [low] * count
    highs = list(high) if np.ndim(high) else [high] * count
    arrays = []
    for item, lo, hi in zip(shapes_or_arrays, lows, highs):
        if isinstance(item, np.ndarray):
            arrays.append(item.astype(dtype) if item.dtype.kind == "f" else item)
        else:
            arrays.append(rng.uniform(lo, hi, size=tuple(item)).astype(dtype))
    return arrays


def check_op(
    minidl_fn, torch_fn, shapes_or_arrays, dtype="float32", *, low=-2.0, high=2.0,
    nondiff=(), seed=0, forward_only=False, rtol=None, atol=None, grad_rtol=None,
    grad_atol=None,
):
    """Run ``minidl_fn`` and ``torch_fn`` on the same seeded inputs and compare them.

    Checks, in order (the failure names the pass and, for gradients, the input index):
    shape, dtype, forward values, gradients of ``fn(*xs).sum()`` w.r.t. each float input,
    then of ``(fn(*xs) · w).sum()`` with fixed random weights ``w``.
    Tolerance: ``|a - e| <= atol·max(1, max|e|) + rtol·|e|``; defaults by dtype
    (float64: rtol 1e-7, atol 1e-9; float32: forward 1e-5/1e-5, gradients 1e-4/1e-5).

    Args:
        minidl_fn, torch_fn: the function in each library.
        shapes_or_arrays: see ``make_inputs``.
        dtype: ``"float32"`` or ``"float64"``.
        low, high: value range(s) for generated inputs.
        nondiff: indices of float inputs that are constants (not differentiated).
        seed: seed of the input values.
        forward_only: skip the gradient check.
        rtol, atol, grad_rtol, grad_atol: override the default tolerances.

    Returns:
        ``(minidl_output, torch_output)`` as NumPy arrays.
    """
    arrays = make_inputs(shapes_or_arrays, dtype, low, high, seed)
    return assert_matches_torch(
        minidl_fn, torch_fn, arrays, rtol=rtol, atol=atol, grad_rtol=grad_rtol,
        grad_atol=grad_atol, nondiff=nondiff, forward_only=forward_only,
    )  # fmt: skip


def ulp_distance(actual, desired):
    """How many floats of their dtype lie between ``actual`` and ``desired``, elementwise.

    Counted on integers ordered like the floats (the IEEE bit pattern, negative floats
    mirrored), so every representable value counts once, subnormals included: 1.0 and the
    next float are 1 apart, as are ``tiny`` and the largest subnormal; ``-0.0`` and ``0.0``
    are 0 apart. Only meaningful for finite values (see ``assert_ulp_close``).

    Returns:
        a ``uint64`` array of the broadcast shape.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    signed = {4: np.int32, 8: np.int64}[actual.dtype.itemsize]

    def ordered(x):
        bits = x.view(signed).astype(np.int64)
        return np.where(bits < 0, np.iinfo(signed).min - bits, bits)

    a, d = ordered(actual), ordered(desired)
    # NOTE: uint64 subtraction wraps modulo 2**64, so hi - lo is exact even where the int64
    # difference of two float64 patterns of opposite sign would overflow.
    hi, lo = np.maximum(a, d).astype(np.uint64), np.minimum(a, d).astype(np.uint64)
    with np.errstate(over="ignore"):  # the wrap is wanted (NumPy warns only for 0-d arrays)
        return hi - lo


def assert_ulp_close(actual, desired, max_ulp=4, *, atol=0.0, err_msg=""):
    """Assert two float arrays agree to within ``max_ulp`` units in the last place.

    For results that two math libraries compute with the same formula (a Numba kernel and
    NumPy, NumPy and PyTorch, two backends): each library's ``exp``, ``log``, ``tanh``,
    ``pow``, ... is accurate to an ulp or two, not bitwise equal to another's. Same shape
    and dtype are required; NaN must meet NaN and an infinity must meet the same infinity.

    Args:
        actual, desired: float arrays (or scalars) of one dtype.
        max_ulp: the largest distance allowed, in floats of the dtype (``ulp_distance``);
            0 asks for equal values (``-0.0`` equals ``0.0``, as in ``assert_array_equal``).
        atol: differences up to ``atol`` pass whatever their ulp count: e.g.
            ``np.finfo(dtype).tiny`` where one library flushes subnormal results to zero.
        err_msg: what is compared, put at the start of the failure message.

    Returns:
        the largest ulp distance found among finite pairs (an ``int``), to report.

    Raises:
        AssertionError: naming how many elements are too far apart and the worst of them,
            with both values and their distance in ulps.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    what = f"{err_msg}: " if err_msg else ""
    assert actual.shape == desired.shape, (
        f"{what}shape {actual.shape} (actual) vs {desired.shape} (desired)")
    assert actual.dtype == desired.dtype and actual.dtype.kind == "f", (
        f"{what}dtype {actual.dtype} (actual) vs {desired.dtype} (desired): need one float dtype")
    finite = np.isfinite(actual) & np.isfinite(desired)
    ulps = np.where(finite, ulp_distance(actual, desired), np.uint64(0))
    with np.errstate(invalid="ignore"):
        ok = np.where(finite, (ulps <= max_ulp) | (np.abs(actual - desired) <= atol),
                      (actual == desired) | (np.isnan(actual) & np.isnan(desired)))
    if not ok.all():
        bad = np.argwhere(~ok) if ok.ndim else np.zeros((1, 0), dtype=int)
        score = np.where(ok | ~finite, 0, ulps) if ok.ndim else ulps
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(score)), ok.shape))
        if ok[worst]:  # no finite pair failed: show the first non-finite mismatch
            worst = tuple(int(i) for i in bad[0])
        distance = f"{int(ulps[worst])} ulp" if finite[worst] else "non-finite mismatch"
        raise AssertionError(
            f"{what}{int((~ok).sum())} of {ok.size} elements are more than {max_ulp} ulp "
            f"apart (atol {atol:g}); worst at {list(worst)}: {actual[worst].item()!r} (actual), "
            f"{desired[worst].item()!r} (desired), {distance}")
    return int(ulps[finite].max()) if finite.any() else 0


def check_raises(exc_type, match, fn, *args, **kwargs):
    """Assert that ``fn(*args, **kwargs)`` raises ``exc_type`` with a message matching ``match``.

    ``match`` is a regular expression searched in the message (``re.search``); plain text
    with brackets or parentheses can be passed through ``re.escape``. Returns the exception.
    """
    with pytest.raises(exc_type) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert re.search(match, message), (
        f"{exc_type.__name__} raised, but its message does not match {match!r}: {message!r}"
    )
    return info.value
