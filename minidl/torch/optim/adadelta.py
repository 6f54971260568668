"""Adadelta (``torch.optim.Adadelta``)."""

from minidl.optimizers import update_rule
from minidl.torch.optim.optimizer import (
    Optimizer,
    check_at_least,
    check_in_range,
    check_lr,
    check_not_differentiable,
    flush_threshold,
    fused_update,
    state_array,
)

_KERNEL, _REFERENCE = update_rule("adadelta", flavour="pytorch")


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta``.

    For each parameter with a gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay·w                  # L2 weight decay
        s = ρ·s + (1 - ρ)·g²
        Δ = √(a + eps) / √(s + eps) · g
        a = ρ·a + (1 - ρ)·Δ²
        w = w - lr·Δ

    ε is inside both square roots, so the first steps move by about ``lr·√eps``; ``lr``
    (default 1.0) only scales the step the ratio of the two averages gives. The rule is
    the same in Keras (whose defaults differ: lr 1e-3, ρ 0.95, ε 1e-7).

    Args:
        params: the parameters, or parameter groups (dicts), to optimize.
        lr: scale of the step, >= 0 (default 1.0).
        rho: decay of the running averages, in [0, 1] (default 0.9).
        eps: inside both square roots, >= 0 (default 1e-6).
        weight_decay: L2 penalty coefficient, >= 0 (default 0).
        maximize: ascend the objective instead of descending.
        foreach, capturable: accepted for compatibility; no effect.
        differentiable: must be False.

    Raises:
        ValueError: a negative option, ``rho`` outside [0, 1], an empty parameter list.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_lr(group["lr"])
        check_in_range("rho", group["rho"], 0.0, 1.0, high_open=False)
        check_at_least("eps", group["eps"])
        check_at_least("weight_decay", group["weight_decay"])
        check_not_differentiable(group)

    def _update(self, p, grad, group):
        """One Adadelta update of parameter ``p`` from its gradient ``grad`` (PyTorch's rule)."""
        rho = group["rho"]
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["square_avg"] = state_array(p)
            state["acc_delta"] = state_array(p)
        state["step"] += 1
        fused_update(
            _KERNEL, _REFERENCE, p, grad,
            (state["square_avg"], state["acc_delta"]),
            (0.0, group["lr"], rho, 1 - rho, group["eps"], group["weight_decay"],
             flush_threshold(p.data.dtype)),
        )
