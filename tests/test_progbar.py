"""Progress output against the format Keras 3 prints.

Reference lines (Keras 3, ``model.fit``/``evaluate`` on MNIST)::

    verbose=1, end of epoch: 1500/1500 ━━━━━━━━━━━━━━━━━━━━ 3s 2ms/step - accuracy: 0.8600 - ...
    verbose=1, during it:      12/1500 ━━━━━━━━━━━━━━━━━━━━ 7s 5ms/step - accuracy: ...
    verbose=2:               1500/1500 - 3s - 2ms/step - accuracy: 0.8600 - loss: 0.4800
    evaluate(verbose=2):     313/313 - 0s - 1ms/step - accuracy: 0.9770 - loss: 0.0750

A fake clock makes every time on screen exact.
"""

import io
import re
from contextlib import redirect_stdout

import pytest

from minidl import progbar as progbar_module
from minidl.callbacks import CallbackList, LambdaCallback, ProgbarLogger
from minidl.progbar import Progbar, format_eta, format_time_per_unit, format_value

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FakeClock:
    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def tick(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progbar_module, "_now", fake)
    return fake


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def tty(monkeypatch):
    """A terminal stand-in. Tests write to it inside ``with redirect_stdout(tty):`` (pytest's
    own capture would replace a sys.stdout patched during fixture setup)."""
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    return FakeTTY()


def run_fit(clock, verbose, epochs=2, steps=1500, step_time=0.0021, batch_logs=None,
            epoch_logs=None, validate=False):  # fmt: skip
    """The hook sequence of fit; each step takes ``step_time`` on the fake clock."""
    batch_logs = batch_logs or {"loss": 0.5, "accuracy": 0.85}
    epoch_logs = epoch_logs or {"accuracy": 0.86, "loss": 0.48}
    cbs = CallbackList(None, add_history=True, add_progbar=verbose != 0,
                       verbose=verbose, epochs=epochs, steps=steps)  # fmt: skip
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        for step in range(steps):
            cbs.on_train_batch_begin(step)
            clock.tick(step_time)
            cbs.on_train_batch_end(step, batch_logs)
        if validate:  # validation inside fit must print nothing
            cbs.on_test_begin()
            for step in range(3):
                cbs.on_test_batch_end(step, {"loss": 9.0})
            cbs.on_test_end({"loss": 9.0})
        cbs.on_epoch_end(epoch, dict(epoch_logs))
    cbs.on_train_end(epoch_logs)


# ---------------------------------------------------------------------------- format helpers


@pytest.mark.parametrize(
    "seconds, text",
    [(2.4, "2s/step"), (1.0, "1s/step"), (0.0, "0s/step"), (0.0021, "2ms/step"),
     (0.001, "1ms/step"), (0.000999, "999us/step"), (3e-5, "30us/step")],
)  # fmt: skip
def test_time_per_step_switches_units(seconds, text):
    assert format_time_per_unit(seconds) == text


def test_time_per_unit_name():
    assert format_time_per_unit(0.5, "sample") == "500ms/sample"


