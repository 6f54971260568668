"""Learning-rate schedules: ``keras.optimizers.schedules``.

A schedule is a callable ``schedule(step) -> learning rate`` that an optimizer evaluates at
its iteration count before each update: update ``k`` (counting from 0) uses
``schedule(k)``, and after ``N`` updates ``float(optimizer.learning_rate)`` is
``schedule(N)``. Pass one as any optimizer's ``learning_rate``::

    import minidl as keras
    lr = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.96)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")

The formulas and arguments are Keras 3's (each class's docstring gives its formula); they are
computed in Python floats (float64), so ``schedule(step)`` is exact to the last bit of a
double, where Keras computes in float32. Each schedule has ``get_config``, and a model saved
with one loads with it (``serialize`` / ``deserialize``).
"""

import math
import numbers


def _positive(name, value, owner):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{owner}: argument `{name}` must be > 0. Received: {name}={value!r}")
    return value


class LearningRateSchedule:
    """The base class: subclasses define ``__call__(step)`` and ``get_config()``.

    A custom schedule (as in Keras)::

        class MySchedule(keras.optimizers.schedules.LearningRateSchedule):
            def __init__(self, initial_learning_rate):
                self.initial_learning_rate = initial_learning_rate

            def __call__(self, step):
                return self.initial_learning_rate / (step + 1)

            def get_config(self):
                return {"initial_learning_rate": self.initial_learning_rate}
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override "
            "`__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        """A schedule from ``get_config()``'s dict."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class _DecayEverySteps(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: a rate that decays by
    ``decay_rate`` per ``decay_steps`` steps, continuously or (``staircase``) in steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("decay_steps", decay_steps, type(self).__name__)
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        """``step / decay_steps``, floored with ``staircase``."""
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_DecayEverySteps):
    """``initial_learning_rate · decay_rate ^ (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``: the rate drops
    once every ``decay_steps`` steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of steps (the exponent's unit).
        decay_rate: the factor applied per ``decay_steps`` steps.
        staircase: decay at discrete intervals.
        name: the schedule's name.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate**self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while
    ``step <= boundaries[1]``, ..., ``values[-1]`` after the last boundary.

    At a boundary step the earlier value still holds (``step <= boundary``), as Keras.

    Args:
        boundaries: strictly increasing step counts.
        values: one more value than ``boundaries``.
        name: the schedule's name.

    Raises:
        ValueError: ``len(values) != len(boundaries) + 1``, or boundaries not increasing.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing. Received: {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(_DecayEverySteps):
    """``initial_learning_rate / (1 + decay_rate · step / decay_steps)``.

    With ``staircase=True``, ``step / decay_steps`` is floored.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) · (1 - step / decay_steps) ^ power + end``, with ``step`` capped
    at ``decay_steps``.

    With ``cycle=True`` the step is not capped; instead ``decay_steps`` becomes the first
    multiple of itself that is ``>= step`` (1× at step 0), so the decay restarts.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of steps to reach ``end_learning_rate``.
        end_learning_rate: the final rate (default 1e-4).
        power: the polynomial's power (default 1: linear).
        cycle: restart the decay after ``decay_steps``.
        name: the schedule's name.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("decay_steps", decay_steps, type(self).__name__)
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps = decay_steps * (1.0 if step == 0 else math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * (1 - p) ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """A linear warmup (optional), then a cosine decay.

    Without ``warmup_target``: ``initial · ((1 - alpha) · ½(1 + cos(π · s / decay_steps))
    + alpha)`` with ``s = min(step, decay_steps)``.

    With ``warmup_target``: for ``step < warmup_steps`` the rate rises linearly,
    ``initial + (warmup_target - initial) · step / warmup_steps``; after that the cosine
    decay above runs from ``warmup_target`` on ``s = min(step, warmup_steps + decay_steps) -
    warmup_steps``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: a positive number of decay steps.
        alpha: the final rate as a fraction of the rate the decay starts from.
        name: the schedule's name.
        warmup_target: the rate reached at the end of the warmup (``None``: no warmup).
        warmup_steps: the number of warmup steps.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("decay_steps", decay_steps, type(self).__name__)
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + \
                self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR).

    The first period lasts ``first_decay_steps`` steps; each next one ``t_mul`` times longer
    and starting from ``m_mul`` times the previous peak. Within period ``i``, at fraction
    ``f`` of it: ``initial · ((1 - alpha) · m_mul^i · ½(1 + cos(π f)) + alpha)``.

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: a positive length of the first period.
        t_mul: the growth of each period's length (default 2).
        m_mul: the factor on each restart's peak (default 1).
        alpha: the floor, as a fraction of ``initial_learning_rate``.
        name: the schedule's name.

    Raises:
        ValueError: ``first_decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps,
                                           type(self).__name__)
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            # Periods 1, t, t², ...: period i starts at (1 - tⁱ)/(1 - t) first periods.
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul))
                                 / math.log(self.t_mul))
            start = (1.0 - self.t_mul**restart) / (1.0 - self.t_mul)
            fraction = (fraction - start) / self.t_mul**restart
        cosine = 0.5 * self.m_mul**restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


ALL_OBJECTS_DICT = {cls.__name__: cls for cls in (
    ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, PolynomialDecay, CosineDecay,
    CosineDecayRestarts,
)}


def serialize(learning_rate_schedule):
    """``{"class_name": ..., "config": schedule.get_config()}`` (JSON-compatible)."""
    return {"module": "keras.optimizers.schedules",
            "class_name": type(learning_rate_schedule).__name__,
            "config": learning_rate_schedule.get_config()}


def deserialize(config, custom_objects=None):
    """A schedule from ``serialize``'s dict.

    Args:
        config: ``{"class_name": ..., "config": {...}}``.
        custom_objects: ``{name: class}`` for schedules defined in user code.

    Raises:
        ValueError: an unknown class name (the message lists the known ones and says how to
            pass a custom one).
    """
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown learning rate schedule: {name!r}. Known: {sorted(ALL_OBJECTS_DICT)}; "
            "pass a custom one with custom_objects={'" + str(name) + "': TheClass}"
        )
    return cls.from_config(dict(config.get("config") or {}))


__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay",
           "InverseTimeDecay", "PolynomialDecay", "CosineDecay", "CosineDecayRestarts",
           "serialize", "deserialize"]
