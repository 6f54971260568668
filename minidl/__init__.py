"""minidl: a readable deep-learning engine on NumPy with a Keras-compatible API.

Use it like Keras::

    import minidl as keras
    model = keras.Sequential([keras.layers.Dense(10, activation="softmax")])

or like PyTorch, on the same objects::

    loss = loss_fn(y, model(x, training=True)); loss.backward(); optimizer.step(model.parameters())

The engine underneath is ``minidl.Tensor`` (``minidl/tensor.py``) and the ops in
``minidl/ops``.
"""

from minidl import (
    activations,
    array_backend,
    backend,
    callbacks,
    config,
    datasets,
    debug,
    initializers,
    jit,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    threads,
    utils,
)
from minidl.errors import (
    BackendUnavailableError,
    CheckpointError,
    DeviceMismatchError,
    DTypeError,
    GraphError,
    MinidlError,
    NonFiniteError,
    NotCompiledError,
    ShapeError,
)
from minidl.layers import Input
from minidl.models import Model, Sequential, load_model
from minidl.tensor import Op, Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"

# `import minidl as tf` then `tf.keras.layers.Dense`: the Keras namespace is minidl itself.
keras = __import__("sys").modules[__name__]

# Numba's one-time set-up (~0.5 s) runs on a background thread while the program loads its
# data, instead of inside the first training step (minidl/jit.py, start_warm_up).
jit.start_warm_up()

__all__ = [
    "activations", "backend", "callbacks", "config", "datasets", "debug", "initializers", "layers",
    "losses", "metrics", "models", "ops", "optimizers", "random", "regularizers", "saving",
    "threads", "utils",
    "BackendUnavailableError", "CheckpointError", "DeviceMismatchError", "DTypeError",
    "GraphError", "MinidlError", "NonFiniteError", "NotCompiledError", "ShapeError", "Input",
    "Model", "Sequential", "load_model", "Op", "Tensor", "enable_grad", "is_grad_enabled",
    "no_grad", "tensor", "array_backend",
]  # fmt: skip
