"""Saving and loading models and weights, safely.

The format is minidl's own and deliberately plain: a zip archive holding

- ``minidl.json``: format name and version, the model's architecture and compile settings,
  and a manifest (name, shape, dtype) of every array,
- ``weights.npz``: the weights, in layer order,
- ``optimizer.npz``: the optimizer's state (when there is one).

Safety rules:

- loading never unpickles (``allow_pickle=False``): a checkpoint cannot run code;
- every name, shape and dtype is checked against the model *before* anything is assigned;
  a file that cannot be trusted raises ``CheckpointError`` naming the path and the reason;
- writes are atomic: a temporary file in the same folder, flushed and fsynced, then
  ``os.replace``d over the target (and the folder fsynced, so the rename survives a power
  cut). An exception, a full disk or Ctrl-C during the write leaves the previous file
  byte-identical and removes the temporary file.

What a checkpoint holds is everything a resumed ``fit`` needs to continue bitwise: the
weights, and the optimizer's iteration count, learning rate and slots. The random streams
need nothing saved: ``fit`` derives epoch ``e``'s shuffle and Dropout masks from the seed,
the layer names and ``e`` (see ``Sequential.fit``).

Weights are matched to the model by position (layer order, then each layer's weights), as
Keras does; their names in the file are informational (a model rebuilt in the same session
may have other automatic names), while count, shapes and dtypes must agree.
"""

import contextlib
import io
import json
import os
import secrets
import zipfile

import numpy as np

from minidl.array_backend import backend_of
from minidl.errors import CheckpointError, MinidlError

FORMAT_NAME = "minidl"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------
# Custom objects: what a saved name means when it is not built in
# ---------------------------------------------------------------------------------------

_REGISTERED = {}  # "package>name" -> class or function
_REGISTERED_NAMES = {}  # class or function -> "package>name"
_SCOPES = []  # custom_objects dicts in effect (load_model, custom_object_scope)


class UnknownObjectError(MinidlError, TypeError):
    """A saved class or function name that is neither built in, registered with
    ``register_keras_serializable``, nor given in ``custom_objects`` (a ``TypeError``, as
    Keras raises)."""


def register_keras_serializable(package="Custom", name=None):
    """Decorator that registers a custom layer, model, activation, loss or metric under
    ``"<package>><name>"``, so a saved model that uses it can be loaded (as Keras's
    ``keras.saving.register_keras_serializable``).

    >>> @register_keras_serializable(package="demo")
    ... def mish(x):
    ...     return x * (1 + x.exp()).log().tanh()
    >>> registered_name(mish)
    'demo>mish'

    Args:
        package: a namespace for the name (default ``"Custom"``).
        name: the name to register (default the class's or function's ``__name__``).

    Returns:
        The decorator (it returns the object unchanged).

    Raises:
        ValueError: a name already registered to another object.
    """
    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not obj:
            raise ValueError(f"{key!r} is already registered to {_REGISTERED[key]!r}")
        _REGISTERED[key] = obj
        _REGISTERED_NAMES[obj] = key
        return obj

    return decorator


def registered_name(obj):
    """The name ``obj`` is registered under, or None."""
    try:
        return _REGISTERED_NAMES.get(obj)
    except TypeError:  # an unhashable object
        return None


def get_registered_object(name, custom_objects=None):
    """The object a saved ``name`` means: from ``custom_objects`` (and any in effect), then
    the registry (by ``"package>name"``, or by the bare name); None if unknown."""
    return lookup(name, custom_objects)


def lookup(name, custom_objects=None):
    if not isinstance(name, str):
        return None
    for scope in ([custom_objects] if custom_objects else []) + _SCOPES[::-1]:
        if name in scope:
            return scope[name]
        bare = name.split(">")[-1]
        if bare in scope:
            return scope[bare]
    if name in _REGISTERED:
        return _REGISTERED[name]
    matches = [obj for key, obj in _REGISTERED.items() if key.split(">")[-1] == name]
    return matches[0] if len(matches) == 1 else None


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within this block, names in ``custom_objects`` resolve to those objects (Keras's
    ``keras.saving.custom_object_scope``)."""
    _SCOPES.append(dict(custom_objects or {}))
    try:
        yield
    finally:
        _SCOPES.pop()


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then move it into place.

    On any exception (``KeyboardInterrupt`` included) the temporary file is removed and
    ``path`` is left as it was.

    Raises:
        FileNotFoundError: the folder of ``path`` does not exist.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"cannot save to {path!r}: the folder {folder!r} does not exist; create it first "
            "(os.makedirs(folder, exist_ok=True))"
        )
    tmp, f = _open_temp(folder, os.path.basename(path))
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _open_temp(folder, name):
    """A new temporary file ``.<name>.<random>.tmp`` in ``folder``: ``(path, binary file)``.

    ``O_EXCL`` so an existing file is never reused; mode 0o666 filtered by the umask, so
    the saved file gets the same permissions as any file the user creates (``mkstemp``
    would make it private, 0o600).
    """
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            continue
        return tmp, os.fdopen(fd, "wb")


def _fsync_folder(folder):
    """Make the rename durable (POSIX); folders cannot be opened on Windows: skip there."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _manifest(arrays):
    return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()]


