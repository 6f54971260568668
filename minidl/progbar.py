"""A Keras-style text progress bar: display only, fed by ``callbacks.ProgbarLogger``.

What a user sees with ``verbose=1`` (one line rewritten in place with ``\\r``)::

      12/1500 ━━━━━━━━━━━━━━━━━━━━ 7s 5ms/step - accuracy: 0.6012 - loss: 1.2034
    1500/1500 ━━━━━━━━━━━━━━━━━━━━ 3s 2ms/step - accuracy: 0.8600 - loss: 0.4800

During the epoch the time field is the ETA, ``(target - current) * time_per_step``; on the
final line it is the time elapsed since the bar was created. ``verbose=2`` prints only the
final state, as ``1500/1500 - 3s - 2ms/step - accuracy: 0.8600 - loss: 0.4800``.

The layout follows ``keras.utils.Progbar`` (Keras 3): the step counter is right-aligned to
the width of the target, the bar is 20 ``━`` characters (green for the done part, grey for
the rest, bold counter and time), the time per step switches between ``s``, ``ms`` and ``us``,
and each value prints as ``%.4f`` unless its magnitude is at most 1e-3, then as ``%.4e``.

Deliberate differences from Keras:

- The live bar is first drawn after step 2, not step 1: an ETA from the first step alone
  carries the one-time costs of a run (Keras's bar says "2:57" for a 20-second epoch there).
  From step 2 on the ETA leaves step 1 out, as Keras's does.

- Keras decides that the display is "dynamic" whenever ``"posix"`` is in ``sys.modules``,
  i.e. always on Linux and macOS, so a log file gets hundreds of ``\\r`` rewrites with ANSI
  colour codes. Here the display is dynamic only for a terminal (``sys.stdout.isatty()``),
  Jupyter (``ipykernel`` loaded) or PyCharm (``PYCHARM_HOSTED``); anywhere else ``verbose=1``
  prints the final line of each bar once, in plain text.
- ``verbose=2`` formats negative values with the same ``abs`` test as ``verbose=1`` (Keras
  forgets the ``abs`` there and prints ``-0.5`` as ``-5.0000e-01``).
"""

import math
import os
import sys
import time

import numpy as np

# ANSI styles Keras uses: bold for the counter and time, green/grey for the two bar parts.
_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_GREY = "\x1b[37m"
_RESET = "\x1b[0m"
_BAR_CHAR = "━"


def _now():
    """The clock the bar reads (a function, so tests can substitute a fake clock)."""
    return time.time()


def is_interactive_display():
    """Whether ``sys.stdout`` can show a line rewritten in place with ``\\r``.

    True for a terminal, a Jupyter kernel and PyCharm's run window; False for a pipe or a
    file, where the bar prints finished lines only.
    """
    stream = sys.stdout
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # NOTE: isatty() on a closed stream raises instead of returning False.
        return False
    return "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def write(message):
    """Write ``message`` to the *current* ``sys.stdout`` and flush it.

    ``sys.stdout`` is looked up at every call, so redirection (``contextlib.redirect_stdout``,
    pytest's ``capsys``) works even for a bar created earlier. A stream that cannot encode
    ``━`` (a Windows console in cp1252, say) gets ``=`` instead of an exception.
    """
    stream = sys.stdout
    try:
        stream.write(message)
    except UnicodeEncodeError:
        stream.write(message.replace(_BAR_CHAR, "="))
    stream.flush()


def format_value(value):
    """Format one metric value as Keras does: ``0.4800``, or ``1.2000e-04`` when tiny.

    >>> format_value(0.48), format_value(1.2e-4), format_value(0.0)
    ('0.4800', '1.2000e-04', '0.0000e+00')
    """
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_time_per_unit(seconds, unit_name="step"):
    """Format the time one step takes, switching units as Keras does.

    >>> format_time_per_unit(2.4), format_time_per_unit(0.0021), format_time_per_unit(3e-5)
    ('2s/step', '2ms/step', '30us/step')
    """
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds):
    """Format a remaining time: ``7s``, ``2:05`` (m:ss) past a minute, ``1:02:05`` past an hour.

    >>> format_eta(7.9), format_eta(125), format_eta(3725)
    ('7s', '2:05', '1:02:05')
    """
    whole = int(seconds)  # Truncated, not rounded, as Keras's "%d" does.
    if seconds > 3600:
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    if seconds > 60:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole}s"


