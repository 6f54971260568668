"""Adagrad with PyTorch's rule (``torch.optim.Adagrad``)."""

from minidl.optimizers import update_rule
from minidl.torch.optim.optimizer import (
    Optimizer,
    check_at_least,
    check_lr,
    check_not_differentiable,
    fused_update,
    state_array,
)

_KERNEL, _REFERENCE = update_rule("adagrad", flavour="pytorch")


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    For each parameter with a gradient ``g`` (negated when ``maximize``), at its step ``t``::

        g = g + weight_decay·w                  # L2 weight decay
        clr = lr / (1 + (t - 1)·lr_decay)
        s = s + g²                              # s starts at initial_accumulator_value
        w = w - clr·g / (√s + eps)

    Keras puts ε under the square root (``√(s + ε)``) and starts ``s`` at 0.1; PyTorch starts
    it at 0 with ε = 1e-10.

    Args:
        params: the parameters, or parameter groups (dicts), to optimize.
        lr: learning rate, >= 0 (default 1e-2).
        lr_decay: learning-rate decay per step, >= 0 (default 0).
        weight_decay: L2 penalty coefficient, >= 0 (default 0).
        initial_accumulator_value: starting value of ``s``, >= 0 (default 0).
        eps: added to the denominator, >= 0 (default 1e-10).
        maximize: ascend the objective instead of descending.
        foreach, fused: accepted for compatibility; no effect.
        differentiable: must be False.

    Raises:
        ValueError: a negative option, an empty parameter list.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        # As PyTorch, the state exists from the start (state_dict() shows it before a step).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["sum"] = state_array(p, group["initial_accumulator_value"])
        return state

    def _check_group(self, group):
        check_lr(group["lr"])
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_at_least(name, group[name])
        check_not_differentiable(group)

    def _update(self, p, grad, group):
        """One Adagrad update of parameter ``p`` from its gradient ``grad`` (PyTorch's rule)."""
        state = self._init_state(p, group)
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        fused_update(_KERNEL, _REFERENCE, p, grad, (state["sum"],),
                     (0.0, clr, group["eps"], group["weight_decay"]))
