"""Learning-rate schedules (``keras.optimizers.schedules``), ``optimizer.learning_rate`` as a
Keras variable, and ``optimizer.iterations``.

Expected values are the formulas of Keras 3's documentation, computed by hand here.
"""

import math

import numpy as np
import pytest

import minidl as keras
from minidl import Tensor
from minidl.optimizers import schedules


@pytest.mark.parametrize("step, expected", [
    (0, 0.1), (5, 0.1 * 0.5**0.5), (10, 0.05), (25, 0.1 * 0.5**2.5),
])
def test_exponential_decay(step, expected):
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert schedule(step) == pytest.approx(expected, rel=1e-12)


def test_exponential_decay_staircase_drops_once_per_period():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [schedule(s) for s in (0, 9, 10, 19, 20)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025])


def test_piecewise_constant_keeps_the_earlier_value_at_a_boundary():
    schedule = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    assert [schedule(s) for s in (0, 100, 101, 110, 111, 10**6)] == [1.0, 1.0, 0.5, 0.5, 0.1,
                                                                     0.1]
    with pytest.raises(ValueError, match="1 less than the length of values"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])


@pytest.mark.parametrize("staircase, step, expected", [
    (False, 0, 0.1), (False, 3, 0.1 / (1 + 0.5 * 3 / 2)), (True, 3, 0.1 / (1 + 0.5 * 1)),
])
def test_inverse_time_decay(staircase, step, expected):
    schedule = schedules.InverseTimeDecay(0.1, decay_steps=2, decay_rate=0.5,
                                          staircase=staircase)
    assert schedule(step) == pytest.approx(expected, rel=1e-12)


def test_polynomial_decay_reaches_the_end_rate_and_stays_or_cycles():
    schedule = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=0.5)
    assert schedule(4) == pytest.approx((0.1 - 0.01) * (1 - 0.4) ** 0.5 + 0.01, rel=1e-12)
    assert schedule(10) == pytest.approx(0.01) and schedule(50) == pytest.approx(0.01)
    cycling = schedules.PolynomialDecay(0.1, 10, end_learning_rate=0.01, cycle=True)
    # Step 15: decay_steps becomes 20 (the first multiple >= 15), p = 0.75.
    assert cycling(15) == pytest.approx(0.09 * 0.25 + 0.01, rel=1e-12)
    assert cycling(0) == pytest.approx(0.1)


def test_cosine_decay_without_and_with_warmup():
    plain = schedules.CosineDecay(0.1, decay_steps=10, alpha=0.1)
    assert plain(5) == pytest.approx(0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi / 2)) + 0.1))
    assert plain(10) == pytest.approx(0.01) and plain(99) == pytest.approx(0.01)
    warm = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=0.2, warmup_steps=4)
    assert warm(0) == 0.0 and warm(2) == pytest.approx(0.1)  # linear rise to 0.2 over 4 steps
    assert warm(4) == pytest.approx(0.2)  # the top: decay starts from warmup_target
    assert warm(9) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert warm(14) == pytest.approx(0.0, abs=1e-15) and warm(100) == pytest.approx(0.0,
                                                                                   abs=1e-15)


def test_cosine_decay_restarts():
    schedule = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert schedule(0) == pytest.approx(1.0)
    assert schedule(5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    # Step 15: the second period (steps 10..30, length 20), a quarter in, peak 0.5.
    assert schedule(15) == pytest.approx(0.5 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert schedule(10) == pytest.approx(0.5)  # a warm restart at the peak m_mul
    constant_period = schedules.CosineDecayRestarts(1.0, 10, t_mul=1.0, alpha=0.2)
    assert constant_period(13) == pytest.approx(0.8 * 0.5 * (1 + math.cos(0.3 * math.pi))
                                                + 0.2)


def test_decay_steps_must_be_positive():
    for cls in (schedules.ExponentialDecay, schedules.InverseTimeDecay):
        with pytest.raises(ValueError, match="`decay_steps` must be > 0"):
            cls(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="`first_decay_steps` must be > 0"):
        schedules.CosineDecayRestarts(0.1, -1)


# ---- schedules in optimizers ----------------------------------------------------------------


def test_update_k_uses_schedule_k_and_the_rate_reads_schedule_n():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = keras.optimizers.SGD(learning_rate=schedule)
    w = Tensor(np.zeros(1))
    for _ in range(3):
        opt.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-(schedule(0) + schedule(1) + schedule(2))],
                               rtol=1e-15)
    assert float(opt.learning_rate) == schedule(3)
    assert int(opt.iterations) == 3 and opt.iterations.numpy().dtype == np.int64


def test_a_scheduled_rate_cannot_be_set_a_float_rate_can():
    opt = keras.optimizers.Adam(learning_rate=schedules.InverseTimeDecay(0.1, 1, 1.0))
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    with pytest.raises(AttributeError):
        opt.learning_rate.assign(0.01)
    assert float(opt.learning_rate) == 0.1  # unchanged

    opt = keras.optimizers.Adam(learning_rate=0.1)
    rate = opt.learning_rate
    rate.assign(0.02)  # a live variable: the optimizer and the reference both change
    assert float(opt.learning_rate) == 0.02 and float(rate) == 0.02
    opt.learning_rate = 0.03
    assert rate == 0.03 and rate.numpy() == np.float32(0.03)
    keras.backend.set_value(opt.learning_rate, 0.5)
    assert keras.backend.get_value(opt.learning_rate) == np.float32(0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        rate.assign(-1.0)  # the constructor's checks
    assert float(rate) == 0.5


def test_iterations_counts_training_steps_across_fits_and_not_evaluate():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    schedule = schedules.PiecewiseConstantDecay([4], [0.05, 0.01])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)  # 4 steps
    assert int(model.optimizer.iterations) == 4 and float(model.optimizer.learning_rate) == 0.05
    model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)  # 2 more
    assert int(model.optimizer.iterations) == 6 and float(model.optimizer.learning_rate) == 0.01


def test_a_schedule_is_saved_with_the_model(tmp_path):
    schedule = schedules.CosineDecay(0.1, decay_steps=50, alpha=0.05, warmup_target=0.2,
                                     warmup_steps=5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="mse")
    x = np.ones((8, 3), dtype="float32")
    model.fit(x, np.ones((8, 1), dtype="float32"), batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.minidl")
    loaded = keras.models.load_model(tmp_path / "m.minidl")
    restored = loaded.optimizer._learning_rate
    assert type(restored) is schedules.CosineDecay
    assert restored.get_config() == schedule.get_config()
    assert float(loaded.optimizer.learning_rate) == schedule(2)
    assert schedules.deserialize(schedules.serialize(schedule)).get_config() == \
        schedule.get_config()


def test_unknown_schedule_names_the_fix():
    with pytest.raises(ValueError, match="custom_objects"):
        schedules.deserialize({"class_name": "MySchedule", "config": {}})

    class MySchedule(schedules.LearningRateSchedule):
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, step):
            return self.rate / (step + 1)

        def get_config(self):
            return {"rate": self.rate}

    opt = keras.optimizers.deserialize(keras.optimizers.serialize(
        keras.optimizers.SGD(MySchedule(1.0))), custom_objects={"MySchedule": MySchedule})
    assert float(opt.learning_rate) == 1.0
