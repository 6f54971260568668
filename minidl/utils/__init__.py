"""Utilities (``keras.utils``): one-hot labels, seeding, training plots, gradient checks,
drawings of the autograd graph (``plot_graph``) and of a model (``plot_model``).

``gradcheck`` lives in ``minidl.testing`` and the drawing functions in their own modules;
each is imported on first access, so importing ``minidl.utils`` loads none of them.
"""

from minidl.utils.numerical import normalize, to_categorical
from minidl.utils.plotting import plot_history
from minidl.utils.rng import set_random_seed

# Names served lazily by __getattr__: name -> module that defines it.
_LAZY = {
    "gradcheck": "minidl.testing",
    "plot_graph": "minidl.utils.graph",
    "plot_model": "minidl.utils.model_plot",
}


def __getattr__(name):
    # PEP 562: called only for names not found above, i.e. the lazy ones (or typos).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'minidl.utils' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "to_categorical", "normalize", "set_random_seed", "plot_history", "gradcheck", "plot_graph",
    "plot_model",
]