@pytest.mark.parametrize(
    "value, text",
    [(0.48, "0.4800"), (12.34567, "12.3457"), (-0.5, "-0.5000"), (0.00101, "0.0010"),
     (0.001, "1.0000e-03"), (1.2e-4, "1.2000e-04"), (0.0, "0.0000e+00"),
     (-1e-5, "-1.0000e-05"), (float("nan"), "nan"), (float("inf"), "inf")],
)  # fmt: skip
def test_value_format_switches_to_scientific_at_1e_3(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(
    "seconds, text",
    [(7.9, "7s"), (60, "60s"), (61, "1:01"), (125.5, "2:05"), (3600, "60:00"),
     (3725, "1:02:05")],
)  # fmt: skip
def test_eta_format(seconds, text):
    assert format_eta(seconds) == text


# ------------------------------------------------------------------------- fit, verbose = 1


def test_fit_verbose_1_not_a_tty_prints_each_final_bar_once(clock, capsys):
    run_fit(clock, verbose=1, validate=True)
    out = capsys.readouterr().out
    line = "1500/1500 ━━━━━━━━━━━━━━━━━━━━ 3s 2ms/step - accuracy: 0.8600 - loss: 0.4800"
    assert out == f"Epoch 1/2\n{line}\nEpoch 2/2\n{line}\n"
    assert "\r" not in out and "\x1b" not in out


def test_fit_one_epoch_has_no_epoch_header(clock, capsys):
    run_fit(clock, verbose=1, epochs=1, steps=10, step_time=0.1)
    assert capsys.readouterr().out == "10/10 ━━━━━━━━━━━━━━━━━━━━ 1s 100ms/step - accuracy: " \
        "0.8600 - loss: 0.4800\n"


def test_fit_verbose_1_on_a_tty_rewrites_one_line(clock, tty):
    with redirect_stdout(tty):
        run_fit(clock, verbose=1, epochs=1, steps=10, step_time=10.0,
                batch_logs={"loss": 0.5}, epoch_logs={"loss": 0.25})  # fmt: skip
    out = tty.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")
    frames = out[:-1].split("\r")
    assert frames[0] == ""  # every frame starts with a carriage return
    frames = frames[1:]
    # 10 s per step >> interval: batches 2..10 redraw, then the epoch end. Batch 1 does not:
    # an ETA from the first step alone would carry its one-time costs (a deliberate
    # difference from Keras, whose first frame shows exactly that ETA).
    assert len(frames) == 10
    plain = [ANSI.sub("", f).rstrip() for f in frames]
    assert not any(p.startswith(" 1/10") for p in plain)
    # Step 3 of 10: counter right-aligned to the target's width; ETA = 7 steps x 10 s.
    assert plain[1] == " 3/10 ━━━━━━━━━━━━━━━━━━━━ 1:10 10s/step - loss: 0.5000"
    assert plain[0] == " 2/10 ━━━━━━━━━━━━━━━━━━━━ 1:20 10s/step - loss: 0.5000"
    # The last frame shows the elapsed time and the epoch's logs.
    assert plain[-2] == "10/10 ━━━━━━━━━━━━━━━━━━━━ 0s 10s/step - loss: 0.5000"
    assert plain[-1] == "10/10 ━━━━━━━━━━━━━━━━━━━━ 100s 10s/step - loss: 0.2500"
    # Colours as Keras: bold counter and time, int(20 * 3/10) = 6 green then 14 grey.
    assert frames[1].startswith("\x1b[1m 3/10\x1b[0m \x1b[32m" + "━" * 6 + "\x1b[0m\x1b[37m"
                                + "━" * 14 + "\x1b[0m \x1b[1m1:10\x1b[0m 10s/step")  # fmt: skip
    assert "\x1b[32m" + "━" * 20 in frames[-1]


def test_live_bar_respects_the_redraw_interval(clock, tty):
    with redirect_stdout(tty):
        bar = Progbar(100, interval=1 / 16)
        for step in range(1, 101):
            clock.tick(1 / 64)  # four updates per allowed redraw (binary fractions: exact)
            bar.update(step, [("loss", 1.0)])
    frames = tty.getvalue().split("\r")[1:]
    # Draws at steps 1, 5, 9, ..., 97 (1/16 s apart) and the final step 100.
    assert len(frames) == 26
    assert ANSI.sub("", frames[-1]).startswith("100/100 ")


def test_live_bar_blanks_the_rest_of_a_longer_previous_line(clock, tty):
    with redirect_stdout(tty):
        bar = Progbar(4, interval=0.0, stateful_metrics=["loss"])
        bar.update(1, [("loss", 10.5)])  # not drawn: the first step makes no ETA
        clock.tick(1)
        bar.update(2, [("loss", 10.5)])
        clock.tick(1)
        bar.update(3, [("loss", 1.5)])  # "1.5000" is one character shorter than "10.5000"
    first, second = (ANSI.sub("", f) for f in tty.getvalue().split("\r")[1:])
    assert len(second) == len(first) and second.endswith("1.5000 ")


def test_progbar_averages_values_unless_stateful(clock, tty):
    # Keras's rule: a value reported at step `current` weighs (current - last step seen).
    with redirect_stdout(tty):
        bar = Progbar(10, interval=0.0)
        clock.tick(1)
        bar.update(1, [("loss", 1.0), ("acc", 0.5)])
        clock.tick(1)
        bar.update(3, [("loss", 2.0), ("acc", 0.75)])
    last = ANSI.sub("", tty.getvalue().split("\r")[-1])
    assert "loss: 1.6667" in last  # (1*1 + 2*2) / 3
    assert "acc: 0.6667" in last  # (0.5*1 + 0.75*2) / 3
    with redirect_stdout(tty):
        bar = Progbar(10, interval=0.0, stateful_metrics=["loss"])
        bar.update(1, [("loss", 1.0)])
        bar.update(3, [("loss", 2.0)])
    assert ANSI.sub("", tty.getvalue().split("\r")[-1]).rstrip().endswith("loss: 2.0000")


def test_progbar_logger_shows_logs_as_given(clock, tty):
    # Batch logs are already running means: the bar must not average them again.
    with redirect_stdout(tty):
        cbs = CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=4)
        cbs.on_train_begin()
        cbs.on_epoch_begin(0)
        for step, loss in enumerate([4.0, 3.0, 2.0]):
            clock.tick(1)
            cbs.on_train_batch_end(step, {"loss": loss})
    assert ANSI.sub("", tty.getvalue().split("\r")[-1]).rstrip().endswith("loss: 2.0000")


