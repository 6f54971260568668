"""The base of PyTorch-style optimizers: parameter groups, per-parameter state, the fused step.

A PyTorch optimizer is configured once and then driven by the training loop::

    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for x, y in loader:
        optimizer.zero_grad()            # every .grad = None
        loss_fn(model(x), y).backward()  # fills .grad
        optimizer.step()                 # reads .grad, updates the weights in place

Three ideas carry over from PyTorch unchanged:

- **Parameter groups.** ``param_groups`` is a list of dicts, each holding a list of
  parameters and the options for them (``lr``, ``momentum``, ...). Options missing from a
  group are taken from ``defaults`` (the constructor's arguments). ``step()`` reads the options
  every time, so ``optimizer.param_groups[0]["lr"] = 1e-4`` (what ``lr_scheduler`` does)
  takes effect on the next step.
- **Per-parameter state.** ``state[param]`` is a dict (moments, buffers, a step count),
  created on the parameter's first step. A parameter whose ``.grad`` is ``None`` is skipped
  and its state does not advance: Adam's bias corrections count that parameter's own steps.
- **state_dict.** Parameters are named by their position (0, 1, ... over the groups in order),
  so a state saved from one model loads into a fresh copy of it.

What minidl adds: the update of one parameter is one fused Numba kernel from
``minidl.optimizers``, the PyTorch flavour of the Keras optimizers' rule
(``update_rule(name, flavour="pytorch")``): the same loop shape, state layout and denormal
flush, with PyTorch's arithmetic: where ε and the bias corrections go, what a momentum buffer
holds, and weight decay as an L2 term added to the gradient.
"""

import numbers
import warnings
from collections import defaultdict

import numpy as np

from minidl import config, threads
from minidl.array_backend import backend_of, get_array_module
from minidl.errors import DTypeError, ShapeError
from minidl.optimizers import _flush_threshold
from minidl.tensor import Tensor


class _RequiredParameter:
    """Marks an option that has no default (PyTorch's ``optim.optimizer.required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


# ---------------------------------------------------------------------------------------
# Argument checks (constructor and add_param_group; never inside a step)
# ---------------------------------------------------------------------------------------


def _number(name, value):
    """``value`` as a float, or a TypeError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Argument `{name}` must be a number. Received: {name}={value!r} "
                        f"(type {type(value).__name__})")
    return float(value)


def check_at_least(name, value, low=0.0, hint=""):
    """A finite-or-not number ``>= low`` (NaN refused), else ValueError naming ``name``."""
    number = _number(name, value)
    if not number >= low:  # NaN fails every comparison, so it lands here too
        raise ValueError(f"Invalid {name}: must be a number >= {low:g}. Received: "
                         f"{name}={value!r}{hint}")
    return value


def check_in_range(name, value, low, high, high_open=True):
    """A number in ``[low, high)`` (or ``[low, high]``), NaN refused."""
    number = _number(name, value)
    ok = low <= number < high if high_open else low <= number <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(f"Invalid {name}: must be in [{low:g}, {high:g}{bracket}. "
                         f"Received: {name}={value!r}")
    return value


def check_lr(value):
    """The learning rate: a number >= 0 (0 freezes the weights, as in PyTorch)."""
    return check_at_least("lr", value, hint=" (use a small positive value such as 1e-3)")


def check_not_differentiable(group):
    """minidl's steps are not recorded by autograd: ``differentiable=True`` is refused."""
    if group.get("differentiable"):
        raise ValueError("differentiable=True is not supported by minidl (its optimizer steps "
                         "are not recorded by autograd); leave it False")


def flush_threshold(dtype):
    """The magnitude below which the fused kernels set a decaying moment to exactly 0 (the
    Keras optimizers' value, see ``minidl.optimizers``): it keeps the moments out of the
    ~100x slower subnormal range and moves no weight by more than ~1e-23·lr."""
    return _flush_threshold(dtype)


# ---------------------------------------------------------------------------------------
# The fused update of one parameter
# ---------------------------------------------------------------------------------------


def gradient_array(param):
    """``param.grad`` as an array of the parameter's shape and dtype, or ``None``.

    ``.grad`` may be an array or a Tensor (the torch face's tensors carry a Tensor there).
    """
    grad = param.grad
    if grad is None:
        return None
    if isinstance(grad, Tensor):
        grad = grad.data
    data = param.data
    if grad.shape != data.shape:
        raise ShapeError(f"the gradient of a parameter of shape {tuple(data.shape)} has shape "
                         f"{tuple(grad.shape)}; .grad must have the parameter's shape")
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)  # as the Keras optimizers (PyTorch would refuse it)
    return grad


def state_array(param, value=0.0):
    """A new state array for ``param``: its shape, dtype and device, filled with ``value``.

    C-ordered whatever the parameter's layout (``zeros_like`` of a transposed view would be
    Fortran-ordered, and its flat view a copy the kernel's update would be lost in).
    """
    return get_array_module(param.data).full(param.data.shape, value, dtype=param.data.dtype)


