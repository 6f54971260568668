"""The random stream of the PyTorch face (initial weights, ``rand``, dropout, shuffling).

It is one of minidl's own streams (``minidl.random``), so ``torch.manual_seed(s)`` repeats
a run exactly; the numbers are minidl's, not PyTorch's (they come from another generator).
"""

from minidl import random as _minidl_random

_generator = None
_made_from = None  # the root seed sequence _generator was made from


def manual_seed(seed):
    """Seed minidl's random streams, so the same program gives the same numbers again.

    Args:
        seed: a non-negative ``int``.

    Returns:
        The face's ``numpy.random.Generator`` (PyTorch returns its generator too).
    """
    _minidl_random.set_seed(seed)
    return generator()


def generator():
    """The face's generator, made anew whenever minidl was seeded again (by
    ``manual_seed`` or ``minidl.utils.set_random_seed``)."""
    global _generator, _made_from
    root = _minidl_random.get_state()["root"]
    if _generator is None or root is not _made_from:
        _generator = _minidl_random.generator("torch")
        _made_from = root
    return _generator


def initial_seed():
    """The seed given to ``manual_seed`` (``None`` before any)."""
    return _minidl_random.get_seed()
