"""The suite's float comparison helpers (``tests/helpers.py``), against ``np.nextafter`` and
bit patterns worked out by hand."""

import numpy as np
import pytest
from helpers import assert_ulp_close, ulp_distance

DTYPES = [np.float32, np.float64]


def steps_from(x, n, towards):
    """The float ``n`` representable steps from ``x`` towards ``towards``."""
    for _ in range(n):
        x = np.nextafter(x, towards)
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("start", [1.0, -1.0, 0.0, 1e-30, 3.5e7, -2.0**-140])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_ulp_distance_counts_representable_steps(dtype, start, n):
    x = np.asarray(start, dtype)
    for towards in (np.inf, -np.inf):
        y = steps_from(x, n, dtype(towards))
        assert int(ulp_distance(x, y)) == n
        assert int(ulp_distance(y, x)) == n  # symmetric


@pytest.mark.parametrize("dtype", DTYPES)
def test_ulp_distance_across_zero_and_the_subnormals(dtype):
    info = np.finfo(dtype)
    zero, neg_zero = np.asarray(0.0, dtype), np.asarray(-0.0, dtype)
    assert int(ulp_distance(zero, neg_zero)) == 0
    # Every subnormal is one step: from 0 to tiny are tiny / smallest_subnormal steps.
    steps = int(info.tiny / info.smallest_subnormal)  # 2**23 (float32), 2**52 (float64)
    assert steps == 2 ** (info.nmant)
    assert int(ulp_distance(zero, np.asarray(info.tiny, dtype))) == steps
    assert int(ulp_distance(np.asarray(-info.tiny, dtype), np.asarray(info.tiny, dtype))) == (
        2 * steps)
    # The whole finite range, -max to max: 2 · (the bit pattern of max), without overflow.
    bits = np.asarray(info.max, dtype).view(f"u{np.dtype(dtype).itemsize}").item()
    assert int(ulp_distance(np.asarray(-info.max, dtype), np.asarray(info.max, dtype))) == (
        2 * bits)


def test_assert_ulp_close_passes_within_the_bound_and_names_the_worst_element():
    desired = np.array([[0.5, 1.0], [2.0, -3.0]], np.float32)
    actual = desired.copy()
    actual[1, 1] = steps_from(actual[1, 1], 3, np.float32(0))
    actual[0, 0] = steps_from(actual[0, 0], 1, np.float32(1))
    assert assert_ulp_close(actual, desired, max_ulp=3) == 3
    with pytest.raises(AssertionError, match=r"softmax: 1 of 4 elements are more than 2 ulp "
                                             r"apart .*worst at \[1, 1\].* 3 ulp"):
        assert_ulp_close(actual, desired, max_ulp=2, err_msg="softmax")
    # The case: two float32 softmax values one ulp apart.
    a, b = np.float32(0.4864356517791748), np.float32(0.4864356815814972)
    assert assert_ulp_close(a, b, max_ulp=1) == 1
    with pytest.raises(AssertionError, match="1 ulp"):
        assert_ulp_close(a, b, max_ulp=0)


def test_assert_ulp_close_atol_and_non_finite_values():
    tiny = np.finfo(np.float32).tiny
    flushed = np.array([tiny / 4, 1.0], np.float32)  # a subnormal a library flushed to 0
    assert_ulp_close(np.array([0.0, 1.0], np.float32), flushed, max_ulp=4, atol=tiny)
    with pytest.raises(AssertionError):
        assert_ulp_close(np.array([0.0, 1.0], np.float32), flushed, max_ulp=4)
    special = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert_ulp_close(special, special.copy(), max_ulp=0)
    for other in ([1.0, np.inf, -np.inf, 1.0], [np.nan, np.finfo(float).max, -np.inf, 1.0],
                  [np.nan, -np.inf, -np.inf, 1.0]):
        with pytest.raises(AssertionError, match="non-finite mismatch"):
            assert_ulp_close(special, np.array(other), max_ulp=1000)


def test_assert_ulp_close_refuses_different_shapes_and_dtypes():
    with pytest.raises(AssertionError, match="shape"):
        assert_ulp_close(np.zeros(3), np.zeros(4))
    with pytest.raises(AssertionError, match="dtype float32 .* float64"):
        assert_ulp_close(np.zeros(3, np.float32), np.zeros(3))
