"""Layers, with Keras's lifecycle, grouped by family as Keras groups them.

1. ``__init__`` stores the configuration (no weights yet),
2. ``build(input_shape)`` creates the weights, on the first call, when the input size is
   known,
3. ``call(inputs, training=False)`` holds the math, written with minidl's ops,
4. ``compute_output_shape`` and ``get_config`` complete it (for ``summary`` and saving).

    >>> import numpy as np
    >>> layer = Dense(3, activation="relu")
    >>> y = layer(np.ones((2, 4), dtype="float32"))   # builds a (4, 3) kernel, then calls
    >>> layer.kernel.shape, y.shape
    ((4, 3), (2, 3))

``base.py`` holds ``Layer`` and ``Input``; each other file one family of layers.
"""

from minidl.layers.activations import LeakyReLU, ReLU, Softmax
from minidl.layers.base import (
    Input,
    InputLayer,
    Layer,
    assign_checked,
    clear_session,
    unique_name,
)
from minidl.layers.core import Activation, Dense
from minidl.layers.core_lambda import Lambda
from minidl.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from minidl.layers.regularization import Dropout
from minidl.layers.reshaping import Flatten

LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Dense, Flatten, Dropout, Activation, ReLU, LeakyReLU, Softmax,
)}
LAYERS["Lambda"] = Lambda
LAYERS.update({cls.__name__: cls for cls in (
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
)})


def get(class_name):
    """The layer class for a saved ``class_name``."""
    if class_name not in LAYERS:
        raise ValueError(f"Unknown layer class {class_name!r}. Known: {sorted(LAYERS)}")
    return LAYERS[class_name]


__all__ = [
    "Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "LeakyReLU",
    "ReLU", "Softmax", "assign_checked", "clear_session", "get", "unique_name",
    "Lambda",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
]  # fmt: skip