class Progbar:
    """Displays a progress bar.

    Values passed to ``update`` are averaged over the steps they cover unless their name is
    *stateful* (displayed as given). By default every name is averaged, as in Keras; pass
    ``stateful_metrics`` (names shown as given) or ``stateless_metrics`` (the only names that
    are averaged; ``()`` shows everything as given), not both.

    Args:
        target: Total number of steps expected, or ``None`` if unknown.
        width: Width of the bar in characters.
        verbose: 0 (silent), 1 (a live bar), 2 (one line when the bar finishes).
        interval: Minimum number of seconds between two redraws of a live bar.
        stateful_metrics: Names whose values are displayed as given.
        unit_name: What one step is called on screen (``"step"``, ``"sample"``).
        stateless_metrics: Names whose values are averaged; all others are displayed as given.

    Raises:
        ValueError: If ``target`` is negative, ``verbose`` is not 0, 1 or 2, or both
            ``stateful_metrics`` and ``stateless_metrics`` are given.

    Example:

    >>> bar = Progbar(3, verbose=2, stateful_metrics=["loss"])
    >>> for step in range(1, 4):
    ...     bar.update(step, [("loss", 1.0 / step)])  # doctest: +ELLIPSIS
    3/3 - 0s - ...s/step - loss: 0.3333
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
        stateless_metrics=None,
    ):
        if target is not None and target < 0:
            raise ValueError(f"Progbar target must be a step count >= 0 or None, got {target!r}.")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar verbose must be 0, 1 or 2, got {verbose!r}.")
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar takes stateful_metrics or stateless_metrics, not both: the first "
                "lists names shown as given, the second names that are averaged."
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = None if stateful_metrics is None else set(stateful_metrics)
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._dynamic_display = is_interactive_display()
        # name -> [weighted sum, weight]; a list keeps the first-seen display order.
        self._values = {}
        self._values_order = []
        self._seen_so_far = 0
        self._start = _now()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _is_averaged(self, name):
        if self.stateless_metrics is not None:
            return name in self.stateless_metrics
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return True  # Keras's default: every value is a per-step value to average.

    def _record(self, current, values, finalize):
        """Fold ``values`` into the running (weighted sum, weight) pairs."""
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            value = float(np.mean(value))
            if self._is_averaged(name) and not finalize:
                # A value reported after several silent steps stands for all of them.
                steps = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, (0.0, 0))
                self._values[name] = [total + value * steps, count + steps]
            else:
                # Stateful values, and the final epoch values, are shown exactly as given.
                self._values[name] = [value, 1]

    def _estimate_step_duration(self, current, now):
        """Seconds per step; the first step (compilation, warm-up) is left out once possible.

        time_per_step = (now - t_after_step_1) / (current - 1)   when current > 1
                      = (now - t_start) / current                 otherwise
        """
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_step = (now - self._time_after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_step

    def _metrics_text(self):
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            parts.append(f" - {name}: {format_value(total / max(1, count))}")
        return "".join(parts)

    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current`` and record ``values``.

        Args:
            current: Number of steps done (1-based: ``current == target`` is the end).
            values: List of ``(name, value)`` pairs for the latest step.
            finalize: Whether this is the last update; defaults to ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        self._seen_so_far = current

        now = _now()
        time_per_unit = self._estimate_step_duration(current, now)
        known_target = self.target is not None and self.target > 0

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return  # Too soon to redraw; the values are recorded all the same.
            if current == 1 and not finalize:
                # The first step alone would make the ETA: it carries the one-time costs
                # (kernel loading, first-touch memory), which once read as "ETA 2:57" for a
                # 20 s epoch. The first redraw waits for step 2, whose estimate leaves
                # step 1 out.
                return
            if self._dynamic_display:
                self._draw_live(current, finalize, now, time_per_unit, known_target)
            elif finalize:
                # A log file gets one finished line per bar instead of every redraw.
                plain, _ = self._line(current, finalize, now, time_per_unit, known_target)
                write(plain + "\n")
        elif self.verbose == 2 and finalize and known_target:
            digits = int(math.log10(self.target)) + 1
            write(
                f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s - "
                f"{format_time_per_unit(time_per_unit, self.unit_name)}"
                f"{self._metrics_text()}\n"
            )
        self._last_update = now

    def _line(self, current, finalize, now, time_per_unit, known_target):
        """The bar line, as (plain text, text with ANSI styles)."""
        if known_target:
            digits = int(math.log10(self.target)) + 1
            count = f"{current:{digits}d}/{self.target}"
            done = min(int(self.width * current / self.target), self.width)
            bar_plain = f"{count} {_BAR_CHAR * self.width}"
            bar_styled = f"{_BOLD}{count}{_RESET} "
            if done > 0:
                bar_styled += f"{_GREEN}{_BAR_CHAR * done}{_RESET}"
            bar_styled += f"{_GREY}{_BAR_CHAR * (self.width - done)}{_RESET}"
        else:
            bar_plain = bar_styled = f"{current:7d}/Unknown"
        if known_target and not finalize:
            clock = format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        info = f" {format_time_per_unit(time_per_unit, self.unit_name)}{self._metrics_text()}"
        plain = f"{bar_plain} {clock}{info}"
        styled = f"{bar_styled} {_BOLD}{clock}{_RESET}{info}"
        return plain, styled

    def _draw_live(self, current, finalize, now, time_per_unit, known_target):
        plain, styled = self._line(current, finalize, now, time_per_unit, known_target)
        message = "\r" + styled
        # Blank out what is left of a longer previous line (widths count visible characters).
        if self._prev_total_width > len(plain):
            message += " " * (self._prev_total_width - len(plain))
        if finalize:
            message += "\n"
        write(message)
        self._prev_total_width = len(plain)

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps (see ``update``)."""
        self.update(self._seen_so_far + n, values)
