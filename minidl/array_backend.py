"""Array backends: NumPy on the CPU, CuPy on a GPU, and any device a test registers.

This is the engine's device layer (tensors and ops import it). Keras's ``keras.backend``
namespace, the user-facing one, is ``minidl.backend``: a separate module, so the engine never
imports the Keras face.

Ops never import numpy or cupy by name for their math: they ask ``xp = get_array_module(a)``
for the namespace of the arrays they were given, so one code path serves every device::

    xp = get_array_module(x)          # numpy for host arrays, cupy for GPU arrays
    return xp.maximum(x, 0)

A ``Backend`` is a device: a name (``"cpu"``, ``"gpu"``), its array namespace ``xp``, and
its array type. The CuPy backend is imported lazily, the first time the GPU is asked for;
``import minidl`` never imports, and never warns about, CuPy.

Mixing devices is refused in one place, ``get_array_module(*arrays)``: given a host array
and a device array it raises ``DeviceMismatchError`` naming both devices (CuPy itself would
only say ``Unsupported type <class 'numpy.ndarray'>``). All-NumPy calls take a fast path
(``type(a) is np.ndarray``), so the check costs nothing measurable on the CPU.

Random numbers (dropout masks, initial weights, shuffling) are drawn on the host from
minidl's seeded NumPy generators and then moved to the device (``Backend.uniform``). That
makes ``set_random_seed`` give the *same* masks and weights on every device, at the price
of one host-to-device copy per draw (a few hundred kilobytes per step for an MLP).
"""

import numpy as np

from minidl.errors import BackendUnavailableError, DeviceMismatchError


class Backend:
    """A device: a name, its array namespace ``xp`` and its array type.

    Args:
        name: the device name users pass to ``set_device`` / ``Tensor.to`` / ``model.to``.
        xp: the array namespace (``numpy``, ``cupy``, or a stand-in with NumPy's API).
        array_type: the class of this device's arrays; ``get_array_module`` and
            ``backend_of`` recognise arrays of this exact type (and subclasses).
    """

    def __init__(self, name, xp, array_type=None):
        self.name = name
        self.xp = xp
        self.array_type = array_type

    def asarray(self, data, dtype=None):
        """Move ``data`` (a NumPy array, a nested list, a number) onto this device."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        """Return ``array`` as a NumPy array (a copy off the device where needed)."""
        return np.asarray(array)

    def uniform(self, generator, shape, dtype):
        """Uniform [0, 1) numbers of ``shape`` on this device, drawn from ``generator``.

        The draw happens on the host (``generator`` is a ``numpy.random.Generator`` from
        ``minidl.random``), then the result is moved here: the same seed gives the same
        numbers on every device.
        """
        return self.asarray(generator.random(shape, dtype=np.dtype(dtype)))

    def erf(self, x):
        """The error function elementwise, for special functions ``xp`` does not have.

        NumPy has no ``erf``: on the CPU ``minidl.ops.elementwise.erf`` uses its Numba kernel.
        A device backend overrides this (CuPy: ``cupyx.scipy.special.erf``).
        """
        raise NotImplementedError(f"device '{self.name}' provides no erf")

    def synchronize(self):
        """Wait until the device has finished all queued work (a no-op on the CPU).

        Timing a GPU without it measures only how fast kernels are *launched*.
        """

    def __repr__(self):
        return f"Backend({self.name!r})"


CPU = Backend("cpu", np, np.ndarray)
_backends = {"cpu": CPU}
_by_type = {np.ndarray: CPU}  # exact array type -> Backend: the lookup behind backend_of
_ALIASES = {"cuda": "gpu", "numpy": "cpu", "host": "cpu"}


def _load_gpu_backend():
    """Import CuPy and check that a CUDA device is usable, or say exactly why not."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailableError(
            "device 'gpu' needs CuPy, which is not installed: pip install 'minidl[gpu]' "
            "(CUDA 12), or the cupy wheel for your CUDA version (e.g. cupy-cuda13x)"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, or one too old for this CuPy
        raise BackendUnavailableError(
            f"device 'gpu': CuPy {cupy.__version__} is installed but no CUDA device is usable "
            f"({exc}); check the NVIDIA driver with nvidia-smi, or use device 'cpu'"
        ) from exc
    if count < 1:
        raise BackendUnavailableError(
            f"device 'gpu': CuPy {cupy.__version__} is installed but sees no CUDA device "
            "(is CUDA_VISIBLE_DEVICES empty?); use device 'cpu'"
        )

    class CupyBackend(Backend):
        def to_numpy(self, array):
            return cupy.asnumpy(array)

        def synchronize(self):
            cupy.cuda.get_current_stream().synchronize()

        def erf(self, x):
            import cupyx.scipy.special

            return cupyx.scipy.special.erf(x)

    return CupyBackend("gpu", cupy, cupy.ndarray)


