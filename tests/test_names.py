"""Keras names beyond the core: ``keras.backend``, regularizer shortcuts, ``Lambda``, ...

Each test runs a Keras program's lines (only the import changed) and checks the result
against a hand computation or Keras's documented behaviour.
"""

import ast
import pathlib

import numpy as np
import pytest

import minidl as keras

PACKAGE = pathlib.Path(keras.__file__).parent


# ---- item 7: one backend name, one meaning -------------------------------------------------


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("path", [
    *sorted((PACKAGE / "ops").glob("*.py")),
    PACKAGE / "tensor.py", PACKAGE / "array_backend.py", PACKAGE / "jit.py",
    PACKAGE / "config.py", PACKAGE / "optimizers.py", PACKAGE / "losses.py",
    PACKAGE / "cuda_kernels.py",
], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_engine_never_imports_the_keras_face(path):
    imported = set(_imported_modules(path))
    assert "minidl.backend" not in imported, f"{path.name} imports minidl.backend"
    assert not {m for m in imported if m.startswith("minidl.layers")}, path.name


def test_keras_backend_is_its_own_module_and_the_array_layer_another():
    from minidl import array_backend

    assert keras.backend is not array_backend
    assert keras.backend.floatx() == "float32"
    assert keras.backend.epsilon() == 1e-7  # Keras's documented fuzz factor
    assert keras.backend.image_data_format() == "channels_last"
    # The device functions keep working from their old home, as the same objects.
    assert keras.backend.get_array_module is array_backend.get_array_module
    assert keras.backend.get_array_module(np.ones(2)) is np


def test_clear_session_restarts_layer_names():
    keras.backend.clear_session()
    first = keras.layers.Dense(2)
    second = keras.layers.Dense(2)
    keras.backend.clear_session()
    again = keras.layers.Dense(2)
    assert (first.name, second.name, again.name) == ("dense", "dense_1", "dense")
