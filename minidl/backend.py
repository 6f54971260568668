"""Keras's ``keras.backend`` namespace: session and numeric defaults, values of variables.

    >>> import minidl as keras
    >>> keras.backend.floatx(), keras.backend.epsilon()
    ('float32', 1e-07)

This is the user-facing module. The engine's device layer (NumPy/CuPy arrays, ``xp``) is
``minidl.array_backend``; the engine never imports this module. The device functions are
re-exported here only so that code written against earlier minidl versions
(``minidl.backend.get_backend("gpu")``) keeps working.
"""

import numpy as np

from minidl import config
from minidl.array_backend import (  # noqa: F401  (kept importable from their old home)
    CPU,
    Backend,
    _backends,
    _by_type,
    backend_of,
    check_same_device,
    device_of,
    get_array_module,
    get_backend,
    register_backend,
    to_device,
)
from minidl.errors import DeviceMismatchError  # noqa: F401

floatx = config.floatx
set_floatx = config.set_floatx
epsilon = config.epsilon


def image_data_format():
    """The image layout convolution layers expect: ``"channels_last"`` unless configured."""
    get = getattr(config, "image_data_format", None)
    return get() if get is not None else "channels_last"


def clear_session():
    """Reset the automatic names of layers and metrics (``dense``, ``dense_1``, ...).

    As in Keras, call it between independent experiments in one process so the next
    model's layers are named ``dense``, ``dense_1`` again and a new ``Precision()`` is
    ``precision``, not ``precision_1``.
    """
    from minidl.layers import clear_session as reset_names

    reset_names()


def get_value(x):
    """The value of a variable as NumPy: a weight ``Tensor``, ``optimizer.learning_rate``.

    Args:
        x: a ``Tensor`` (a layer weight), a learning-rate variable, or anything NumPy can
            convert.

    Returns:
        A NumPy array (or NumPy scalar for a learning rate).
    """
    numpy = getattr(x, "numpy", None)
    if numpy is not None:
        return numpy()
    return np.asarray(x)


def set_value(x, value):
    """Assign ``value`` to the variable ``x`` in place (``x.assign(value)``).

    The classic use: ``keras.backend.set_value(model.optimizer.learning_rate, 1e-4)``.

    Args:
        x: a variable with ``assign``: a weight ``Tensor`` or ``optimizer.learning_rate``.
        value: the new value (same shape for a weight).

    Raises:
        TypeError: ``x`` cannot be assigned to (a plain array or number, or the rate of an
            optimizer driven by a schedule).
    """
    assign = getattr(x, "assign", None)
    if assign is None:
        raise TypeError(
            f"set_value expects a variable with assign() (a layer weight or "
            f"optimizer.learning_rate), got {type(x).__name__} {x!r}. A learning rate driven "
            "by a schedule cannot be set: give the optimizer a float rate instead"
        )
    assign(value)


def set_image_data_format(data_format):
    """``keras.backend.set_image_data_format``: see ``minidl.config.set_image_data_format``."""
    config.set_image_data_format(data_format)


__all__ = ["clear_session", "epsilon", "floatx", "get_value", "image_data_format",
           "set_floatx", "set_value", "set_image_data_format"]
