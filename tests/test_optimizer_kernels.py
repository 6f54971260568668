"""The fused optimizer kernels against their xp twins, and the denormal flush.

Each update rule in ``minidl/optimizers.py`` exists twice: a Numba loop (``_adam_kernel``) and
a whole-array NumPy/CuPy twin (``_adam_reference``). They perform the same IEEE operations in
the same order (no fast-math), so their results must be *bitwise* equal, NaN and Inf included:
their only function is ``sqrt``, which IEEE 754 rounds correctly in every library (unlike
exp/log/pow, which no test here may compare bitwise across libraries).
The twin is the readable one; ``tests/test_optimizers.py`` checks it against Keras's formulas
and PyTorch.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl import Tensor, config
from minidl import optimizers as opt
from minidl.jit import is_compiled

DTYPES = [np.float32, np.float64]
SIZES = [0, 1, 7, 33, 1000]  # empty, scalar-like, and sizes that leave vector-loop remainders


def assert_bitwise_equal(actual, expected, what):
    """Equal bit patterns; NaNs need only sit at the same places (payloads may differ)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), f"{what}: NaN at different places"
    uint = np.uint32 if actual.dtype == np.float32 else np.uint64
    same = actual.view(uint) == expected.view(uint)
    bad = ~same & ~nan_a
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} elements differ, first at {np.flatnonzero(bad)[0]}: "
        f"{actual[bad][0]!r} vs {expected[bad][0]!r}"
    )


def make_arrays(size, dtype, seed, special=True):
    """var, grad and three non-negative-or-signed moment arrays with awkward values mixed in:
    NaN/Inf gradients, zeros, and moments just above and below the flush threshold."""
    rng = np.random.default_rng(seed)
    var = rng.normal(size=size).astype(dtype)
    grad = (rng.normal(size=size) * 10.0 ** rng.integers(-8, 2, size=size)).astype(dtype)
    signed = (rng.normal(size=size) * 1e-2).astype(dtype)
    positive = (rng.random(size=size) * 1e-3).astype(dtype)
    positive2 = (rng.random(size=size) * 1e-3).astype(dtype)
    if special and size >= 7:
        tiny = opt._flush_threshold(dtype)
        grad[0], grad[1], grad[2], grad[3] = np.nan, np.inf, -np.inf, 0.0
        signed[4], positive[4] = tiny * 1.05, tiny * 1.05  # decays below the threshold
        signed[5], positive[5] = -tiny * 1e3, tiny * 1e3
        grad[4] = grad[5] = 0.0
        positive2[6] = 0.0
    return var, grad, signed, positive, positive2


def cases(dtype):
    """(name, kernel, reference, build(arrays) -> array args, scalars) for every rule and
    configuration; scalars are in ``dtype`` as the optimizer passes them."""
    f = np.dtype(dtype).type
    tiny = f(opt._flush_threshold(dtype))
    empty = np.empty(0, dtype)
    out = []
    for decay in (0.0, 0.01):
        for use_momentum in (False, True):
            for nesterov in (False, True):
                out.append((
                    f"sgd momentum={use_momentum} nesterov={nesterov} decay={decay}",
                    opt._sgd_kernel, opt._sgd_reference,
                    (lambda u: (lambda v, g, s, p, q: (v, g, s if u else empty)))(use_momentum),
                    (f(decay), f(0.05), f(0.9), tiny, use_momentum, nesterov),
                ))
        for amsgrad in (False, True):
            out.append((
                f"adam amsgrad={amsgrad} decay={decay}",
                opt._adam_kernel, opt._adam_reference,
                (lambda a: (lambda v, g, s, p, q: (v, g, s, p, q if a else empty)))(amsgrad),
                (f(decay), f(1e-3 * np.sqrt(1 - 0.999**3) / (1 - 0.9**3)), f(0.1), f(0.001),
                 f(1e-7), tiny, amsgrad),
            ))
        for centered in (False, True):
            for use_momentum in (False, True):
                out.append((
                    f"rmsprop centered={centered} momentum={use_momentum} decay={decay}",
                    opt._rmsprop_kernel, opt._rmsprop_reference,
                    (lambda c, u: (lambda v, g, s, p, q: (
                        v, g, p, s if u else empty, s.copy() * 0.1 if c else empty)))(
                        centered, use_momentum),
                    (f(decay), f(1e-3), f(0.9), f(0.1), f(0.5), f(1e-7), tiny, centered,
                     use_momentum),
                ))
        out.append((
            f"adagrad decay={decay}", opt._adagrad_kernel, opt._adagrad_reference,
            lambda v, g, s, p, q: (v, g, p + 0.1),
            (f(decay), f(1e-2), f(1e-7)),
        ))
    return out


