"""Adam and AdamW with PyTorch's rule (``torch.optim.Adam``, ``torch.optim.AdamW``)."""

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

_KERNEL, _REFERENCE = update_rule("adam", flavour="pytorch")


class Adam(Optimizer):
    """Adam (and AMSGrad), as ``torch.optim.Adam``.

    For each parameter with a gradient ``g`` (negated when ``maximize``), at its step ``t``::

        g = g + weight_decay·w              # L2 (default); decoupled: w = w·(1 - lr·wd)
        m = m + (1 - β₁)(g - m)
        v = β₂·v + (1 - β₂)·g²
        v̂ = max(v̂, v)  (amsgrad; then v̂ replaces v below)
        w = w - lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + eps)

    ε is added after the bias-corrected square root; Keras adds it to the uncorrected ``√v``,
    which is PyTorch's rule with ``eps·√(1 - β₂ᵗ)``. The fused kernel is the PyTorch flavour
    of the Keras optimizers' Adam (``minidl.optimizers.update_rule("adam", "pytorch")``).
    ``t`` counts the parameter's own steps: a step without a gradient does not count.

    Args:
        params: the parameters, or parameter groups (dicts), to optimize.
        lr: learning rate, >= 0 (default 1e-3).
        betas: ``(β₁, β₂)``, each in [0, 1) (default (0.9, 0.999)).
        eps: added to the denominator, >= 0 (default 1e-8).
        weight_decay: >= 0 (default 0): an L2 term ``weight_decay·w`` added to the gradient,
            or, with ``decoupled_weight_decay=True`` (AdamW), ``w·(1 - lr·weight_decay)``.
        amsgrad: use the running maximum of ``v`` (AMSGrad).
        maximize: ascend the objective instead of descending.
        decoupled_weight_decay: AdamW's decay (see above).
        foreach, capturable, fused: accepted for compatibility; no effect.
        differentiable: must be False.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, a beta outside [0, 1),
            an empty parameter list.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable,
                    "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_lr(group["lr"])
        check_at_least("eps", group["eps"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: must be a pair (beta1, beta2). Received: "
                             f"betas={betas!r}")
        check_in_range("beta parameter at index 0", betas[0], 0.0, 1.0)
        check_in_range("beta parameter at index 1", betas[1], 0.0, 1.0)
        check_at_least("weight_decay", group["weight_decay"])
        check_not_differentiable(group)

    def _update(self, p, grad, group):
        """One Adam update of parameter ``p`` from its gradient ``grad`` (PyTorch's rule)."""
        beta_1, beta_2 = (float(b) for b in group["betas"])
        lr, wd = group["lr"], group["weight_decay"]
        decoupled = bool(group["decoupled_weight_decay"])
        amsgrad = bool(group["amsgrad"])
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = state_array(p)
            state["exp_avg_sq"] = state_array(p)
        if amsgrad and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = state_array(p)
        state["step"] += 1
        t = state["step"]
        # Per step, in float64 (rounded once to the parameter's dtype by fused_update).
        step_size = lr / (1 - beta_1**t)
        bias_correction2_sqrt = (1 - beta_2**t) ** 0.5
        fused_update(
            _KERNEL, _REFERENCE, p, grad,
            (state["exp_avg"], state["exp_avg_sq"],
             state["max_exp_avg_sq"] if amsgrad else None),
            (lr * wd if decoupled else 0.0, step_size, 1 - beta_1, beta_2, 1 - beta_2,
             bias_correction2_sqrt, group["eps"], 0.0 if decoupled else wd,
             flush_threshold(p.data.dtype)),
            (amsgrad,),
        )


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Before each Adam update ``w = w·(1 - lr·weight_decay)``; the decay never enters the
    moments. ``weight_decay`` defaults to 0.01 (Keras's AdamW: 0.004).

    Args:
        params, lr, betas, eps, amsgrad, maximize, foreach, capturable, differentiable,
            fused: as ``Adam``.
        weight_decay: decoupled decay coefficient, >= 0 (default 1e-2).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # AdamW always decouples, whatever was saved
            group["decoupled_weight_decay"] = True
