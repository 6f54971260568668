"""RMSprop with PyTorch's rule (``torch.optim.RMSprop``)."""

from minidl.optimizers import update_rule
from minidl.torch.optim.optimizer import (
    Optimizer,
    check_at_least,
    check_lr,
    check_not_differentiable,
    flush_threshold,
    fused_update,
    state_array,
)

_KERNEL, _REFERENCE = update_rule("rmsprop", flavour="pytorch")


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    For each parameter with a gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay·w                       # L2 weight decay
        v = α·v + (1 - α)·g²
        a = a + (1 - α)(g - a);  avg = √(v - a²) + eps   (centered)
                                 avg = √v + eps          (otherwise)
        b = momentum·b + g/avg;  w = w - lr·b            (momentum > 0)
                                 w = w - lr·g/avg        (otherwise)

    Unlike Keras's RMSprop, ε is outside the square root and the momentum buffer holds no
    learning rate; there is no bias correction.

    Args:
        params: the parameters, or parameter groups (dicts), to optimize.
        lr: learning rate, >= 0 (default 1e-2).
        alpha: smoothing constant, >= 0 (default 0.99).
        eps: added to the denominator, >= 0 (default 1e-8).
        weight_decay: L2 penalty coefficient, >= 0 (default 0).
        momentum: momentum factor, >= 0 (default 0).
        centered: normalise by the estimated variance ``v - a²`` instead of ``v``.
        maximize: ascend the objective instead of descending.
        capturable, foreach: accepted for compatibility; no effect.
        differentiable: must be False.

    Raises:
        ValueError: a negative ``lr``, ``alpha``, ``eps``, ``momentum`` or ``weight_decay``;
            an empty parameter list.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    "capturable": capturable, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_lr(group["lr"])
        for name in ("eps", "momentum", "weight_decay", "alpha"):
            check_at_least(name, group[name])
        check_not_differentiable(group)

    def _update(self, p, grad, group):
        """One RMSprop update of parameter ``p`` from its gradient ``grad`` (PyTorch's rule)."""
        alpha, momentum = group["alpha"], group["momentum"]
        centered, use_momentum = bool(group["centered"]), momentum > 0
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["square_avg"] = state_array(p)
        # Created when first needed, so switching an option on mid-run works.
        if use_momentum and "momentum_buffer" not in state:
            state["momentum_buffer"] = state_array(p)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = state_array(p)
        state["step"] += 1
        fused_update(
            _KERNEL, _REFERENCE, p, grad,
            (state["square_avg"], state["momentum_buffer"] if use_momentum else None,
             state["grad_avg"] if centered else None),
            (0.0, group["lr"], alpha, 1 - alpha, momentum, group["eps"],
             group["weight_decay"], flush_threshold(p.data.dtype)),
            (centered, use_momentum),
        )
