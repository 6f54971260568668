"""Learning-rate schedulers, as ``torch.optim.lr_scheduler``.

A scheduler owns no learning rate of its own: it rewrites ``group["lr"]`` in its optimizer's
``param_groups``, which the optimizer reads at every step. The loop calls it after the
optimizer, usually once per epoch::

    scheduler = lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch()                # optimizer.step() inside
        scheduler.step()                 # last_epoch += 1, then the new lr is written

Creating a scheduler counts as its first step (``last_epoch`` goes from -1 to 0) and
records each group's starting rate as ``group["initial_lr"]`` (``base_lrs``).

Most schedulers are *recursive*, as PyTorch's are: ``StepLR`` multiplies the current rate by
``gamma`` at each boundary instead of computing ``base_lr·gamma^k``, so the rates are the same
floats as PyTorch's (1.0 × 0.7 × 0.7 = 0.48999999999999994, where ``0.7**2`` is 0.49) and a
rate changed by hand between steps is carried forward. ``step(epoch)`` (deprecated in
PyTorch) jumps to ``epoch`` with the closed form.
"""

import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter

from minidl.torch.optim.optimizer import Optimizer

_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` is deprecated (as in PyTorch): call "
    "scheduler.step() without it once per epoch; minidl uses the closed form when it is given."
)


_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`: call them in the "
    "opposite order (optimizer.step() in the batch loop, scheduler.step() after it), "
    "otherwise the first value of the learning-rate schedule is skipped (as in PyTorch)."
)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Argument `{name}` must be an integer > 0. Received: {name}={value!r}")
    return int(value)


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer: pass a "
                        "minidl.torch.optim optimizer (e.g. optim.SGD(model.parameters()))")


