"""The random stream of the PyTorch face (initial weights, ``rand``, dropout, shuffling).

It is one of minidl's own streams (``minidl.random``), so ``torch.manual_seed(s)`` repeats
a run exactly; the numbers are minidl's, not PyTorch's (they come from another generator).
"""

from minidl import random as _minidl_random

_generator = None


def manual_seed(seed):
    """Seed minidl's random streams, so the same program gives the same numbers again.

    Args:
        seed: a non-negative ``int``.

    Returns:
        The face's ``numpy.random.Generator`` (PyTorch returns its generator too).
    """
    global _generator
    _minidl_random.set_seed(seed)
    _generator = _minidl_random.generator("torch")
    return _generator


def generator():
    """The face's generator (made from minidl's seed on first use)."""
    global _generator
    if _generator is None:
        _generator = _minidl_random.generator("torch")
    return _generator


def initial_seed():
    """The seed given to ``manual_seed`` (``None`` before any)."""
    return _minidl_random.get_seed()
