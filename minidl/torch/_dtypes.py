"""PyTorch's dtype names, as NumPy dtype objects (``torch.float32 == np.float32`` is true).

minidl keeps one dtype system, NumPy's: ``x.dtype`` of a face tensor is a ``numpy.dtype``,
and these names let PyTorch code write ``torch.float32`` or ``x.to(torch.long)``.
"""

import numpy as np

float32 = float = np.dtype("float32")  # noqa: A001 - torch.float is float32
float64 = double = np.dtype("float64")
float16 = half = np.dtype("float16")
int64 = long = np.dtype("int64")
int32 = int = np.dtype("int32")  # noqa: A001 - torch.int is int32
int16 = short = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
bool = np.dtype("bool")  # noqa: A001 - torch.bool

_default = float32


def get_default_dtype():
    """The dtype of tensors made from Python floats (float32, as in PyTorch)."""
    return _default


def set_default_dtype(dtype):
    """Set the dtype of tensors made from Python floats: ``float32`` or ``float64``.

    Raises:
        TypeError: ``dtype`` is not a floating-point dtype.
    """
    global _default
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype() needs a floating-point dtype, got {dtype}")
    _default = dtype
