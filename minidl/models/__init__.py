"""Models (``keras.models``): one ``Model`` class and its training loop, and the ways to
build one.

- ``Sequential([...])``: a stack of layers (``sequential.py``);
- ``Model(inputs=..., outputs=...)``: a graph of layer calls (``functional.py``);
- a subclass of ``Model`` with its own ``call`` (``model.py``).

Saving: ``model.save`` / ``load_model`` (minidl's safe format), ``model.to_json`` /
``model_from_json``, ``clone_model``.
"""

from minidl.models.functional import Functional, KerasTensor
from minidl.models.model import Model, clone_model, load_model, model_from_json
from minidl.models.sequential import Sequential

__all__ = ["Functional", "KerasTensor", "Model", "Sequential", "clone_model", "load_model",
           "model_from_json"]
