"""Weight initializers, by name as in Keras: ``Dense(10, kernel_initializer="he_normal")``.

An initializer is called as ``init(shape, dtype=None, generator=None)`` and returns a NumPy
array. Random ones draw from ``generator`` (a ``numpy.random.Generator`` a layer gets from
``minidl.random``), so ``set_random_seed`` makes initial weights reproducible; an explicit
``seed=`` makes one initializer independent of the global seed.
"""

import math

import numpy as np

from minidl import config
from minidl import random as mrandom


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape: Dense kernels are (in, out); for more axes the
    leading ones are the receptive field, as Keras computes it."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``sample(shape, dtype, rng)``."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None, generator=None):
        dtype = np.dtype(dtype or config.floatx())
        if self.seed is not None:
            # As Keras 3: an initializer seeded with an int gives the same values at every
            # call (and in every layer it is given to), whatever the global seed.
            generator = np.random.default_rng(int(self.seed))
        elif generator is None:
            generator = mrandom.generator(type(self).__name__)
        return np.asarray(self.sample(tuple(shape), dtype, generator), dtype=dtype)

    def sample(self, shape, dtype, rng):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def sample(self, shape, dtype, rng):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def sample(self, shape, dtype, rng):
        return np.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def sample(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """N(mean, stddev²)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def sample(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def sample(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng, stddev, shape):
    """N(0, stddev²) redrawn until every value lies within two standard deviations."""
    out = rng.normal(0.0, stddev, shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


class TruncatedNormal(Initializer):
    """N(mean, stddev²) truncated to two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def sample(self, shape, dtype, rng):
        return self.mean + _truncated_normal(rng, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Variance ``scale / n`` with n = fan_in, fan_out or their average (``mode``).

    uniform:          U(-limit, limit), limit = √(3·scale/n)
    truncated_normal: truncated N(0, σ²), σ = √(scale/n) / 0.8796… (the truncation's shrink)
    untruncated_normal: N(0, scale/n)
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if scale <= 0:
            raise ValueError(f"VarianceScaling scale must be positive, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def sample(self, shape, dtype, rng):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "truncated_normal":
            # 0.879...: std of a unit normal truncated to [-2, 2]
            return _truncated_normal(rng, math.sqrt(variance) / 0.87962566103423978, shape)
        return rng.normal(0.0, math.sqrt(variance), shape)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


def _variant(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc})


GlorotUniform = _variant("GlorotUniform", 1.0, "fan_avg", "uniform",
                         "U(-l, l), l = √(6 / (fan_in + fan_out)). Keras's Dense default.")
GlorotNormal = _variant("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                        "Truncated normal, σ = √(2 / (fan_in + fan_out)).")
HeUniform = _variant("HeUniform", 2.0, "fan_in", "uniform", "U(-l, l), l = √(6 / fan_in).")
HeNormal = _variant("HeNormal", 2.0, "fan_in", "truncated_normal",
                    "Truncated normal, σ = √(2 / fan_in).")
LecunUniform = _variant("LecunUniform", 1.0, "fan_in", "uniform",
                        "U(-l, l), l = √(3 / fan_in).")
LecunNormal = _variant("LecunNormal", 1.0, "fan_in", "truncated_normal",
                       "Truncated normal, σ = √(1 / fan_in).")

_INITIALIZERS = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,  # Keras's short names (Embedding's default is "uniform")
    "normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
}
_CLASS_NAMES = {cls.__name__: cls for cls in _INITIALIZERS.values()}


def get(identifier):
    """Resolve an initializer: a name (``"he_normal"``, ``"HeNormal"``), an instance, a class,
    a config dict, or a callable ``(shape, dtype) -> array``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):
        cls = _CLASS_NAMES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown initializer config {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _INITIALIZERS.get(identifier.lower()) or _CLASS_NAMES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown initializer {identifier!r}. Valid names: {sorted(_INITIALIZERS)}"
            )
        return cls()
    if callable(identifier):
        return identifier
    raise TypeError(f"Cannot interpret initializer {identifier!r}")


def serialize(init):
    """A JSON-able description ``{"class_name", "config"}`` of a built-in initializer."""
    return {"class_name": type(init).__name__, "config": init.get_config()}