def get_backend(name):
    """Return the backend of a device name.

    Args:
        name: ``"cpu"`` or ``"gpu"`` (aliases: ``"cuda"``, ``"cuda:0"``, ``"numpy"``), a
            name given to ``register_backend``, or a ``Backend``.

    Raises:
        BackendUnavailableError: the GPU was asked for and cannot be used (says why).
        ValueError: an unknown device name.
    """
    if isinstance(name, Backend):
        return name
    key = str(name).lower().split(":")[0]
    key = _ALIASES.get(key, key)
    backend = _backends.get(key)
    if backend is not None:
        return backend
    if key == "gpu":
        return register_backend(_load_gpu_backend())
    raise ValueError(
        f"Unknown device {name!r}; expected one of {sorted(set(_backends) | {'gpu'})}"
    )


def register_backend(backend):
    """Make ``backend`` available by its name and recognise its arrays; returns it.

    Used for the CuPy backend once it loads, and by the tests for a stand-in device.
    """
    _backends[backend.name] = backend
    if backend.array_type is not None:
        _by_type[backend.array_type] = backend
    return backend


def _lookup(array):
    """The Backend of ``array``, or None if it is not an array (a number, None, ...)."""
    backend = _by_type.get(type(array))
    if backend is not None:
        return backend
    if isinstance(array, (np.ndarray, np.generic)):  # subclasses (memmap) and NumPy scalars
        return CPU
    for array_type, backend in _by_type.items():
        if isinstance(array, array_type):
            return backend
    if type(array).__module__.split(".")[0] == "cupy":  # a CuPy array before set_device
        return get_backend("gpu")
    return None


def _describe(array, backend):
    kind = type(array)
    return f"'{backend.name}' ({kind.__module__.split('.')[0]}.{kind.__name__})"


def get_array_module(*arrays):
    """Return the array namespace (``numpy``, ``cupy``, ...) shared by ``arrays``.

    Arguments that are not arrays (Python numbers, ``None``) are ignored; with none at all
    the answer is NumPy.

    Raises:
        DeviceMismatchError: two arrays live on different devices; the message names both.
    """
    found = found_at = None
    for i, a in enumerate(arrays):
        backend = CPU if type(a) is np.ndarray else _lookup(a)
        if backend is None:
            continue
        if found is None:
            found, found_at = backend, i
        elif backend is not found:
            target = found if found is not CPU else backend  # suggest the accelerator
            raise DeviceMismatchError(
                f"expected all arrays on one device, but argument {found_at} is on "
                f"{_describe(arrays[found_at], found)} and argument {i} is on "
                f"{_describe(a, backend)}; move them to one device first, e.g. "
                f"tensor.to('{target.name}') or model.to('{target.name}')"
            )
    return np if found is None else found.xp


def check_same_device(arrays, what="an operation"):
    """Raise ``DeviceMismatchError`` naming ``what`` if ``arrays`` span two devices.

    The cheap guard an op dispatcher can call on every op: all-NumPy inputs return at once.
    """
    for a in arrays:
        if type(a) is not np.ndarray:
            break
    else:
        return
    try:
        get_array_module(*arrays)
    except DeviceMismatchError as exc:
        raise DeviceMismatchError(f"{what}: {exc}") from None


def backend_of(array):
    """Return the ``Backend`` that ``array`` lives on.

    Raises:
        TypeError: ``array`` is not an array of any known device.
    """
    backend = CPU if type(array) is np.ndarray else _lookup(array)
    if backend is None:
        raise TypeError(
            f"backend_of expects an array of a known device ({sorted(_backends)}), got "
            f"{type(array).__name__}"
        )
    return backend


def device_of(array):
    """The device name (``"cpu"``, ``"gpu"``, ...) of ``array``."""
    return backend_of(array).name


def to_device(array, device):
    """``array`` on ``device`` (a name or Backend); the same object if already there."""
    target = get_backend(device)
    source = backend_of(array)
    if source is target:
        return array
    return target.asarray(source.to_numpy(array))

