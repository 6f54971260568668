"""SGD with PyTorch's rule (``torch.optim.SGD``)."""

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

_KERNEL, _REFERENCE = update_rule("sgd", flavour="pytorch")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (``torch.optim.SGD``).

    For each parameter with a gradient ``g`` (negated when ``maximize``)::

        g = g + weight_decay·w                       # L2 weight decay, added to the gradient
        b = g                      on the first step  # the momentum buffer (momentum != 0)
        b = momentum·b + (1 - dampening)·g  later
        g = g + momentum·b  (nesterov)  or  g = b
        w = w - lr·g

    The buffer holds no learning rate (Keras's SGD keeps ``-lr·b`` instead), so changing
    ``lr`` mid-training (``lr_scheduler``) scales the next steps only, as in PyTorch.

    Args:
        params: the parameters, or parameter groups (dicts), to optimize.
        lr: learning rate, >= 0 (default 1e-3, PyTorch's).
        momentum: momentum factor, >= 0 (default 0: no buffer).
        dampening: dampening of the gradient in the buffer (default 0).
        weight_decay: L2 penalty coefficient, >= 0 (default 0).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend the objective instead of descending.
        foreach, fused: accepted for compatibility; minidl always runs one fused kernel per
            parameter.
        differentiable: must be False.

    Raises:
        ValueError: ``lr``, ``momentum`` or ``weight_decay`` negative (or NaN), Nesterov
            without momentum or with dampening, an empty parameter list.

    >>> import numpy as np
    >>> from minidl import Tensor
    >>> w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> w.grad = np.array([1.0, -1.0])
    >>> SGD([w], lr=0.1).step()
    >>> w.data
    array([0.9, 2.1])
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)

    def _check_group(self, group):
        check_lr(group["lr"])
        check_at_least("momentum", group["momentum"])
        check_at_least("weight_decay", group["weight_decay"])
        check_at_least("dampening", group["dampening"], low=float("-inf"))
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening. "
                             f"Received: momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r}")
        check_not_differentiable(group)

    def _update(self, p, grad, group):
        """One SGD update of parameter ``p`` from its gradient ``grad`` (PyTorch's rule)."""
        momentum = group["momentum"]
        use_momentum = momentum != 0
        buffer, first_step = None, False
        if use_momentum:
            state = self.state[p]
            buffer = state.get("momentum_buffer")
            if buffer is None:  # PyTorch starts the buffer at the first gradient
                buffer = state["momentum_buffer"] = state_array(p)
                first_step = True
        fused_update(
            _KERNEL, _REFERENCE, p, grad, (buffer,),
            (0.0, group["lr"], momentum, 1 - group["dampening"], group["weight_decay"],
             flush_threshold(p.data.dtype)),
            (use_momentum, bool(group["nesterov"]), first_step),
        )