def fused_update(kernel, reference, param, grad, slots, numbers_, flags=()):
    """Run one update rule on ``param`` in place: the Numba ``kernel`` on NumPy arrays when
    the JIT is on, its xp twin ``reference`` otherwise (CuPy, or ``MINIDL_JIT=0``).

    Args:
        kernel, reference: a rule from ``minidl.optimizers`` (same signature).
        param: the Tensor to update; its ``.data`` is overwritten and its version bumped, so
            a graph that saved the old value refuses to run ``backward``.
        grad: the gradient array (the parameter's shape and dtype).
        slots: the state arrays the rule takes, in its order (an unused slot: ``None``).
        numbers_: the rule's numeric arguments after the slots, cast here to the parameter's
            dtype (a float64 scalar would widen a float32 loop and stop it vectorising).
        flags: the rule's boolean arguments, which come last.
    """
    data = param.data
    dtype = data.dtype
    xp = get_array_module(data)
    # Flat views: the kernel updates the state in place (state_array makes them C-ordered).
    flat_slots = [xp.empty(0, dtype=dtype) if s is None else s.reshape(-1) for s in slots]
    # One conversion for all the numbers (per-scalar dtype.type() calls cost more than a
    # small parameter's whole update).
    typed = (*np.array(numbers_, dtype=dtype), *flags)
    contiguous = data.flags.c_contiguous
    if contiguous:
        flat = data.reshape(-1)  # a view: the update lands in param.data
    else:  # rare (a transposed view): update a contiguous copy and write it back
        flat = xp.ascontiguousarray(data).reshape(-1)
    flat_grad = xp.ascontiguousarray(grad).reshape(-1)
    use_kernel = config.JIT_ENABLED and type(flat) is np.ndarray
    (kernel if use_kernel else reference)(flat, flat_grad, *flat_slots, *typed)
    if not contiguous:
        data[...] = flat.reshape(data.shape)
    param._version += 1


# ---------------------------------------------------------------------------------------
# Optimizer
# ---------------------------------------------------------------------------------------


