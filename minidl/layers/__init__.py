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
from minidl.layers.convolutional import Conv1D, Conv2D
from minidl.layers.convolutional_more import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from minidl.layers.core import Activation, Dense
from minidl.layers.embedding import Embedding
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
from minidl.layers.normalization import BatchNormalization
from minidl.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from minidl.layers.preprocessing import (
    Normalization,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from minidl.layers.regularization import Dropout, SpatialDropout1D, SpatialDropout2D
from minidl.layers.reshaping import (
    Cropping2D,
    Flatten,
    Permute,
    Reshape,
    UpSampling2D,
    ZeroPadding2D,
)

LAYERS = {cls.__name__: cls for cls in (
    InputLayer, Dense, Flatten, Dropout, Activation, ReLU, LeakyReLU, Softmax,
    Reshape, Permute, ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout1D,
    SpatialDropout2D, Rescaling, Normalization, RandomFlip, RandomRotation, RandomZoom,
    RandomTranslation, Embedding, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
)}
LAYERS.update({cls.__name__: cls for cls in (
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
)})
# Convolution, pooling and batch normalization (issue 10).
CONV_LAYERS = (Conv1D, Conv2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
               GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
               GlobalMaxPooling2D, BatchNormalization)
LAYERS.update({cls.__name__: cls for cls in CONV_LAYERS})


def get(class_name):
    """The layer class for a saved ``class_name``."""
    if class_name not in LAYERS:
        raise ValueError(f"Unknown layer class {class_name!r}. Known: {sorted(LAYERS)}")
    return LAYERS[class_name]


__all__ = [
    "Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Layer", "LeakyReLU",
    "ReLU", "Softmax", "assign_checked", "clear_session", "get", "unique_name",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    "Reshape", "Permute", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "SpatialDropout1D",
    "SpatialDropout2D", "Rescaling", "Normalization", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomTranslation", "Embedding", "Conv2DTranspose", "DepthwiseConv2D",
    "SeparableConv2D",
]  # fmt: skip
__all__ += [cls.__name__ for cls in CONV_LAYERS]
