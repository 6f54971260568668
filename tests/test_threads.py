"""BLAS threads chosen for the work (minidl/threads.py): one thread when a step's largest
matrix product is small, BLAS's own count otherwise, the user's setting always winning, and
the previous count back after every call."""

import numpy as np
import pytest

import minidl
from minidl import config, threads
from minidl.callbacks import Callback


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    """Each test starts with BLAS at 2 threads (so a limit to 1 is visible on any machine),
    no thread variable in the environment, and the 'auto' setting."""
    for name in threads.USER_THREAD_VARIABLES + ("MINIDL_BLAS_THREADS",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_process_threads", None)
    previous = config.blas_threads()
    with threads.limit(2):
        yield
    config.set_blas_threads(previous)


class ThreadsSeen(Callback):
    """The BLAS thread count at the end of each training/test/predict batch."""

    def __init__(self):
        super().__init__()
        self.train, self.test, self.predict = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(threads.current())

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(threads.current())

    def on_predict_batch_end(self, batch, logs=None):
        self.predict.append(threads.current())


def mlp(inputs, hidden):
    minidl.utils.set_random_seed(0)
    model = minidl.Sequential([minidl.layers.Dense(hidden, activation="relu",
                                                   input_shape=(inputs,)),
                               minidl.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n, features):
    rng = np.random.default_rng(0)
    return rng.random((n, features), dtype=np.float32), rng.integers(0, 3, n)


def test_the_ops_report_their_largest_matrix_product():
    threads.reset_largest_product()
    x = minidl.Tensor(np.ones((32, 784), np.float32))
    w = minidl.Tensor(np.ones((784, 128), np.float32))
    minidl.ops.fused.dense(x, w, None, "relu")
    assert threads.largest_product == 32 * 784 * 128
    minidl.ops.matmul(minidl.Tensor(np.ones((5, 64, 100), np.float32)),
                      minidl.Tensor(np.ones((100, 70), np.float32)))
    assert threads.largest_product == 32 * 784 * 128  # 64·100·70 per product is smaller
    threads.reset_largest_product()
    conv = minidl.layers.Conv2D(64, 3)
    conv(minidl.Tensor(np.ones((2, 12, 12, 32), np.float32)))
    # im2col: (2·10·10 windows) x (3·3·32) by (3·3·32) x 64
    assert threads.largest_product == 200 * 288 * 64


def test_a_small_model_trains_on_one_thread_and_gets_its_threads_back():
    model, seen = mlp(20, 16), ThreadsSeen()
    x, y = data(64, 20)
    model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[seen])
    # the first step runs as BLAS was set; the rule decides after it
    assert seen.train[1:] == [1] * (len(seen.train) - 1)
    assert seen.test and set(seen.test) == {1}
    model.predict(x, batch_size=16, verbose=0, callbacks=[seen])
    assert seen.predict[1:] == [1] * (len(seen.predict) - 1)
    assert threads.current() == 2


class ScriptedClock:
    """``time.perf_counter`` for the thread rule: each step lasts the next given duration."""

    def __init__(self, durations):
        self.durations = list(durations)
        self.now = 0.0

    def __call__(self):
        self.now += self.durations.pop(0) if self.durations else 0.001
        return self.now


def large_loop(monkeypatch, durations, steps=8):
    """A loop whose first step multiplies 256x784 by 784x1024 (205 million multiply-adds,
    above SMALL_PRODUCT); returns the BLAS thread count after each step."""
    assert 256 * 784 * 1024 > threads.SMALL_PRODUCT
    monkeypatch.setattr(threads.time, "perf_counter", ScriptedClock(durations))
    monkeypatch.setattr(threads, "_measured", {})
    seen = []
    with threads.StepThreads() as loop:
        for _ in range(steps):
            threads.note_product(256, 784, 1024)
            loop.step_done()
            seen.append(threads.current())
    return seen


# After the first step: 5 steps with BLAS's 2 threads (the first, paying for the change, not
# timed), then 5 on one thread (the first not timed either: it lasts past SETTLE_S here),
# then the faster.
PROBE = [2] * 5 + [1] * 5


def test_a_large_product_keeps_blas_threads_when_they_are_faster(monkeypatch):
    # two threads 1 ms a step (9 ms for the untimed first), one thread 2 ms a step
    seen = large_loop(monkeypatch, [0.0] + [0.009, 0.001, 0.001, 0.001, 0.001]
                      + [0.300, 0.002, 0.002, 0.002, 0.002], steps=14)
    assert seen == [2] + PROBE[1:] + [2] * 4  # seen after each step
    assert threads.current() == 2


def test_a_large_product_goes_to_one_thread_when_a_busy_core_slows_two(monkeypatch):
    # two threads: most steps as fast as one thread's, one 10x slower (the busy program held
    # the core a thread waited for): the sum decides, as an epoch pays it
    seen = large_loop(monkeypatch, [0.0] + [0.030, 0.001, 0.012, 0.001, 0.001]
                      + [0.300, 0.002, 0.002, 0.002, 0.002], steps=14)
    assert seen == [2] + PROBE[1:] + [1] * 4
    assert threads.current() == 2  # restored after the loop


def test_steps_within_settle_s_of_dropping_to_one_thread_are_not_timed(monkeypatch):
    # two threads 3 ms a step; then one thread: 40 ms, 60 ms (the main thread still on the
    # busy core: within SETTLE_S, not timed), then 2 ms steps: one thread is chosen
    seen = large_loop(monkeypatch, [0.0] + [0.009, 0.003, 0.003, 0.003, 0.003]
                      + [0.040, 0.060, 0.200, 0.002, 0.002, 0.002, 0.002], steps=16)
    assert seen == [2] + [2] * 4 + [1] * 7 + [1] * 4


def test_a_loop_too_short_to_measure_keeps_blas_threads(monkeypatch):
    monkeypatch.setattr(threads, "_measured", {})
    seen = []
    with threads.StepThreads(steps=threads.MIN_PROBE_STEPS - 1) as loop:
        for _ in range(threads.MIN_PROBE_STEPS - 1):
            threads.note_product(256, 784, 1024)
            loop.step_done()
            seen.append(threads.current())
    assert seen == [2] * (threads.MIN_PROBE_STEPS - 1)
    # a large predict (10 batches of 1024 x 784 by 784 x 128) keeps BLAS's two threads
    model, cb = mlp(784, 128), ThreadsSeen()
    model.predict(data(10 * 1024, 784)[0], batch_size=1024, verbose=0, callbacks=[cb])
    assert cb.predict == [2] * 10


def test_the_measured_choice_is_reused_then_measured_again(monkeypatch):
    large_loop(monkeypatch, [0.0] + [0.030, 0.001, 0.012, 0.001, 0.001]
               + [0.300, 0.002, 0.002, 0.002, 0.002], steps=14)
    # a second loop just after: the choice (one thread) is reused from its first step on
    clock = ScriptedClock([0.001] * 10)
    monkeypatch.setattr(threads.time, "perf_counter", clock)
    with threads.StepThreads() as loop:
        threads.note_product(256, 784, 1024)
        loop.step_done()
        assert threads.current() == 1
        clock.now += threads.RECHECK_S + 1  # much later: measured again (own count first)
        loop.step_done()
        assert threads.current() == 2


def test_a_large_model_fits_with_the_thread_rule(monkeypatch):
    monkeypatch.setattr(threads, "_measured", {})
    model, seen = mlp(784, 1024), ThreadsSeen()
    x, y = data(256 * threads.MIN_PROBE_STEPS, 784)
    model.fit(x, y, batch_size=256, epochs=1, verbose=0, callbacks=[seen])
    # (seen after each step) the first step and the probe, then the faster
    assert seen.train[:10] == [2] + PROBE[1:] and seen.train[10] in (1, 2)
    assert threads.current() == 2


@pytest.mark.parametrize("variable", threads.USER_THREAD_VARIABLES)
def test_a_thread_variable_in_the_environment_wins(monkeypatch, variable):
    monkeypatch.setenv(variable, "2")
    model, seen = mlp(20, 16), ThreadsSeen()
    model.fit(*data(64, 20), batch_size=16, epochs=1, verbose=0, callbacks=[seen])
    assert seen.train == [2] * 4


def test_set_blas_threads_fixes_the_count_from_the_first_step():
    config.set_blas_threads(1)
    model, seen = mlp(784, 1024), ThreadsSeen()  # a large product: 'auto' would keep 2
    model.fit(*data(512, 784), batch_size=256, epochs=1, verbose=0, callbacks=[seen])
    assert seen.train == [1, 1]
    assert threads.current() == 2
    config.set_blas_threads("auto")
    assert config.blas_threads() == "auto"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "many", True, None])