class LRScheduler:
    """Base class: the epoch counter, ``base_lrs``, and writing rates into the optimizer.

    Subclasses implement ``get_lr()`` (the rates for ``last_epoch``, usually from the
    current ``group["lr"]``) and may implement ``_get_closed_form_lr()`` (from ``base_lrs``).

    Args:
        optimizer: the ``minidl.torch.optim`` optimizer whose rates are scheduled.
        last_epoch: index of the last epoch; -1 (default) starts a new schedule. A value
            >= 0 resumes one and needs ``"initial_lr"`` in every group.

    Raises:
        TypeError: ``optimizer`` is not an Optimizer.
        KeyError: resuming (``last_epoch >= 0``) without ``initial_lr`` in the groups.
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming a scheduler with last_epoch >= 0: load the "
                                   "optimizer's state_dict first, or use last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        # The first step happens here: last_epoch -1 -> 0, rates for epoch 0 written.
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The rates for ``last_epoch``, one per group (subclasses implement it)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The rates last written into the optimizer, one per parameter group (a list)."""
        return self._last_lr

    def step(self, epoch=None):
        """Advance one epoch and write the new rates into the optimizer's groups.

        Args:
            epoch: deprecated (as in PyTorch): jump to this epoch, with the closed form where
                the scheduler has one.
        """
        self._step_count += 1
        if self._step_count == 2 and getattr(self.optimizer, "_step_count", 1) == 0:
            # The first call after the one in __init__, and the optimizer never stepped.
            warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=2)
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything the scheduler holds except the optimizer (a dict); save it beside the
        optimizer's own ``state_dict()``."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore a state from ``state_dict()``."""
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(last_epoch)`` (not recursive: the factor is absolute).

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index returning a factor, or a list of such
            functions, one per parameter group.
        last_epoch: as ``LRScheduler``.

    Raises:
        ValueError: a list whose length differs from the number of parameter groups.

    Note: ``state_dict()`` cannot hold plain functions; like PyTorch, it keeps ``None`` for
    them and the ``__dict__`` of callable objects.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer(optimizer)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas (one per "
                                 f"parameter group), but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas,
                                                                      self.base_lrs)]

    def state_dict(self):
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType)
                               else dict(fn.__dict__) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        lambdas = state.pop("lr_lambdas", [])
        self.__dict__.update(state)
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Recursive: at a boundary ``lr = lr·gamma`` (so after two boundaries from 1.0 with
    gamma 0.7 the rate is ``1.0·0.7·0.7 = 0.48999999999999994``, as PyTorch's).

    Args:
        optimizer: the optimizer.
        step_size: period of the decay, in epochs (an integer > 0).
        gamma: multiplicative factor (default 0.1).
        last_epoch: as ``LRScheduler``.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch listed in ``milestones``.

    Args:
        optimizer: the optimizer.
        milestones: epoch indices (a milestone listed twice multiplies by ``gamma²``).
        gamma: multiplicative factor (default 0.1).
        last_epoch: as ``LRScheduler``.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch (recursive: ``lr = lr·gamma``).

    Args:
        optimizer: the optimizer.
        gamma: multiplicative factor.
        last_epoch: as ``LRScheduler``.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs.

    The closed form is ``η_t = η_min + (η_0 - η_min)·(1 + cos(π·t/T_max))/2``; like
    PyTorch, each step applies it recursively from the current rate::

        η_t = η_min + (η_{t-1} - η_min) · (1 + cos(π·t/T_max)) / (1 + cos(π·(t-1)/T_max))

    which equals the closed form up to rounding, carries a rate changed by hand forward, and
    past ``T_max`` climbs back up (a cosine, not a restart; PyTorch's special case at
    ``t = T_max + 1 (mod 2·T_max)``, where the ratio would be 0/0, is kept).

    Args:
        optimizer: the optimizer.
        T_max: half-period in epochs (an integer > 0).
        eta_min: the lowest rate (default 0).
        last_epoch: as ``LRScheduler``.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = _positive_int("T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:  # resumed: the closed form at that epoch
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / t_max)) / 2
                    for base_lr in self.base_lrs]
        if (t - 1 - t_max) % (2 * t_max) == 0:  # leaving the minimum: the ratio would be 0/0
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups)]
        return [(1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
                * (group["lr"] - eta_min) + eta_min for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Reduce the rate when a monitored value stops improving (``step(metric)``).

    After more than ``patience`` epochs without improvement, every group's rate becomes
    ``max(lr·factor, min_lr)`` (a change smaller than ``eps`` is skipped), then ``cooldown``
    epochs pass before bad epochs are counted again. "Improvement" in mode ``"min"`` with
    ``threshold_mode="rel"`` means ``metric < best·(1 - threshold)``; ``"abs"``:
    ``metric < best - threshold`` (mirrored for ``"max"``).

    Args:
        optimizer: the optimizer.
        mode: ``"min"`` (default; e.g. a loss) or ``"max"`` (e.g. an accuracy).
        factor: multiplier of the rate, < 1 (default 0.1).
        patience: epochs without improvement that are tolerated (default 10).
        threshold: what counts as an improvement (default 1e-4).
        threshold_mode: ``"rel"`` (default) or ``"abs"``.
        cooldown: epochs to wait after a reduction (default 0).
        min_lr: a lower bound, or a list with one per group (default 0).
        eps: the smallest change of the rate that is applied (default 1e-8).

    Raises:
        ValueError: ``factor >= 1``, an unknown ``mode``/``threshold_mode``, a ``min_lr``
            list of the wrong length.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if not factor < 1.0:
            raise ValueError(f"Factor should be < 1.0 (the rate is multiplied by it). "
                             f"Received: factor={factor!r}")
        _check_optimizer(optimizer)
        self.factor = factor
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs (one per "
                                 f"parameter group), got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode!r} is unknown: use 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode!r} is unknown: use 'rel' or "
                             "'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        """True while the scheduler waits after a reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics, epoch=None):
        """Record this epoch's value of the monitored quantity; reduce the rate if due.

        Args:
            metrics: the value (a number, or anything ``float()`` accepts).
            epoch: deprecated (as in PyTorch).
        """
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the optimizer "
                    f"({len(self.optimizer.param_groups)}) differs from when "
                    f"ReduceLROnPlateau was created ({len(self.min_lrs)}); set "
                    "scheduler.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "CosineAnnealingLR", "ReduceLROnPlateau"]