def _weight_arrays(model):
    return {f"{i:04d}:{w.name}": np.asarray(w.to_numpy()) for i, w in enumerate(model.weights)}


def _optimizer_arrays(optimizer):
    if optimizer is None or not hasattr(optimizer, "get_state"):
        return {}, None
    state = optimizer.get_state()
    arrays = {}
    for slot, values in state.get("slots", {}).items():
        for i, v in enumerate(values):
            arrays[f"{slot}:{i:04d}"] = np.asarray(v)
    meta = {k: v for k, v in state.items() if k != "slots"}
    meta["slots"] = {slot: len(values) for slot, values in state.get("slots", {}).items()}
    return arrays, meta


def _write_archive(path, header, weights, optimizer_arrays, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("minidl.json", json.dumps(header, indent=1))
            archive.writestr("weights.npz", _npz_bytes(weights))
            if optimizer_arrays:
                archive.writestr("optimizer.npz", _npz_bytes(optimizer_arrays))

    atomic_write(path, write)


def save_weights(model, path, overwrite=True):
    """Write the model's weights (and no architecture) to ``path``."""
    if not model.built:
        model._require_built("save_weights")
    weights = _weight_arrays(model)
    header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": "weights",
              "weights": _manifest(weights)}
    _write_archive(path, header, weights, {}, overwrite)


def save_model(model, path, overwrite=True):
    """Write architecture, compile settings, weights and optimizer state to ``path``.

    Raises:
        ValueError: a subclassed model whose class is not registered (nothing is
            written: its ``call`` is code, and loading could not find the class).
    """
    if not model.built:
        model._require_built("save")
    model._check_savable()
    from minidl.models.model import serialize_layer

    weights = _weight_arrays(model)
    opt_arrays, opt_meta = _optimizer_arrays(model.optimizer if model.compiled else None)
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": "model",
        "class_name": serialize_layer(model)["class_name"],
        "model_config": model.get_config(),
        "build_input_shape": _json_shape(model.batch_input_shape),
        "compile_config": getattr(model, "_compile_config", None) if model.compiled else None,
        "weights": _manifest(weights),
        "optimizer": None if opt_meta is None else {**opt_meta,
                                                    "arrays": _manifest(opt_arrays)},
    }
    _write_archive(path, header, weights, opt_arrays, overwrite)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _fail(path, reason):
    raise CheckpointError(f"cannot load {os.fspath(path)!r}: {reason}")


