"""A stand-in device: the GPU code path tested on a machine without a GPU.

CuPy arrays cannot be tested here, but what breaks on them can be: CuPy refuses to turn a
device array into a NumPy array behind the user's back, and refuses to mix NumPy arrays into
its operations. ``StandinArray`` wraps a NumPy array and refuses exactly those things, and
``xp`` is a namespace with NumPy's API over it (only the names CuPy also has). Registered as
the device ``"standin"`` with ``minidl.array_backend.register_backend``, it lets the whole
placement and dispatch logic run: ``model.to("standin")``, then ``fit``/``evaluate``/
``predict``. A stray ``np.`` call on device data, or a host array mixed into a device op,
fails there with a ``TypeError`` that names both devices, instead of on a user's GPU.

What it refuses (as CuPy does):

- implicit conversion to NumPy: ``np.asarray(a)``, ``np.array(a)`` and anything that calls
  ``__array__`` raise ``TypeError`` ("Implicit conversion to a NumPy array is not allowed");
  the explicit ways are ``a.get()`` and ``xp.asnumpy(a)``;
- NumPy arrays as operands: ``a + np_array``, ``xp.maximum(a, np_array)``, assigning a
  non-scalar NumPy array into ``a[...]``; Python numbers and NumPy scalars are fine, and
  NumPy arrays are accepted as *indices* (CuPy copies them to the device);
- names CuPy does not have: ``xp.errstate``, ``xp.seterr``, ...; and ``xp.random``, because
  minidl draws on the host from its seeded generators and then moves the numbers.

Where it is stricter than CuPy (``strict = True``, the default): a NumPy function called
on device data (``np.exp(a)``, ``np.shape(a)``) raises here, while CuPy would dispatch it
to ``cupy.exp`` through NumPy's ``__array_ufunc__``/``__array_function__`` protocols.
minidl's rule is one code path through ``xp = get_array_module(...)``, so such a call is a
bug even where CuPy forgives it. Set
``standin_device.strict = False`` to forward them as CuPy does (to see what would really
fail on a GPU). An operator with a NumPy scalar on the left (``np.float32(2) * a``) reaches
NumPy's ufunc machinery too; it is forwarded in both modes, since CuPy runs it fine.

Results of reductions are 0-d ``StandinArray``s, like CuPy's (not NumPy scalars); ``float``,
``int``, ``bool``, ``.item()`` and ``.tolist()`` read them back, as on CuPy.
"""

import numpy as np

from minidl.array_backend import Backend, register_backend

DEVICE = "standin"

IMPLICIT_MESSAGE = (
    "Implicit conversion to a NumPy array is not allowed (array on device 'standin', as "
    "on a CuPy device). Please use `.get()` or the backend's to_numpy() to construct a "
    "NumPy array explicitly."
)

# Public NumPy names that CuPy 14 does not have (computed from `dir(numpy)` minus
# `dir(cupy)`). Used when CuPy is not installed; with CuPy installed, its own names are used.
_NOT_IN_CUPY = frozenset(
    """False_ ScalarType True_ asmatrix block bmat busday_count busday_offset busdaycalendar
    bytes_ char character clongdouble complex256 core ctypeslib datetime64 datetime_as_string
    datetime_data dtypes einsum_path emath errstate f2py flexible float128 frompyfunc
    fromregex geomspace get_include getbufsize geterr geterrcall histogram_bin_edges info
    insert is_busday isnat little_endian longdouble ma matrix matvec memmap nanpercentile
    nanquantile ndenumerate nditer nested_iters object_ polyder polydiv polyint rec recarray
    record sctypeDict setbufsize seterr seterrcall show_runtime spacing str_ strings test
    timedelta64 typecodes unstack vecdot vecmat void""".split()
)
# Refused even though CuPy has them, with the reason.
_REFUSED = {
    "random": "draw from minidl.random's seeded generators on the host and move the result "
    "with backend.uniform(...), so the same seed gives the same numbers on every device",
}
# Functions that copy host data onto the device on purpose (cupy.asarray(numpy_array)).
_TRANSFERS = frozenset({"asarray", "array", "asanyarray"})