def _check_case(kernel, reference, build, scalars, size, dtype, seed, what):
    arrays = build(*make_arrays(size, dtype, seed))
    a = [x.copy() for x in arrays]
    b = [x.copy() for x in arrays]
    with np.errstate(all="ignore"):  # the NaN/Inf inputs are deliberate
        kernel(*a, *scalars)
        reference(*b, *scalars)
    names = ["var", "grad", "slot1", "slot2", "slot3"]
    for name, x, y in zip(names, a, b):
        assert_bitwise_equal(x, y, f"{what}, size {size}, {name}")
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("size", SIZES)
def test_kernel_matches_numpy_twin_bitwise(dtype, size):
    for what, kernel, reference, build, scalars in cases(dtype):
        _check_case(kernel, reference, build, scalars, size, dtype, seed=size, what=what)
        if config.JIT_ENABLED:
            assert is_compiled(kernel), f"{what}: the compiled kernel did not run"


@given(size=st.integers(0, 300), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(DTYPES))
def test_kernel_matches_twin_on_random_inputs(size, seed, dtype):
    for what, kernel, reference, build, scalars in cases(dtype):
        _check_case(kernel, reference, build, scalars, size, dtype, seed, what)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_python_loop_body_matches_twin(dtype):
    """The kernels' undecorated bodies (``.py_func``, what runs with NUMBA_DISABLE_JIT=1)
    agree with the twins too: the loop is a second, readable statement of the rule."""
    for what, kernel, reference, build, scalars in cases(dtype):
        _check_case(kernel.py_func, reference, build, scalars, 9, dtype, 3, what + " py_func")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_nonfinite_gradients_propagate_only_where_they_are(dtype):
    for what, kernel, reference, build, scalars in cases(dtype):
        var = _check_case(kernel, reference, build, scalars, 33, dtype, 5, what)[0]
        # grad[0..2] = NaN, +Inf, -Inf: those weights become non-finite (NaN or Inf) ...
        assert not np.isfinite(var[:3]).any(), what
        # ... and no other weight does.
        assert np.isfinite(var[3:]).all(), what


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_flush_sets_small_moments_to_exact_zero(dtype):
    """Moments that fall below the threshold are 0 afterwards, larger ones are kept."""
    for what, kernel, _, build, scalars in cases(dtype):
        if "adagrad" in what:
            continue  # the accumulator only grows: nothing to flush
        arrays = build(*make_arrays(33, dtype, 7))
        with np.errstate(all="ignore"):  # the NaN/Inf gradients are deliberate
            kernel(*arrays, *scalars)
        for slot in arrays[2:]:
            if slot.size:
                assert not _subnormal(slot).any(), what
        if "sgd momentum=True" in what or "adam" in what:
            assert arrays[2][4] == 0, what  # m was 1.05·tiny with g = 0: decayed below tiny
            assert arrays[2][5] != 0, what  # m was -1000·tiny: kept


def _subnormal(a):
    tiny = np.finfo(a.dtype).tiny
    return (a != 0) & (np.abs(a) < tiny)


# ----------------------------------------------------------------------------------------
# The flush through the optimizer (docs/ERRORS.md: Adam after many zero gradients, then a tiny one)
# ----------------------------------------------------------------------------------------


def _adam_reference_without_flush(m, v, g, beta_1, beta_2):
    m += (g - m) * m.dtype.type(1 - beta_1)
    v += (g * g - v) * v.dtype.type(1 - beta_2)