def test_progbar_rejects_bad_arguments():
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        Progbar(10, verbose=3)
    with pytest.raises(ValueError, match="target.*-1"):
        Progbar(-1)
    with pytest.raises(ValueError, match="not both"):
        Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])


def test_progbar_unknown_target(clock, tty):
    with redirect_stdout(tty):
        bar = Progbar(None, interval=0.0)
        clock.tick(2)
        bar.update(5)
    assert ANSI.sub("", tty.getvalue()) == "\r      5/Unknown 2s 400ms/step"


def test_progbar_eta_in_hours(clock, tty):
    with redirect_stdout(tty):
        bar = Progbar(1000, interval=0.0)
        clock.tick(60)  # a slow first step (start-up) ...
        bar.update(1)
        clock.tick(10)  # ... is left out of the ETA: 998 steps x 10 s = 2:46:20
        bar.update(2)
    assert ANSI.sub("", tty.getvalue()).startswith("\r   2/1000 ━━━━━━━━━━━━━━━━━━━━ 2:46:20 10s")


# ------------------------------------------------------------------------- fit, verbose = 2


def test_fit_verbose_2_prints_one_line_per_epoch(clock, capsys):
    logs = {"accuracy": 0.86, "loss": 0.48, "val_accuracy": 0.95, "val_loss": 0.17}
    run_fit(clock, verbose=2, epoch_logs=logs, validate=True)
    line = ("1500/1500 - 3s - 2ms/step - accuracy: 0.8600 - loss: 0.4800 - "
            "val_accuracy: 0.9500 - val_loss: 0.1700")  # fmt: skip
    assert capsys.readouterr().out == f"Epoch 1/2\n{line}\nEpoch 2/2\n{line}\n"


def test_fit_verbose_2_orders_columns_like_keras(clock, capsys):
    # A loop that builds logs as {"loss", metrics..., "val_loss", ...} still prints Keras's
    # order: training names sorted, then validation names sorted.
    logs = {"loss": 0.48, "accuracy": 0.86, "val_loss": 0.17, "val_accuracy": 0.95}
    run_fit(clock, verbose=2, epochs=1, epoch_logs=logs)
    assert capsys.readouterr().out == (
        "1500/1500 - 3s - 2ms/step - accuracy: 0.8600 - loss: 0.4800 - "
        "val_accuracy: 0.9500 - val_loss: 0.1700\n"
    )


def test_fit_verbose_2_on_a_tty_is_the_same(clock, tty):
    with redirect_stdout(tty):
        run_fit(clock, verbose=2, epochs=1)
    assert tty.getvalue() == "1500/1500 - 3s - 2ms/step - accuracy: 0.8600 - loss: 0.4800\n"