def _cupy_names():
    try:
        import cupy
    except ImportError:
        return None
    return frozenset(dir(cupy))


_CUPY_NAMES = _cupy_names()
# strict=True refuses NumPy functions on device data (minidl's rule); strict=False forwards
# them to ``xp`` as CuPy's __array_function__ does, to see what would really fail on a GPU.
strict = True
transfers = {"to_device": 0, "to_host": 0}  # counters, for tests of how often data moves


def _mixing_error(value, where):
    return TypeError(
        f"{where}: an array on device 'cpu' (numpy.ndarray, shape {np.shape(value)}) cannot be "
        f"mixed with arrays on device '{DEVICE}'; CuPy raises "
        "TypeError: Unsupported type <class 'numpy.ndarray'> here. Move it first with "
        "backend.asarray(...) / Tensor.to(...)"
    )


def _unwrap(value, where, allow_host=False):
    """The NumPy array inside ``value`` (recursing into lists and tuples).

    A bare ``np.ndarray`` is refused unless ``allow_host`` (indices, explicit transfers).
    """
    if type(value) is StandinArray:
        return value._host
    if isinstance(value, np.ndarray):
        if allow_host:
            return value
        raise _mixing_error(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where, allow_host) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where, allow_host) for k, v in value.items()}
    return value


def _wrap(value):
    """Put NumPy results back on the device; reductions give 0-d arrays, as CuPy's do."""
    if isinstance(value, np.ndarray):
        return StandinArray(value)
    if isinstance(value, np.generic):
        return StandinArray(np.asarray(value))
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(_wrap(v) for v in value)
    return value


def _binary(name):
    """An operator like ``__add__``: device arrays and scalars only."""
    op = getattr(np.ndarray, name)

    def method(self, other):
        if type(other) is StandinArray:
            other = other._host
        elif isinstance(other, np.ndarray):
            raise _mixing_error(other, f"operator {name}")
        elif not isinstance(other, (int, float, complex, bool, np.generic)):
            return NotImplemented  # e.g. a minidl Tensor: let its reflected operator run
        result = op(self._host, other)
        if result is NotImplemented:
            return result
        return self if name.startswith("__i") else _wrap(result)

    method.__name__ = name
    return method


def _unary(name):
    op = getattr(np.ndarray, name)

    def method(self):
        return _wrap(op(self._host))

    method.__name__ = name
    return method


def _forward(name):
    """A method like ``sum`` or ``astype``, run on the host array, result on the device."""

    def method(self, *args, **kwargs):
        where = f"StandinArray.{name}"
        args, kwargs = _unwrap(args, where), _unwrap(kwargs, where)
        return _wrap(getattr(self._host, name)(*args, **kwargs))

    method.__name__ = name
    return method


