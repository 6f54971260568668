"""Defaults in one place: float dtype, device, JIT flags.

Every default can be overridden by an environment variable read once at import:

- ``MINIDL_FLOATX``: ``float32`` (default) or ``float64``.
- ``MINIDL_DEVICE``: ``cpu`` (default) or ``gpu``.
- ``MINIDL_JIT``: ``0`` turns the Numba kernels off (their plain NumPy twins run instead);
  ``NUMBA_DISABLE_JIT=1`` does the same.
- ``MINIDL_JIT_WARMUP``: ``0`` stops minidl from setting Numba up on a background thread
  from ``import minidl`` on (the set-up then happens at the first kernel call).
- ``MINIDL_BLAS_THREADS``: ``auto`` (default: minidl chooses, see ``minidl.threads``) or a
  number of BLAS threads for ``fit``/``evaluate``/``predict``.

This module is also ``keras.config`` for ``import minidl as keras`` users:
``keras.config.set_floatx("float64")`` / ``keras.config.floatx()``, and
``keras.config.image_data_format()`` / ``set_image_data_format`` (the layout that image layers
use when their ``data_format`` is None; ``MINIDL_IMAGE_DATA_FORMAT`` overrides it).
"""

import os

_FLOATX_CHOICES = ("float32", "float64")

_floatx = os.environ.get("MINIDL_FLOATX", "float32")
if _floatx not in _FLOATX_CHOICES:
    raise ValueError(f"MINIDL_FLOATX must be one of {_FLOATX_CHOICES}, got {_floatx!r}")

_device = os.environ.get("MINIDL_DEVICE", "cpu").lower()


def _check_blas_threads(value, owner):
    if value == "auto":
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: expected 'auto' or a positive number of threads, got "
                         f"{value!r}")
    return value


_blas_threads = _check_blas_threads(os.environ.get("MINIDL_BLAS_THREADS", "auto"),
                                    "MINIDL_BLAS_THREADS")

_DATA_FORMATS = ("channels_last", "channels_first")
_image_data_format = os.environ.get("MINIDL_IMAGE_DATA_FORMAT", "channels_last")
if _image_data_format not in _DATA_FORMATS:
    raise ValueError(f"MINIDL_IMAGE_DATA_FORMAT must be one of {_DATA_FORMATS}, got "
                     f"{_image_data_format!r}")

# --- Numba flags: the only place they are written down (see minidl/jit.py) ---------------
JIT_ENABLED = os.environ.get("MINIDL_JIT", "1") != "0" and os.environ.get(
    "NUMBA_DISABLE_JIT", "0"
) in ("", "0")
# cache=True: compiled kernels are written next to the source and reused by the next process.
# error_model="numpy": division by zero gives inf/nan like NumPy instead of raising, which
# also lets Numba vectorise loops that divide.
# fastmath: only flags that keep NaN and Inf visible ("nnan"/"ninf" are deliberately absent).
# MINIDL_JIT_WARMUP=0: no background Numba set-up at import (see jit.start_warm_up).
JIT_WARM_UP = os.environ.get("MINIDL_JIT_WARMUP", "1") != "0"
JIT_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
JIT_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def floatx():
    """Return the default float type as a string: ``"float32"`` or ``"float64"``."""
    return _floatx


def set_floatx(value):
    """Set the default float type (``"float32"`` or ``"float64"``).

    Tensors created from Python numbers, layer weights, and optimizer state created
    after this call use it; as in Keras, set it before building a model.
    """
    global _floatx
    if value not in _FLOATX_CHOICES:
        raise ValueError(f"Unknown floatx {value!r}; expected one of {list(_FLOATX_CHOICES)}")
    _floatx = str(value)


def epsilon():
    """The fuzz factor Keras uses in numeric expressions (1e-7)."""
    return 1e-7


def device():
    """Return the default device name: ``"cpu"`` or ``"gpu"``."""
    return _device


def set_device(name):
    """Set the default device for new tensors and models: ``"cpu"`` or ``"gpu"``.

    Raises ``BackendUnavailableError`` at once if the GPU is asked for and cannot be used.
    """
    global _device
    from minidl import array_backend as backend

    _device = backend.get_backend(name).name


def blas_threads():
    """The BLAS thread setting of ``fit``/``evaluate``/``predict``: ``"auto"`` or a number.

    >>> blas_threads()
    'auto'
    """
    return _blas_threads


def set_blas_threads(value):
    """Choose the BLAS threads of ``fit``/``evaluate``/``predict``.

    ``"auto"`` (the default): one thread when a step's largest matrix product is too small
    to gain from more, BLAS's own count otherwise (see ``minidl.threads``). A number: that
    many threads. A thread variable in the environment (``OMP_NUM_THREADS`` and its family)
    wins over both: minidl then leaves BLAS as the variable set it.

    Raises:
        ValueError: ``value`` is neither ``"auto"`` nor a positive integer.
    """
    global _blas_threads
    _blas_threads = _check_blas_threads(value, "set_blas_threads")


def image_data_format():
    """Return the default image layout: ``"channels_last"`` (Keras's default: (batch, height,
    width, channels)) or ``"channels_first"`` ((batch, channels, height, width), PyTorch's).

    >>> image_data_format()
    'channels_last'
    """
    return _image_data_format


def set_image_data_format(data_format):
    """Set the layout that image layers use when their ``data_format`` is None.

    Raises:
        ValueError: ``data_format`` is not ``"channels_last"`` or ``"channels_first"``.
    """
    global _image_data_format
    _image_data_format = standardize_data_format(data_format, "set_image_data_format")


def standardize_data_format(data_format, owner="data_format"):
    """``data_format``, or the global default when it is None, checked (as Keras does).

    Args:
        data_format: ``"channels_last"``, ``"channels_first"`` or None.
        owner: who asks (a layer's name), for the error message.

    Raises:
        ValueError: any other value, naming ``owner`` and the value received.
    """
    if data_format is None:
        return _image_data_format
    value = str(data_format).lower() if isinstance(data_format, str) else data_format
    if value not in _DATA_FORMATS:
        raise ValueError(f"{owner}: data_format must be one of {list(_DATA_FORMATS)} (or None "
                         f"for image_data_format()), got {data_format!r}")
    return value


__all__ = ["floatx", "set_floatx", "epsilon", "device", "set_device", "image_data_format",
           "set_image_data_format", "blas_threads", "set_blas_threads"]
