"""minidl's own random numbers.

All model randomness (initial weights, dropout masks, shuffling) comes from NumPy
``Generator`` objects made here, never from NumPy's global state. Each consumer asks for a
stream by a stable key (a layer's name, ``"shuffle"``, ...). Streams are derived from the seed
and the key, so adding a layer does not shift another layer's masks.

This module is also Keras's ``keras.random``: ``SeedGenerator``, ``normal``, ``uniform``,
``randint``, ``dropout``, ``shuffle``, drawn from the same streams. As in Keras, ``seed`` may
be an ``int`` (the same numbers on every call), a ``SeedGenerator`` (new numbers on each
call, reproducibly from its seed) or ``None`` (minidl's global streams: reproducible after
``keras.utils.set_random_seed``). The numbers are NumPy's, not TensorFlow's: the same seed
gives the same run in minidl, not the same numbers as in Keras.
"""

import zlib

import numpy as np

_seed = None
_root = np.random.SeedSequence()
_counters = {}


def set_seed(seed):
    """Seed every stream minidl will hand out from now on (an ``int``)."""
    global _seed, _root
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _seed = int(seed)
    _root = np.random.SeedSequence(_seed)
    _counters.clear()


def get_state():
    """A snapshot of minidl's random state (the seed and every stream's draw counter), for
    undoing work that drew from the streams (a model build that failed)."""
    return {"root": _root, "seed": _seed, "counters": dict(_counters)}


def set_state(state):
    """Restore a snapshot taken by ``get_state``."""
    global _root, _seed
    _root, _seed = state["root"], state["seed"]
    _counters.clear()
    _counters.update(state["counters"])


def get_seed():
    """The seed given to ``set_seed`` (``None`` when unseeded)."""
    return _seed


def stream_name(kind):
    """An ordinal name for a new random consumer of a kind: ``"Dense/0"``, ``"Dense/1"``...

    The count restarts at ``set_seed``, so after ``set_random_seed(s)`` the n-th Dense layer
    created always draws the same initial weights, and a Dropout layer's masks do not
    depend on how many Dense layers exist (different kinds, different streams).
    """
    key = f"#{kind}"
    n = _counters.get(key, 0)
    _counters[key] = n + 1
    return f"{kind}/{n}"


def generator(key="global", seed=None):
    """A new ``np.random.Generator`` for the stream named ``key``.

    Two calls with the same key after the same ``set_seed`` give independent generators
    (a counter is mixed in), reproducibly. An explicit ``seed`` (as in ``Dropout(seed=1)``)
    makes the stream independent of the global seed.
    """
    key_hash = zlib.crc32(str(key).encode())
    n = _counters.get(key, 0)
    _counters[key] = n + 1
    if seed is not None:
        return np.random.default_rng([int(seed), key_hash, n])
    entropy = _root.entropy
    return np.random.default_rng(np.random.SeedSequence([entropy, key_hash, n]))


# ---------------------------------------------------------------------------------------
# keras.random
# ---------------------------------------------------------------------------------------


class SeedGenerator:
    """A stateful source of random numbers, as Keras's ``keras.random.SeedGenerator``.

    Each draw that is given this generator as its ``seed`` advances it, so repeated calls give
    new numbers, and the whole sequence is the same for the same ``seed``.

    Args:
        seed: an ``int``; ``None`` derives one from minidl's global streams (reproducible
            after ``set_random_seed``).

    >>> import minidl as keras
    >>> a = keras.random.normal((2,), seed=keras.random.SeedGenerator(7))
    >>> b = keras.random.normal((2,), seed=keras.random.SeedGenerator(7))
    >>> bool((a.numpy() == b.numpy()).all())
    True
    """

    def __init__(self, seed=None, **kwargs):
        if seed is not None:
            _check_seed(seed, "SeedGenerator")
            self.generator = np.random.default_rng([int(seed), zlib.crc32(b"SeedGenerator")])
        else:
            self.generator = generator("SeedGenerator")
        self.seed = seed

    def get_config(self):
        return {"seed": self.seed}


def _check_seed(seed, owner):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{owner}: seed must be an int, a SeedGenerator or None, got "
                        f"{type(seed).__name__} {seed!r}")


def _draws(seed):
    """The ``np.random.Generator`` for a ``seed`` argument of a ``keras.random`` function."""
    if isinstance(seed, SeedGenerator):
        return seed.generator
    if seed is None:
        return generator("keras.random")
    _check_seed(seed, "keras.random")
    return np.random.default_rng([int(seed), zlib.crc32(b"keras.random")])


def _tensor(array, dtype):
    from minidl import config
    from minidl.array_backend import get_backend
    from minidl.tensor import Tensor

    array = array.astype(dtype or config.floatx(), copy=False)
    return Tensor(get_backend(config.device()).asarray(array))


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normally distributed numbers N(mean, stddev²) of ``shape`` (``floatx`` by default)."""
    return _tensor(_draws(seed).normal(mean, stddev, size=shape), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform numbers in ``[minval, maxval)`` of ``shape`` (``floatx`` by default)."""
    return _tensor(_draws(seed).uniform(minval, maxval, size=shape), dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Uniform integers in ``[minval, maxval)`` of ``shape``."""
    return _tensor(_draws(seed).integers(minval, maxval, size=shape), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """N(mean, stddev²) numbers redrawn until within two standard deviations of the mean."""
    draws = _draws(seed)
    values = draws.normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():  # each pass redraws the ~5% that fell outside
        values[outside] = draws.normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return _tensor(mean + stddev * values, dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout of ``inputs`` (always applied): ``x · mask / (1 - rate)``.

    Differentiable: it applies minidl's ``Dropout`` op with a mask drawn from ``seed``.
    """
    from minidl.ops.nn import dropout as dropout_op

    return dropout_op(inputs, rate, training=True, generator=_draws(seed),
                      noise_shape=None if noise_shape is None else tuple(noise_shape))


def shuffle(x, axis=0, seed=None):
    """``x`` with its entries permuted along ``axis`` (a gather: gradients flow back)."""
    from minidl.tensor import Tensor

    x = x if isinstance(x, Tensor) else Tensor(x)
    order = _draws(seed).permutation(x.shape[axis])
    index = (slice(None),) * (axis % x.ndim) + (order,)
    return x[index]