class StandinArray:
    """An array on the stand-in device: a NumPy array that behaves like a CuPy array."""

    __slots__ = ("_host", "__weakref__")
    __array_priority__ = 100  # as cupy.ndarray: NumPy defers binary operators to us
    __hash__ = None

    def __init__(self, host):
        if not isinstance(host, np.ndarray):
            raise TypeError(f"StandinArray wraps a numpy.ndarray, got {type(host).__name__}")
        self._host = host

    # ---- what NumPy must not do with it ------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_MESSAGE)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for value in inputs:  # `np_array + device_array` lands here: name both devices
            if isinstance(value, np.ndarray):
                raise _mixing_error(value, f"numpy.{ufunc.__name__}")
        # `np.float32(2) * device_array` also lands here, through the NumPy scalar's
        # operator; CuPy runs it on the device, and so does the stand-in, even when strict.
        scalar_operator = any(isinstance(v, np.generic) for v in inputs)
        if not strict or scalar_operator:  # as CuPy: numpy.exp(device_array) runs xp.exp
            target = getattr(xp, ufunc.__name__)
            return getattr(target, method)(*inputs, **kwargs) if method != "__call__" \
                else target(*inputs, **kwargs)
        raise TypeError(
            f"numpy.{ufunc.__name__} was called on an array on device '{DEVICE}': use "
            f"xp = minidl.array_backend.get_array_module(x) and xp.{ufunc.__name__}(...) so the "
            "same code runs on the GPU"
        )

    def __array_function__(self, func, types, args, kwargs):
        if not strict:  # as CuPy: numpy.shape(device_array) runs xp.shape
            return getattr(xp, func.__name__)(*args, **kwargs)
        raise TypeError(
            f"numpy.{func.__name__} was called on an array on device '{DEVICE}': use "
            f"xp = minidl.array_backend.get_array_module(x) and xp.{func.__name__}(...) so the "
            "same code runs on the GPU"
        )

    # ---- explicit transfer -------------------------------------------------------------
    def get(self):
        """A NumPy copy of the data (``cupy.ndarray.get``)."""
        transfers["to_host"] += 1
        return self._host.copy()

    # ---- metadata ----------------------------------------------------------------------
    shape = property(lambda self: self._host.shape)
    ndim = property(lambda self: self._host.ndim)
    dtype = property(lambda self: self._host.dtype)
    size = property(lambda self: self._host.size)
    itemsize = property(lambda self: self._host.itemsize)
    nbytes = property(lambda self: self._host.nbytes)
    strides = property(lambda self: self._host.strides)
    flags = property(lambda self: self._host.flags)
    T = property(lambda self: StandinArray(self._host.T))
    device = property(lambda self: DEVICE)
    base = property(lambda self: _wrap(self._host.base) if isinstance(self._host.base,
                                                                    np.ndarray) else None)

    def __len__(self):
        return len(self._host)

    def __iter__(self):
        return (_wrap(row) for row in self._host)

    def __repr__(self):
        body = np.array2string(self._host, separator=", ")
        return f"standin_array({body}, dtype={self.dtype})"

    __str__ = __repr__

    def __format__(self, spec):
        return format(self._host.item() if self._host.size == 1 else self._host, spec)

    # Reading one element back is allowed (CuPy synchronises and copies it).
    def __bool__(self):
        return bool(self._host)

    def __float__(self):
        return float(self._host)

    def __int__(self):
        return int(self._host)

    def item(self):
        return self._host.item()

    def tolist(self):
        return self._host.tolist()

    def __copy__(self):
        return StandinArray(self._host.copy())

    def __deepcopy__(self, memo):
        return StandinArray(self._host.copy())

    # ---- indexing: NumPy index arrays are allowed (CuPy moves them), values are not -----
    def __getitem__(self, index):
        return _wrap(self._host[_unwrap(index, "indexing", allow_host=True)])

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray) and value.ndim > 0:
            raise _mixing_error(value, "item assignment")
        self._host[_unwrap(index, "indexing", allow_host=True)] = _unwrap(
            value, "item assignment", allow_host=True
        )


_BINARY = """add radd sub rsub mul rmul truediv rtruediv floordiv rfloordiv mod rmod pow rpow
matmul rmatmul and rand or ror xor rxor lshift rshift eq ne lt le gt ge iadd isub imul
itruediv ipow imatmul iand ior ixor""".split()
for _name in _BINARY:
    setattr(StandinArray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StandinArray, f"__{_name}__", _unary(f"__{_name}__"))
for _name in """astype reshape sum mean max min argmax argmin all any prod std var cumsum copy
ravel flatten transpose swapaxes squeeze clip round take repeat sort argsort nonzero dot fill
view diagonal trace conj cumprod""".split():
    setattr(StandinArray, _name, _forward(_name))


# ---------------------------------------------------------------------------------------
# The namespace ``xp``
# ---------------------------------------------------------------------------------------


