"""``nn.Module``: the base class of every PyTorch-style layer and model.

A module keeps three ordered registries, filled by plain attribute assignment
(``__setattr__``): ``_parameters`` (``Parameter``s), ``_buffers`` (tensors that are state
but not trained, like BatchNorm's running mean) and ``_modules`` (sub-modules). Everything
else — ``parameters()``, ``named_parameters()`` with dotted names like ``fc1.weight``,
``state_dict()``, ``train()``/``eval()``, ``to()`` — walks those registries.
"""

import collections

import numpy as np

from minidl.errors import CheckpointError
from minidl.tensor import Tensor as _EngineTensor
from minidl.tensor import no_grad
from minidl.torch._tensor import Tensor, TorchShapeError
from minidl.torch.nn.parameter import Parameter

IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(CheckpointError, RuntimeError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries (PyTorch raises
    ``RuntimeError``; minidl's ``CheckpointError`` is a ``ValueError``: this is both)."""


class Module:
    """Base class of all modules: subclass it, assign layers in ``__init__``, write ``forward``.

    >>> import minidl.torch.nn as nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = nn.Linear(4, 3)
    ...         self.fc2 = nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> [name for name, _ in Net().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call: call "
                "super().__init__() first in your module's __init__"
            )
        if isinstance(value, Parameter):
            self._remove_name(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._remove_name(name)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(torch.nn.Parameter or None expected)"
                )
            self._parameters[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, _EngineTensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a tensor or None expected)")
            self._buffers[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None expected)")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _remove_name(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails: the registries hold the values.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a ``Parameter`` or ``None``) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(torch.nn.Parameter or None expected)")
        self._remove_name(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a tensor that is state but not a weight (saved in ``state_dict`` unless
        ``persistent=False``; moved by ``to()``; never given to optimizers)."""
        self._remove_name(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register ``module`` as a child under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._remove_name(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        module = self
        for part in target.split(".") if target else []:
            module = module._modules[part]
        return module

    def get_parameter(self, target):
        module_path, _, name = target.rpartition(".")
        return self.get_submodule(module_path)._parameters[name]

    # ---- running ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        """The computation; every subclass defines it."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree -------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """``(dotted name, module)`` for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))  # a weight shared by two layers is listed once
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True):
        """``(dotted name, parameter)`` in registration order: ``fc1.weight``, ``fc1.bias``..."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        """The parameters, in registration order (what an optimizer is given)."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ---- modes and bulk changes --------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (Dropout active, BatchNorm updating its statistics) on this
        module and every descendant. Returns the module."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Set evaluation mode (``train(False)``). Returns the module."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (freeze with ``False``). Returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to ``None`` (PyTorch's default) or to zeros."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad = np.zeros_like(param.grad)

    def apply(self, fn):
        """Call ``fn`` on every descendant, then on this module (e.g. a custom init).
        Returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs):
        """Convert every parameter and buffer: ``to(torch.float64)``, ``to("cpu")``.

        The parameters stay the same objects (their ``.data`` is replaced), so an optimizer
        made before keeps working, as in PyTorch. Integer buffers keep their dtype.
        """
        def convert(t):
            if not t.is_floating_point():
                converted = t.to(*[a for a in args if isinstance(a, str)],
                                 **{k: v for k, v in kwargs.items() if k == "device"})
            else:
                converted = t.to(*args, **kwargs)
            return converted.data

        with no_grad():
            for param in self.parameters():
                param.data = convert(param)
                if param.grad is not None:
                    param.grad = param.grad.astype(param.data.dtype)
            for module in self.modules():
                for buffer in module._buffers.values():
                    if buffer is not None:
                        buffer.data = convert(buffer)
        return self

    def float(self):  # noqa: A003
        return self.to(np.dtype("float32"))

    def double(self):
        return self.to(np.dtype("float64"))

    def cpu(self):
        return self.to("cpu")

    def type(self, dst_type):  # noqa: A003
        return self.to(dst_type)

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Every parameter and persistent buffer by dotted name, in registration order.

        The tensors share memory with the module's (detached unless ``keep_vars``), as in
        PyTorch: copy them (``{k: v.clone() ...}``) to keep a snapshot.
        """
        out = collections.OrderedDict() if destination is None else destination
        for name, param in self._parameters.items():
            if param is not None:
                out[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent:
                out[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy the values of ``state_dict`` into this module's parameters and buffers.

        Every entry is checked before anything is copied: on an error the module is left
        as it was.

        Args:
            state_dict: a mapping from dotted names to tensors or arrays.
            strict: raise on missing or unexpected keys (shape mismatches always raise).
            assign: accepted for compatibility; values are always copied in.

        Returns:
            ``(missing_keys, unexpected_keys)``, a named tuple of lists.

        Raises:
            RuntimeError: with ``strict``, missing or unexpected keys; always, a shape
                that differs from the module's (the message lists every problem).
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ".")
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            shape = tuple(np.shape(value.data if isinstance(value, _EngineTensor) else value))
            if shape != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {shape} from "
                    f"checkpoint, the shape in current model is {tuple(target.shape)}."
                )
        if errors:
            raise StateDictError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    value = state_dict[key]
                    target.copy_(value if isinstance(value, _EngineTensor)
                                 else Tensor._wrap(np.asarray(value)))
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ----------------------------------------------------------------------
    def extra_repr(self):
        """The settings shown inside this module's ``repr`` (``in_features=4, ...``)."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        return f"{self._get_name()}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _check_dim(x, expected, name):
    if x.dim() not in expected:
        raise TorchShapeError(
            f"{name}: expected a {' or '.join(f'{d}-D' for d in expected)} input, got "
            f"shape {tuple(x.shape)}"
        )