@pytest.mark.parametrize("jit", [True, False], ids=["kernel", "numpy-twin"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_adam_after_many_zero_gradients_then_a_tiny_one(jit, dtype, monkeypatch):
    monkeypatch.setattr(config, "JIT_ENABLED", jit and config.JIT_ENABLED)
    beta_2 = 0.9  # fast decay keeps the test short; β₂ = 0.999 only takes longer
    w = Tensor(np.full(5, 0.5, dtype=dtype))
    adam = opt.Adam(learning_rate=1e-3, beta_2=beta_2)
    adam.apply_gradients([(np.array([1e-2, -1e-2, 3.0, 1e-8, 0.0], dtype), w)])
    # Shadow moments without the flush, to show the test would catch subnormals.
    m = adam.get_state()["slots"]["momentum"][0].copy()
    v = adam.get_state()["slots"]["velocity"][0].copy()
    zeros = np.zeros(5, dtype)
    shadow_went_subnormal = False
    # Enough steps for 0.9^t to carry the unflushed moments through the subnormal range.
    steps = 1000 if dtype == np.float32 else 7200
    for _ in range(steps):
        adam.apply_gradients([(zeros, w)])
        _adam_reference_without_flush(m, v, zeros, 0.9, beta_2)
        shadow_went_subnormal |= bool(_subnormal(m).any() or _subnormal(v).any())
        state = adam.get_state()["slots"]
        assert not _subnormal(state["momentum"][0]).any()
        assert not _subnormal(state["velocity"][0]).any()
    assert shadow_went_subnormal, "the unflushed moments never became subnormal"
    state = adam.get_state()["slots"]
    assert (state["momentum"][0] == 0).all() and (state["velocity"][0] == 0).all()
    before = w.data.copy()
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        adam.apply_gradients([(np.full(5, np.finfo(dtype).tiny * 1e10, dtype), w)])
        adam.apply_gradients([(np.full(5, 1e-20, dtype), w)])
    assert np.isfinite(w.data).all()
    assert np.abs(w.data - before).max() < 1e-2  # tiny gradients make tiny steps


@pytest.mark.parametrize("name, kwargs", [
    ("sgd", {"momentum": 0.9}), ("rmsprop", {"centered": True, "momentum": 0.5}),
])
def test_other_decaying_buffers_never_hold_subnormals(name, kwargs):
    w = Tensor(np.full(4, 0.5, dtype=np.float32))
    o = opt.get({"class_name": name, "config": {"learning_rate": 1e-2, **kwargs}})
    o.apply_gradients([(np.array([1.0, -1.0, 1e-3, 0.0], np.float32), w)])
    for _ in range(900):  # 0.9^900 ≈ 1e-41: below float32's normal range without a flush
        o.apply_gradients([(np.zeros(4, np.float32), w)])
        for arrays in o.get_state()["slots"].values():
            assert not _subnormal(arrays[0]).any()
    assert np.isfinite(w.data).all()


# ----------------------------------------------------------------------------------------
# The optimizer's dispatch: kernel path and twin path give the same weights
# ----------------------------------------------------------------------------------------

OPTIMIZERS = [
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("RMSprop", {"centered": True, "momentum": 0.3}),
    ("Adagrad", {"weight_decay": 0.1}),
]


def _train(name, kwargs, dtype, seed=0, steps=5):
    rng = np.random.default_rng(seed)
    ws = [Tensor(rng.normal(size=s).astype(dtype)) for s in [(5, 3), (3,), (1,)]]
    o = getattr(opt, name)(learning_rate=0.01, **kwargs)
    for _ in range(steps):
        o.apply_gradients([(rng.normal(size=w.shape).astype(dtype), w) for w in ws])
    return [w.data for w in ws], o.get_state()


@pytest.mark.skipif(not config.JIT_ENABLED, reason="needs the JIT to compare against")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_optimizer_gives_bitwise_equal_results_with_and_without_jit(name, kwargs, dtype,
                                                                    monkeypatch):
    fused, fused_state = _train(name, kwargs, dtype)
    monkeypatch.setattr(config, "JIT_ENABLED", False)
    plain, plain_state = _train(name, kwargs, dtype)
    for a, b in zip(fused, plain):
        assert_bitwise_equal(a, b, name)
    for slot in fused_state["slots"]:
        for a, b in zip(fused_state["slots"][slot], plain_state["slots"][slot]):
            assert_bitwise_equal(a, b, f"{name} {slot}")