class Optimizer:
    """Base class of PyTorch-style optimizers (``torch.optim.Optimizer``).

    Subclasses pass their options as ``defaults`` and implement ``step()``, usually by
    looping over ``param_groups`` and calling ``fused_update`` for each parameter with a
    gradient; they may override ``_check_group(group)`` to validate a group's options.

    Args:
        params: an iterable of Tensors, of dicts (parameter groups: ``{"params": [...],
            "lr": ...}``), or of ``(name, Tensor)`` pairs (``model.named_parameters()``).
        defaults: the options, used for every group that does not set them.

    Raises:
        ValueError: an empty parameter list, a parameter in two groups, a non-leaf tensor,
            an option out of range.
        TypeError: ``params`` is a single Tensor or a set, or holds something that is not a
            floating-point Tensor.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        # state[param] -> dict; keyed by the Tensor itself (hashed by identity, and kept
        # alive by the key), never by id(), whose numbers are reused after garbage collection.
        self.state = defaultdict(dict)
        self.param_groups = []
        self._step_count = 0  # calls of step(), for lr_scheduler's order warning
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor: wrap it in a list, [param]")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list: params=[]. Pass "
                             "model.parameters() after the model's layers are created")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups -----------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group of parameters with its own options (e.g. a layer unfrozen later).

        Args:
            param_group: a dict with ``"params"`` (a Tensor or an iterable of them, or of
                ``(name, Tensor)`` pairs) and any options; missing options come from
                ``defaults``.

        Raises:
            ValueError: a parameter already in another group, a required option missing,
                an option out of range, a non-leaf tensor.
            TypeError: ``param_group`` is not a dict, ``params`` is a set, or a parameter is
                not a floating-point Tensor.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)  # the caller's dict is not changed
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change "
                            "between runs. Please use a list instead.")
        elif params is None:
            raise ValueError("param_group must have a 'params' key with the parameters")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError("all optimizer params should be with/without names. Some param "
                             "names are missing")
        for i, p in enumerate(params):
            data = getattr(p, "data", None)
            if not isinstance(p, Tensor) or data.dtype.kind != "f":
                what = type(p).__name__ + (f" with dtype {data.dtype}"
                                           if isinstance(p, Tensor) else "")
                raise DTypeError(f"optimizer can only optimize floating-point Tensors, but "
                                 f"parameter {i} is a {what}")
            if p._op is not None:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter {i} was computed "
                                 "by an operation); optimize the leaf it came from, or "
                                 "call .detach() and set requires_grad")
        group["params"] = params
        if names:
            group["param_names"] = names
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        self._check_group(group)
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "each step would update them more than once", stacklevel=3)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check_group(self, group):
        """Validate a group's options (subclasses check theirs; raise ValueError)."""

    # ---- gradients ----------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter.

        Args:
            set_to_none: ``True`` (default, as PyTorch): ``.grad = None``, so the next
                ``step()`` skips a parameter that gets no gradient. ``False``: gradients
                become zeros of the parameter's shape (a zero gradient still moves a
                parameter under momentum or weight decay).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif isinstance(p.grad, Tensor):
                    # A fresh array: the old one may be shared with another tensor's .grad.
                    p.grad.data = get_array_module(p.grad.data).zeros_like(p.grad.data)
                else:
                    p.grad = get_array_module(p.grad).zeros_like(p.grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient once, with this optimizer's rule.

        Parameters whose ``.grad`` is ``None`` are skipped, and their state does not
        advance (as PyTorch); with ``maximize`` the gradient's sign is flipped first. The
        rule itself, one parameter at a time, is the subclass's ``_update``.

        Args:
            closure: optional callable that recomputes the loss (and the gradients) and
                returns it; it is called first and its value returned.

        Returns:
            The closure's loss, or ``None``.
        """
        self._step_count += 1  # schedulers check that the optimizer stepped before them
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                grad = gradient_array(p)
                if grad is None:
                    continue  # PyTorch skips parameters without a gradient
                if group["maximize"]:
                    grad = -grad
                self._update(p, grad, group)
        threads.optimizer_stepped()  # an open `minidl.threads.auto()` block decides here
        return loss

    def _update(self, p, grad, group):
        """Apply the update rule to one parameter ``p`` (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} defines no update rule (_update)")

    # ---- state_dict ---------------------------------------------------------------------
    def _indexed_params(self):
        """(index, param) over all groups in order: the names state_dict uses."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield index, p
                index += 1

    def state_dict(self):
        """The optimizer's state as a dict, with PyTorch's layout.

        Returns:
            ``{"state": {index: {name: value}}, "param_groups": [{option: value, ...,
            "params": [index, ...]}]}``. Parameters are named by their position over the
            groups in order. Arrays are returned as new Tensors (copies: later steps do not
            change a saved state dict); ``step`` counts are Python numbers.
        """
        state = {}
        for index, p in self._indexed_params():
            if p in self.state and self.state[p]:
                state[index] = {key: _copy_state_value(value)
                                for key, value in self.state[p].items()}
        groups = []
        index = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(index, index + len(group["params"])))
            index += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a state from ``state_dict()`` (this optimizer's, or a real PyTorch one's).

        Every group's options are taken from the saved groups (the parameters stay this
        optimizer's); arrays are copied in, cast to each parameter's dtype. Everything is
        checked before anything changes.

        Raises:
            ValueError: another number of groups, a group of another size, or a saved array
                whose shape differs from its parameter's.
        """
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise ValueError("load_state_dict expects the dict returned by state_dict(), with "
                             f"keys 'state' and 'param_groups'; got {type(state_dict).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups: "
                             f"{len(saved_groups)} saved, {len(self.param_groups)} here")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't "
                                 f"match the size of optimizer's group: group {i} has "
                                 f"{len(saved['params'])} parameters saved and "
                                 f"{len(group['params'])} here")
        by_saved_index = {}
        for saved, group in zip(saved_groups, self.param_groups):
            by_saved_index.update(zip(saved["params"], group["params"]))
        new_state = defaultdict(dict)
        for index, values in (state_dict.get("state") or {}).items():
            p = by_saved_index.get(index)
            if p is None:
                continue  # as PyTorch: state of a parameter that is not here is dropped
            new_state[p] = {key: _load_state_value(key, value, p) for key, value in
                            values.items()}
        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            new_group = {k: v for k, v in saved.items() if k != "params"}
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        for group in new_groups:
            self._check_group(group)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_state_value(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return Tensor(value.copy())
    return value


def _load_state_value(key, value, param):
    """A saved state value as this optimizer keeps it: arrays in the parameter's dtype and
    on its device, the step count as an int."""
    if key == "step":
        return int(float(np.asarray(_to_numpy(value))))
    if value is None or isinstance(value, (bool, numbers.Number)):
        return value
    array = np.asarray(_to_numpy(value))
    if array.shape != param.data.shape:
        raise ValueError(f"saved optimizer state '{key}' has shape {array.shape}, but its "
                         f"parameter has shape {tuple(param.data.shape)}; was the state saved "
                         "from another model?")
    # Always a copy (never sharing memory with the saved dict or a torch tensor), C-ordered.
    return backend_of(param.data).asarray(np.array(array, dtype=param.data.dtype, order="C"))


def _to_numpy(value):
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a real torch.Tensor
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) and hasattr(value, "get"):  # a CuPy array
        value = value.get()
    return value