def read_archive(path):
    """Read and check a minidl archive: returns (header, weights dict, optimizer dict)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "minidl.json" not in names or "weights.npz" not in names:
                _fail(path, "not a minidl file (minidl.json or weights.npz is missing)")
            header = json.loads(archive.read("minidl.json").decode("utf-8"))
            weights = _read_npz(path, archive.read("weights.npz"))
            optimizer = {}
            if "optimizer.npz" in names:
                optimizer = _read_npz(path, archive.read("optimizer.npz"))
    except zipfile.BadZipFile as exc:
        _fail(path, f"not a minidl file or truncated/corrupt ({exc})")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        _fail(path, f"corrupt header minidl.json ({exc})")
    except (OSError, EOFError, zipfile.LargeZipFile) as exc:
        _fail(path, f"unreadable ({exc})")
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        _fail(path, "not a minidl file (wrong format name)")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        _fail(path, f"corrupt header: format_version is {version!r}, not a version number")
    if version > FORMAT_VERSION:
        _fail(path, f"format version {version} is newer than this minidl understands "
                    f"({FORMAT_VERSION}); upgrade minidl to load it")
    _check_manifest(path, header.get("weights"), weights, "weights")
    if header.get("optimizer"):
        _check_manifest(path, header["optimizer"].get("arrays"), optimizer, "optimizer state")
    return header, weights, optimizer


def _read_npz(path, blob):
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:  # e.g. an object array, which would need pickle
        _fail(path, f"refusing an array that needs pickle ({exc})")
    except Exception as exc:  # noqa: BLE001 - any parse error of untrusted bytes
        _fail(path, f"corrupt array data ({type(exc).__name__}: {exc})")


def _check_manifest(path, manifest, arrays, what):
    """Every array listed once, with the listed shape and dtype; nothing unlisted."""
    if not isinstance(manifest, list):
        _fail(path, f"the {what} manifest is missing")
    for m in manifest:
        if not (isinstance(m, dict) and isinstance(m.get("name"), str)
                and isinstance(m.get("shape"), list) and isinstance(m.get("dtype"), str)):
            _fail(path, f"corrupt {what} manifest entry {str(m)[:80]}")
    names = [m["name"] for m in manifest]
    if sorted(names) != sorted(arrays):
        missing = sorted(set(names) - set(arrays))
        extra = sorted(set(arrays) - set(names))
        _fail(path, f"the {what} do not match their manifest (missing {missing[:5]}, "
                    f"unlisted {extra[:5]})")
    for m in manifest:
        a = arrays[m["name"]]
        if list(a.shape) != list(m["shape"]) or str(a.dtype) != m["dtype"]:
            _fail(path, f"array {m['name']} is {a.dtype}{list(a.shape)}, the manifest says "
                        f"{m['dtype']}{m['shape']}")


def _assign_weights(model, path, arrays):
    weights = model.weights
    values = [arrays[k] for k in sorted(arrays)]
    if len(values) != len(weights):
        _fail(path, f"it holds {len(values)} weight arrays but model '{model.name}' has "
                    f"{len(weights)}")
    for w, v in zip(weights, values):
        if tuple(v.shape) != tuple(w.shape):
            _fail(path, f"weight {w.name} has shape {tuple(w.shape)} in the model but "
                        f"{tuple(v.shape)} in the file")
        if v.dtype.kind != "f":
            _fail(path, f"weight {w.name} has non-float dtype {v.dtype} in the file")
    for w, v in zip(weights, values):  # every check passed: now assign (on w's device)
        w.assign(backend_of(w.data).asarray(v.astype(w.dtype, copy=False)))


def load_weights(model, path):
    """Load weights into a built model (checks everything before assigning)."""
    header, weights, _ = read_archive(path)
    if not model.built:
        model._require_built("load_weights")
    _assign_weights(model, path, weights)


def load_model(path, compile=True, custom_objects=None):
    """Rebuild a model saved by ``save_model``: architecture, weights, optimizer state.

    Args:
        path: the file.
        compile: also restore the compile settings and the optimizer's state.
        custom_objects: ``{name: class or function}`` for the custom layers, models,
            activations, losses and metrics the model uses (not needed for those
            registered with ``register_keras_serializable``).

    Raises:
        CheckpointError: not a minidl model file, or one that cannot be rebuilt.
        UnknownObjectError: (a ``TypeError``) a custom class or function that is neither
            registered nor in ``custom_objects``; the message says how to provide it.
    """
    from minidl.models.model import deserialize_layer

    header, weights, opt_arrays = read_archive(path)
    if header.get("kind") != "model":
        _fail(path, "it holds only weights (saved by save_weights); build the model and call "
                    "model.load_weights(path)")
    class_name = header.get("class_name", "Sequential")
    if not isinstance(class_name, str):
        _fail(path, f"unknown model class {class_name!r}")
    with custom_object_scope(custom_objects):
        try:
            model = deserialize_layer({"class_name": class_name,
                                       "config": header["model_config"]}, custom_objects)
            shape = header.get("build_input_shape")
            if not model.built and shape:
                model.build(_tuple_shape(shape))
        except UnknownObjectError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            _fail(path, f"the architecture cannot be rebuilt ({type(exc).__name__}: {exc})")
        _assign_weights(model, path, weights)
        compile_config = header.get("compile_config")
        if compile and compile_config:
            _compile_from(model, path, compile_config, header.get("optimizer"), opt_arrays)
    return model


def _json_shape(shape):
    if shape is None:
        return None
    if shape and isinstance(shape[0], (list, tuple)):
        return [list(s) for s in shape]
    return list(shape)


def _tuple_shape(shape):
    if shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _compile_from(model, path, compile_config, meta, opt_arrays):
    """Compile ``model`` as it was saved and restore the optimizer's state."""
    from minidl import optimizers

    try:
        model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]),
                      loss=_deserialize_loss(compile_config["loss"]),
                      metrics=compile_config.get("metrics") or None,
                      weighted_metrics=compile_config.get("weighted_metrics") or None,
                      loss_weights=compile_config.get("loss_weights"))
    except (KeyError, TypeError, ValueError) as exc:
        _fail(path, f"the compile settings cannot be restored ({type(exc).__name__}: {exc}); "
                    "for a custom loss or metric, load with compile=False and call "
                    "model.compile(...) yourself")
    if not meta:
        return
    try:
        slots = {slot: [opt_arrays[f"{slot}:{i:04d}"] for i in range(count)]
                 for slot, count in meta.get("slots", {}).items()}
    except (KeyError, TypeError, AttributeError) as exc:
        _fail(path, f"the optimizer state is incomplete ({type(exc).__name__}: {exc})")
    state = {k: v for k, v in meta.items() if k not in ("slots", "arrays")}
    state["slots"] = slots
    try:
        if slots:
            model.optimizer.build(model.trainable_weights)
        model.optimizer.set_state(state)
    except (ValueError, TypeError) as exc:
        _fail(path, f"the optimizer state does not fit the model ({exc})")


def _deserialize_loss(config):
    """A saved loss: a name, a class config, or a list/dict of them (one per output)."""
    from minidl import losses

    if isinstance(config, dict) and "class_name" in config and "config" in config:
        custom = lookup(config["class_name"])
        if custom is not None:
            return custom.from_config(config["config"]) if hasattr(custom, "from_config") \
                else custom
        return losses.get(config)
    if isinstance(config, dict):
        return {k: _deserialize_loss(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_deserialize_loss(v) for v in config]
    return config