def test_set_blas_threads_refuses_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match="auto.*positive number of threads"):
        config.set_blas_threads(bad)
    assert config.blas_threads() == "auto"  # unchanged


@pytest.mark.parametrize("bad", [0, 2.0, "1"])
def test_limit_refuses_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match="positive integer"):
        with threads.limit(bad):
            pass


def test_limit_sets_and_restores():
    with threads.limit(1):
        assert threads.current() == 1
    assert threads.current() == 2


def test_torch_set_num_threads_is_the_users_choice(monkeypatch):
    torch = pytest.importorskip("minidl.torch")
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1
    try:
        with threads.limit(2):  # BLAS at 2 again, but the process setting says "user's"
            model, seen = mlp(20, 16), ThreadsSeen()
            model.fit(*data(64, 20), batch_size=16, epochs=1, verbose=0, callbacks=[seen])
            assert seen.train == [2] * 4
    finally:
        monkeypatch.setattr(threads, "_process_threads", None)
    with pytest.raises(ValueError, match="positive integer"):
        torch.set_num_threads(0)


def test_auto_decides_after_the_first_optimizer_step_of_a_torch_loop():
    import minidl.torch as torch

    model = torch.nn.Linear(20, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = data(64, 20)
    counts = []
    with threads.auto():
        for i in range(3):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(torch.tensor(x[i * 16:(i + 1) * 16])),
                torch.tensor(y[i * 16:(i + 1) * 16]))
            loss.backward()
            optimizer.step()
            counts.append(threads.current())
    assert counts == [1, 1, 1]  # decided after the first step (a 16x20x3 product)
    assert threads.current() == 2


def test_the_thread_rule_leaves_the_training_result_as_one_thread_gives():
    """'auto' on a small model is one thread after the first step: the run matches one
    pinned to a single thread from the start (up to BLAS's last bits in the first step)."""
    x, y = data(64, 20)
    auto_model = mlp(20, 16)
    auto_model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    config.set_blas_threads(1)
    pinned = mlp(20, 16)
    pinned.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(auto_model.get_weights(), pinned.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