class _Function:
    """A NumPy function over device arrays: unwrap the arguments, wrap the result."""

    def __init__(self, name, func, allow_host=False):
        self.__name__ = name
        self._func = func
        self._allow_host = allow_host

    def __call__(self, *args, **kwargs):
        where = f"xp.{self.__name__}"
        args = _unwrap(args, where, self._allow_host)
        kwargs = _unwrap(kwargs, where, self._allow_host)
        if self._allow_host and args and type(args[0]) is np.ndarray:
            transfers["to_device"] += 1
        return _wrap(self._func(*args, **kwargs))

    def __repr__(self):
        return f"<standin function {self.__name__}>"


class _Ufunc(_Function):
    """A NumPy ufunc: callable, with ``at``/``reduce``/``outer``/``accumulate``."""

    def at(self, a, indices, b=None):
        where = f"xp.{self.__name__}.at"
        args = (_unwrap(a, where), _unwrap(indices, where, allow_host=True))
        if b is not None:
            args += (_unwrap(b, where),)
        self._func.at(*args)

    def __getattr__(self, name):
        if name in ("reduce", "outer", "accumulate"):
            return _Function(f"{self.__name__}.{name}", getattr(self._func, name))
        raise AttributeError(name)


class _Namespace:
    """NumPy's API over ``StandinArray``s, limited to the names CuPy has."""

    def __init__(self, module, prefix):
        self._module = module
        self._prefix = prefix

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _REFUSED:
            raise AttributeError(f"{self._prefix}.{name} is refused on the stand-in device: "
                                 f"{_REFUSED[name]}")
        top = self._prefix == "xp"
        missing = (name not in _CUPY_NAMES) if _CUPY_NAMES is not None and top else (
            name in _NOT_IN_CUPY)
        if missing or not hasattr(self._module, name):
            raise AttributeError(
                f"module 'cupy' has no attribute {name!r}: the stand-in device offers only "
                "what CuPy offers, so this code would fail on a GPU"
            )
        value = getattr(self._module, name)
        if isinstance(value, np.ufunc):
            wrapped = _Ufunc(name, value)
        elif type(value).__name__ == "module":  # xp.lib.stride_tricks: wrapped all the way
            wrapped = _Namespace(value, f"{self._prefix}.{name}")
        elif isinstance(value, type) or not callable(value):
            wrapped = value  # dtypes (xp.float32, xp.intp), constants (xp.pi, xp.newaxis)
        else:
            wrapped = _Function(name, value, allow_host=top and name in _TRANSFERS)
        setattr(self, name, wrapped)  # cache: the next lookup is a plain attribute
        return wrapped

    def asnumpy(self, a):
        """A NumPy copy of a device array (``cupy.asnumpy``); NumPy arrays pass through."""
        return a.get() if type(a) is StandinArray else np.asarray(a)

    def get_array_module(self, *args):
        return self

    def __repr__(self):
        return "<module 'standin' (NumPy behind a CuPy-like device boundary)>"


xp = _Namespace(np, "xp")
xp.linalg = _Namespace(np.linalg, "xp.linalg")
xp.ndarray = StandinArray  # isinstance(a, xp.ndarray) is True for device arrays, as on CuPy


class StandinBackend(Backend):
    """The backend of the stand-in device (register it with ``install()``)."""

    def __init__(self):
        super().__init__(DEVICE, xp, StandinArray)

    def asarray(self, data, dtype=None):
        return xp.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return xp.asnumpy(array)

    def erf(self, x):
        # the host's own erf on the stand-in's host buffer: results equal the CPU bitwise
        from minidl.ops.elementwise import erf as host_erf

        return StandinArray(host_erf(x._host))


BACKEND = StandinBackend()


def install():
    """Register the stand-in device with minidl (idempotent); returns its backend."""
    return register_backend(BACKEND)


def standin(array, dtype=None):
    """Put a NumPy array (or nested list) on the stand-in device."""
    return xp.asarray(array, dtype=dtype)