def test_metric_order_follows_the_logs(clock, capsys):
    # Keras order: batch log names (sorted), then names first seen at epoch end (val_*),
    # then what a callback adds at epoch end, like the learning_rate of a scheduler.
    add_lr = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(learning_rate=0.01))
    cbs = CallbackList([add_lr], add_progbar=True, verbose=1, epochs=1, steps=2)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for step in range(2):
        clock.tick(0.5)
        cbs.on_train_batch_end(step, {"loss": 1.0, "accuracy": 0.5})
    cbs.on_epoch_end(0, {"loss": 0.25, "val_loss": 0.125, "accuracy": 0.5})
    out = capsys.readouterr().out
    assert re.fullmatch(r"2/2 ━{20} 1s 500ms/step - accuracy: 0\.5000 - loss: 0\.2500 - "
                        r"val_loss: 0\.1250 - learning_rate: 0\.0100\n", out)  # fmt: skip


# -------------------------------------------------------------------------------- verbose = 0


def test_verbose_0_is_silent(clock, capsys, tty):
    run_fit(clock, verbose=0)
    with redirect_stdout(tty):
        run_fit(clock, verbose=0)
        cbs = CallbackList([ProgbarLogger()], verbose=0, epochs=2, steps=3)
        cbs.on_train_begin()
        cbs.on_epoch_begin(0)
        cbs.on_train_batch_end(0, {"loss": 1.0})
        cbs.on_epoch_end(0, {"loss": 1.0})
    assert tty.getvalue() == "" and capsys.readouterr().out == ""


# ---------------------------------------------------------------------- evaluate and predict


def evaluate(clock, verbose, steps=313, step_time=0.0012, logs=None):
    logs = logs or {"accuracy": 0.977, "loss": 0.075}
    cbs = CallbackList(None, add_progbar=verbose != 0, verbose=verbose, epochs=1, steps=steps)
    cbs.on_test_begin()
    for step in range(steps):
        cbs.on_test_batch_begin(step)
        clock.tick(step_time)
        cbs.on_test_batch_end(step, logs)
    cbs.on_test_end(logs)


def test_evaluate_verbose_2(clock, capsys):
    evaluate(clock, verbose=2)
    assert capsys.readouterr().out == "313/313 - 0s - 1ms/step - accuracy: 0.9770 - loss: 0.0750\n"


def test_evaluate_verbose_1_not_a_tty(clock, capsys):
    evaluate(clock, verbose=1)
    out = capsys.readouterr().out
    assert out == "313/313 ━━━━━━━━━━━━━━━━━━━━ 0s 1ms/step - accuracy: 0.9770 - loss: 0.0750\n"


def test_evaluate_unknown_steps_learns_the_target(clock, capsys):
    cbs = CallbackList(None, add_progbar=True, verbose=2, epochs=1, steps=None)
    cbs.on_test_begin()
    for step in range(25):
        clock.tick(0.004)
        cbs.on_test_batch_end(step, {"loss": 0.5})
    cbs.on_test_end({"loss": 0.5})
    assert capsys.readouterr().out == "25/25 - 0s - 4ms/step - loss: 0.5000\n"


def test_predict_prints_a_bar_without_values(clock, capsys):
    cbs = CallbackList(None, add_progbar=True, verbose=1, epochs=1, steps=4)
    cbs.on_predict_begin()
    for step in range(4):
        clock.tick(0.25)
        cbs.on_predict_batch_end(step, {"outputs": [[0.1, 0.9]]})
    cbs.on_predict_end()
    assert capsys.readouterr().out == "4/4 ━━━━━━━━━━━━━━━━━━━━ 1s 250ms/step\n"


def test_output_follows_a_redirected_stdout(clock):
    # sys.stdout is looked up at write time, not when the bar is created.
    bar = Progbar(2, verbose=2)
    stream = io.StringIO()
    with redirect_stdout(stream):
        bar.update(2, [("loss", 0.5)])
    assert stream.getvalue() == "2/2 - 0s - 0s/step - loss: 0.5000\n"


def test_unencodable_bar_falls_back_to_ascii(clock):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    with redirect_stdout(stream):
        bar = Progbar(1, verbose=1)
        bar.update(1)
    stream.flush()
    assert raw.getvalue().decode() == "1/1 " + "=" * 20 + " 0s 0s/step\n"
