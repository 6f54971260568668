"""``torch.save`` / ``torch.load`` for state dicts, in minidl's safe format (never pickle).

What can be saved: nested dicts (string or int keys), lists and tuples of tensors, NumPy
arrays, numbers, strings, booleans and ``None`` — everything a model's or an optimizer's
``state_dict()`` holds. The file is a zip archive with ``minidl_torch.json`` (the structure,
each array replaced by a reference) and ``tensors.npz`` (the arrays, read back with
``allow_pickle=False``). Loading cannot run code, so unlike PyTorch's pickle files a
downloaded checkpoint is safe to open; in exchange, whole modules or arbitrary objects
cannot be saved: save ``model.state_dict()`` and rebuild the model in code.
"""

import io
import json
import os
import zipfile

import numpy as np

from minidl.errors import CheckpointError
from minidl.saving import atomic_write
from minidl.torch._tensor import Tensor, _engine

FORMAT = "minidl.torch"
VERSION = 1
_SUPPORTED = ("dicts (str or int keys), lists and tuples of tensors, NumPy arrays, numbers, "
              "strings, booleans and None, e.g. model.state_dict() or optimizer.state_dict()")


def _encode(obj, arrays, where):
    """The JSON form of ``obj``; its arrays go into ``arrays`` under a reference name."""
    if isinstance(obj, _engine.Tensor):
        ref = f"a{len(arrays)}"
        arrays[ref] = np.asarray(obj.to_numpy())
        return {"tensor": ref, "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        ref = f"a{len(arrays)}"
        arrays[ref] = obj
        return {"ndarray": ref}
    if obj is None or isinstance(obj, (bool, str)):
        return {"value": obj}
    if isinstance(obj, (int, np.integer)):
        return {"int": int(obj)}
    if isinstance(obj, (float, np.floating)):
        return {"float": float(obj)}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"torch.save: dict key {key!r} at {where} is a "
                                f"{type(key).__name__}; keys must be str or int")
            items.append([key, _encode(value, arrays, f"{where}[{key!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(
        f"torch.save cannot save a {type(obj).__name__} (at {where}): minidl saves only "
        f"{_SUPPORTED}. Save model.state_dict() instead of the model itself."
    )


def _decode(node, arrays, path):
    if "tensor" in node:
        t = Tensor._wrap(arrays[node["tensor"]])
        return t.requires_grad_(True) if node.get("requires_grad") else t
    if "ndarray" in node:
        return arrays[node["ndarray"]]
    if "value" in node:
        return node["value"]
    if "int" in node:
        return int(node["int"])
    if "float" in node:
        return float(node["float"])
    if "dict" in node:
        return {key: _decode(value, arrays, path) for key, value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, path) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, path) for v in node["tuple"])
    raise CheckpointError(f"cannot load {path!r}: unknown entry {node!r} (corrupt file?)")


def save(obj, f):
    """Save a state dict (or another nest of tensors and numbers) to the path ``f``.

    The write is atomic: the previous file stays intact if anything fails.

    Raises:
        TypeError: ``obj`` holds something other than what the format supports (a module,
            a function...): the message lists what is supported.
        FileNotFoundError: the folder of ``f`` does not exist.
    """
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)

    def write(file):
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("minidl_torch.json", header)
            archive.writestr("tensors.npz", buffer.getvalue())

    atomic_write(os.fspath(f), write)


def load(f, map_location=None, weights_only=True):
    """Load what ``save`` wrote: tensors come back as ``minidl.torch`` tensors.

    Args:
        f: the path.
        map_location: ``None`` or ``"cpu"`` (minidl loads onto the CPU).
        weights_only: accepted for PyTorch compatibility; minidl's format only ever holds
            data, so loading is always as safe as PyTorch's ``weights_only=True``.

    Raises:
        FileNotFoundError: no file at ``f``.
        CheckpointError: the file is not one ``torch.save`` of minidl wrote (a PyTorch
            pickle, a truncated or corrupt file, a newer format version).
    """
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"torch.load: no file at {path!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "minidl_torch.json" not in names:
                raise CheckpointError(
                    f"cannot load {path!r}: it is not a minidl.torch file (no "
                    "minidl_torch.json inside; PyTorch's own pickle files cannot be read, "
                    "by design: they can run code). minidl loads what its torch.save "
                    f"wrote: {_SUPPORTED}"
                )
            header = json.loads(archive.read("minidl_torch.json"))
            blob = archive.read("tensors.npz")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"cannot load {path!r}: not a minidl.torch file or corrupt ({exc}); minidl "
            f"loads what its torch.save wrote: {_SUPPORTED}"
        ) from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"cannot load {path!r}: format {header.get('format')!r}, "
                              f"expected {FORMAT!r}")
    if header.get("version", 0) > VERSION:
        raise CheckpointError(
            f"cannot load {path!r}: format version {header.get('version')} is newer than "
            f"this minidl reads ({VERSION}); update minidl"
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot load {path!r}: its arrays are unreadable ({exc})") \
            from None
    return _decode(header["tree"], arrays, path)
