"""Optimizers: Keras 3's update rules, usable Keras-style and PyTorch-style.

Every optimizer updates minidl ``Tensor`` variables **in place** (their ``.data`` arrays are
overwritten and their version counter is bumped, so a graph that saved the old values
refuses to run ``backward``). Two ways to drive the same object:

Keras style (what ``model.fit`` does in Keras)::

    opt = Adam(learning_rate=1e-3)
    opt.apply_gradients(zip(grads, variables))   # grads: arrays or Tensors; None is skipped

PyTorch style (the gradients are read from each variable's ``.grad``)::

    opt = Adam(learning_rate=1e-3)
    opt.build(model.trainable_weights)           # once; or pass the list to step/zero_grad
    loss = loss_fn(y, model(x, training=True))
    opt.zero_grad()                              # .grad = None on every variable
    loss.backward()
    opt.step()                                   # or opt.step(variables)

A step does, in Keras's order: (1) clip the gradients (``clipnorm``, ``clipvalue`` or
``global_clipnorm``), (2) decoupled weight decay ``var -= var·weight_decay·lr``, (3) the
optimizer's rule, (4) ``iterations += 1``. ``t = iterations + 1`` below is the step number.

=========  ==================================================================================
SGD        ``m = momentum·m - lr·g``;  ``var += m``  (Nesterov: ``var += momentum·m - lr·g``);
           without momentum ``var -= lr·g``.
Adam       ``m += (g - m)(1 - β₁)``;  ``v += (g² - v)(1 - β₂)``;  AMSGrad: ``v̂ = max(v̂, v)``;
           ``var -= lr_t·m / (√v + ε)``  with  ``lr_t = lr·√(1 - β₂ᵗ) / (1 - β₁ᵗ)``.
AdamW      Adam with ``weight_decay=0.004`` by default.
RMSprop    ``v = ρv + (1 - ρ)g²``;  centered: ``a = ρa + (1 - ρ)g``, ``d = v - a² + ε``, else
           ``d = v + ε``;  ``Δ = lr·g / √d``;  momentum: ``μ = momentum·μ + Δ``, ``var -= μ``,
           else ``var -= Δ``.
Adagrad    ``acc += g²`` (``acc`` starts at ``initial_accumulator_value``);
           ``var -= lr·g / √(acc + ε)``.
=========  ==================================================================================

Note where these differ from PyTorch's: Keras adds ε to the *uncorrected* ``√v`` (PyTorch adds
it after dividing by ``√(1 - β₂ᵗ)``), RMSprop and Adagrad put ε under the square root, SGD's
momentum buffer holds ``-lr·(PyTorch's buffer)``, and ``weight_decay`` is always decoupled
(PyTorch's ``SGD``/``Adam`` add ``weight_decay·var`` to the gradient instead). With ε = 0 the
two libraries follow the same mathematics; ``tests/test_optimizers.py`` shows it.
``minidl.torch.optim`` runs PyTorch's own forms of these rules with kernels of the same
shape, kept beside these (``update_rule(name, flavour="pytorch")``).

**Speed.** The update of one variable is one fused, in-place Numba kernel (``@kernel``) that
reads each element once and allocates nothing; its plain ``xp`` twin (``_adam_reference``
etc.) does the same arithmetic in the same order with whole-array NumPy/CuPy operations. The
twin runs on CuPy arrays and when the JIT is off, and the tests require the two to agree
bitwise. Scalars are handed to kernels in the variable's dtype: a float64 scalar would widen a
float32 loop and stop it vectorising.

**Denormals.** A moment that stops receiving gradient decays geometrically (``β^t``) until it
becomes a subnormal float, and arithmetic on subnormals is ~100x slower on x86: in float32 a
single MNIST step doubled in time. So the fused updates flush every decaying moment (Adam's
``m``, ``v``; the momentum buffers; RMSprop's ``v`` and ``a``) to exactly 0 once its magnitude
falls below ``1e-30`` in float32 or ``1e-300`` in float64. Those thresholds sit well above the
smallest normal numbers (1.2e-38, 2.2e-308), so no decay step lands in the subnormal range, and
far below anything that can move a weight: with ε = 1e-7, ``|m| < 1e-30`` changes an Adam
update by less than ``1e-23·lr``. (With ``epsilon=0`` a flushed ``v`` can divide by zero, as
an exactly-zero ``v`` would in Keras and PyTorch; keep ε > 0 for training.)

**State.** Slots (momentums, velocities, ...) live in plain lists aligned with the variable
list given to ``build``, with each variable's shape and dtype (float32 model -> float32 state).
``get_state()`` / ``set_state()`` save and restore them for checkpoints (see ``get_state``).
"""

import inspect
import math
import numbers
import warnings

import numpy as np

from minidl import config
from minidl.array_backend import backend_of, get_array_module, get_backend
from minidl.errors import CheckpointError, DTypeError, ShapeError
from minidl.jit import kernel
from minidl.tensor import Tensor

# Below these magnitudes a decaying moment is set to exactly 0 (see "Denormals" above).
_FLUSH_BELOW = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-300}


def _flush_threshold(dtype):
    # Other float dtypes (none today: Tensor turns float16 into float32) get the float32 one.
    return _FLUSH_BELOW.get(np.dtype(dtype), 1e-30)


# ---------------------------------------------------------------------------------------
# Update kernels, each followed by its readable xp twin.
#
# Conventions shared by all of them:
# - every array argument is 1-D and C-contiguous (a flat view of the variable); each kernel
#   updates ``var`` and the slot arrays in place and returns nothing;
# - a slot the configuration does not use (e.g. AMSGrad's v_hat) arrives as an empty array
#   and is never touched;
# - ``decay = weight_decay·lr`` (0 when off), applied first: ``var -= var·decay``;
# - every float scalar has the arrays' dtype; ``tiny`` is the denormal flush threshold.
# The twin performs the same float operations in the same order, so results are bitwise equal.
# ---------------------------------------------------------------------------------------


@kernel
def _sgd_kernel(var, grad, m, decay, lr, momentum, tiny, use_momentum, nesterov):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if use_momentum:
            mi = m[i] * momentum - g * lr
            if abs(mi) < tiny:  # flush what would decay into a subnormal
                mi = zero
            m[i] = mi
            if nesterov:
                w = w + (mi * momentum - g * lr)
            else:
                w = w + mi
        else:
            w = w - g * lr
        var[i] = w


def _sgd_reference(var, grad, m, decay, lr, momentum, tiny, use_momentum, nesterov):
    """SGD (optionally with momentum / Nesterov) with whole-array xp operations."""
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    if use_momentum:
        m[...] = m * momentum - grad * lr
        m[xp.abs(m) < tiny] = 0
        if nesterov:
            var += m * momentum - grad * lr
        else:
            var += m
    else:
        var -= grad * lr


@kernel
def _adam_kernel(var, grad, m, v, v_hat, decay, lr_t, one_minus_beta_1, one_minus_beta_2,
                 epsilon, tiny, amsgrad):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        vi = v[i] + (g * g - v[i]) * one_minus_beta_2
        if abs(mi) < tiny:  # flush what would decay into a subnormal
            mi = zero
        if vi < tiny:  # v >= 0
            vi = zero
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = np.maximum(v_hat[i], vi)  # np.maximum propagates NaN, as the twin does
            v_hat[i] = vi
        var[i] = w - lr_t * mi / (np.sqrt(vi) + epsilon)


def _adam_reference(var, grad, m, v, v_hat, decay, lr_t, one_minus_beta_1, one_minus_beta_2,
                    epsilon, tiny, amsgrad):
    """Adam / AMSGrad (Keras's form) with whole-array xp operations."""
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    m += (grad - m) * one_minus_beta_1
    v += (grad * grad - v) * one_minus_beta_2
    m[xp.abs(m) < tiny] = 0
    v[v < tiny] = 0
    if amsgrad:
        xp.maximum(v_hat, v, out=v_hat)
        v = v_hat
    var -= lr_t * m / (xp.sqrt(v) + epsilon)


@kernel
def _rmsprop_kernel(var, grad, velocity, momentum_buf, average_grad, decay, lr, rho,
                    one_minus_rho, momentum, epsilon, tiny, centered, use_momentum):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        vi = rho * velocity[i] + one_minus_rho * (g * g)
        if vi < tiny:  # v >= 0; flush what would decay into a subnormal
            vi = zero
        velocity[i] = vi
        if centered:
            ai = rho * average_grad[i] + one_minus_rho * g
            if abs(ai) < tiny:
                ai = zero
            average_grad[i] = ai
            denominator = vi - ai * ai + epsilon
        else:
            denominator = vi + epsilon
        increment = lr * g / np.sqrt(denominator)
        if use_momentum:
            mi = momentum * momentum_buf[i] + increment
            if abs(mi) < tiny:
                mi = zero
            momentum_buf[i] = mi
            w = w - mi
        else:
            w = w - increment
        var[i] = w


def _rmsprop_reference(var, grad, velocity, momentum_buf, average_grad, decay, lr, rho,
                       one_minus_rho, momentum, epsilon, tiny, centered, use_momentum):
    """RMSprop (Keras's form, optionally centered / with momentum) with xp operations."""
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    velocity[...] = rho * velocity + one_minus_rho * (grad * grad)
    velocity[velocity < tiny] = 0
    if centered:
        average_grad[...] = rho * average_grad + one_minus_rho * grad
        average_grad[xp.abs(average_grad) < tiny] = 0
        denominator = velocity - average_grad * average_grad + epsilon
    else:
        denominator = velocity + epsilon
    increment = lr * grad / xp.sqrt(denominator)
    if use_momentum:
        momentum_buf[...] = momentum * momentum_buf + increment
        momentum_buf[xp.abs(momentum_buf) < tiny] = 0
        var -= momentum_buf
    else:
        var -= increment


@kernel
def _adagrad_kernel(var, grad, accumulator, decay, lr, epsilon):
    # No flush: the accumulator only grows.
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        acc = accumulator[i] + g * g
        accumulator[i] = acc
        var[i] = w - lr * g / np.sqrt(acc + epsilon)


def _adagrad_reference(var, grad, accumulator, decay, lr, epsilon):
    """Adagrad (Keras's form) with whole-array xp operations."""
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    accumulator += grad * grad
    var -= lr * grad / xp.sqrt(accumulator + epsilon)


# ---------------------------------------------------------------------------------------
# The PyTorch flavour of the same rules (used by minidl.torch.optim)
#
# PyTorch's optimizers follow the same ideas with different arithmetic: ε goes after the
# bias-corrected square root (Adam) or outside the square root (RMSprop, Adagrad), momentum
# buffers hold no learning rate (so a scheduled lr scales only the steps that follow), SGD's
# buffer starts at the first gradient and has dampening, and ``weight_decay`` is an L2 term
# added to the gradient, ``g + l2·var`` (AdamW alone decays decoupled, via ``decay``).
# Each kernel keeps the conventions above (flat arrays, slots in place, ``decay`` first,
# scalars in the arrays' dtype, the same flush) and the same twin discipline. Select a rule
# with ``update_rule(name, flavour)``.
#
# NOTE: these are separate kernels, not a ``pytorch=False`` default argument on the Keras
# ones: a Numba kernel called with an omitted default argument leaves the dispatcher's fast
# path (measured: ~300 µs per call instead of ~1 µs), which would slow every Keras step.
# ---------------------------------------------------------------------------------------


@kernel
def _sgd_torch_kernel(var, grad, buf, decay, lr, momentum, one_minus_dampening, l2, tiny,
                      use_momentum, nesterov, first_step):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if l2 != 0:
            g = g + w * l2
        if use_momentum:
            if first_step:  # PyTorch starts the buffer at the gradient itself
                b = g
            else:
                b = buf[i] * momentum + g * one_minus_dampening
            if abs(b) < tiny:  # flush what would decay into a subnormal
                b = zero
            buf[i] = b
            if nesterov:
                g = g + b * momentum
            else:
                g = b
        var[i] = w - g * lr


def _sgd_torch_reference(var, grad, buf, decay, lr, momentum, one_minus_dampening, l2, tiny,
                         use_momentum, nesterov, first_step):
    """SGD, PyTorch's form, with whole-array xp operations.

    ``g += l2·var``; ``b = g`` on the first step, then ``b = momentum·b + (1 - dampening)·g``;
    ``var -= lr·b`` (Nesterov: ``var -= lr·(g + momentum·b)``); without momentum
    ``var -= lr·g``.
    """
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    g = grad if l2 == 0 else grad + var * l2
    if use_momentum:
        if first_step:
            buf[...] = g
        else:
            buf[...] = buf * momentum + g * one_minus_dampening
        buf[xp.abs(buf) < tiny] = 0
        g = g + buf * momentum if nesterov else buf
    var -= g * lr


@kernel
def _adam_torch_kernel(var, grad, m, v, v_hat, decay, step_size, one_minus_beta_1, beta_2,
                       one_minus_beta_2, bias_correction2_sqrt, epsilon, l2, tiny, amsgrad):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if l2 != 0:
            g = g + w * l2
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        vi = v[i] * beta_2 + one_minus_beta_2 * g * g
        if abs(mi) < tiny:  # flush what would decay into a subnormal
            mi = zero
        if vi < tiny:  # v >= 0
            vi = zero
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = np.maximum(v_hat[i], vi)  # np.maximum propagates NaN, as the twin does
            v_hat[i] = vi
        var[i] = w - step_size * (mi / (np.sqrt(vi) / bias_correction2_sqrt + epsilon))


def _adam_torch_reference(var, grad, m, v, v_hat, decay, step_size, one_minus_beta_1, beta_2,
                          one_minus_beta_2, bias_correction2_sqrt, epsilon, l2, tiny, amsgrad):
    """Adam / AMSGrad, PyTorch's form, with whole-array xp operations.

    ``g += l2·var``; ``m += (g - m)(1 - β₁)``; ``v = β₂v + (1 - β₂)g²``; AMSGrad
    ``v̂ = max(v̂, v)``; ``var -= step_size·m / (√v / √(1 - β₂ᵗ) + ε)`` with
    ``step_size = lr / (1 - β₁ᵗ)``.
    """
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    g = grad if l2 == 0 else grad + var * l2
    m += (g - m) * one_minus_beta_1
    v[...] = v * beta_2 + one_minus_beta_2 * g * g
    m[xp.abs(m) < tiny] = 0
    v[v < tiny] = 0
    if amsgrad:
        xp.maximum(v_hat, v, out=v_hat)
        v = v_hat
    var -= step_size * (m / (xp.sqrt(v) / bias_correction2_sqrt + epsilon))


@kernel
def _rmsprop_torch_kernel(var, grad, square_avg, momentum_buf, grad_avg, decay, lr, alpha,
                          one_minus_alpha, momentum, epsilon, l2, tiny, centered, use_momentum):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if l2 != 0:
            g = g + w * l2
        s = square_avg[i] * alpha + one_minus_alpha * g * g
        if s < tiny:  # s >= 0; flush what would decay into a subnormal
            s = zero
        square_avg[i] = s
        if centered:
            a = grad_avg[i] + (g - grad_avg[i]) * one_minus_alpha
            if abs(a) < tiny:
                a = zero
            grad_avg[i] = a
            avg = np.sqrt(s - a * a) + epsilon
        else:
            avg = np.sqrt(s) + epsilon
        if use_momentum:
            b = momentum_buf[i] * momentum + g / avg
            if abs(b) < tiny:
                b = zero
            momentum_buf[i] = b
            var[i] = w - lr * b
        else:
            var[i] = w - lr * (g / avg)


def _rmsprop_torch_reference(var, grad, square_avg, momentum_buf, grad_avg, decay, lr, alpha,
                             one_minus_alpha, momentum, epsilon, l2, tiny, centered,
                             use_momentum):
    """RMSprop, PyTorch's form, with whole-array xp operations.

    ``g += l2·var``; ``s = αs + (1 - α)g²``; ``avg = √s + ε`` (centered:
    ``a = a + (1 - α)(g - a)``, ``avg = √(s - a²) + ε``); momentum ``b = momentum·b + g/avg``,
    ``var -= lr·b``, else ``var -= lr·g/avg``.
    """
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    g = grad if l2 == 0 else grad + var * l2
    square_avg[...] = square_avg * alpha + one_minus_alpha * g * g
    square_avg[square_avg < tiny] = 0
    if centered:
        grad_avg += (g - grad_avg) * one_minus_alpha
        grad_avg[xp.abs(grad_avg) < tiny] = 0
        avg = xp.sqrt(square_avg - grad_avg * grad_avg) + epsilon
    else:
        avg = xp.sqrt(square_avg) + epsilon
    if use_momentum:
        momentum_buf[...] = momentum_buf * momentum + g / avg
        momentum_buf[xp.abs(momentum_buf) < tiny] = 0
        var -= lr * momentum_buf
    else:
        var -= lr * (g / avg)


@kernel
def _adagrad_torch_kernel(var, grad, state_sum, decay, lr, epsilon, l2):
    # No flush: the sum only grows.
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if l2 != 0:
            g = g + w * l2
        s = state_sum[i] + g * g
        state_sum[i] = s
        var[i] = w - lr * (g / (np.sqrt(s) + epsilon))


def _adagrad_torch_reference(var, grad, state_sum, decay, lr, epsilon, l2):
    """Adagrad, PyTorch's form (``lr`` already decayed by the caller), with xp operations.

    ``g += l2·var``; ``s += g²``; ``var -= lr·g / (√s + ε)``.
    """
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    g = grad if l2 == 0 else grad + var * l2
    state_sum += g * g
    var -= lr * (g / (xp.sqrt(state_sum) + epsilon))


@kernel
def _adadelta_kernel(var, grad, square_avg, acc_delta, decay, lr, rho, one_minus_rho, epsilon,
                     l2, tiny):
    zero = tiny - tiny  # a 0 of the arrays' dtype (a 0.0 literal would be float64)
    for i in range(var.size):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if l2 != 0:
            g = g + w * l2
        s = square_avg[i] * rho + one_minus_rho * g * g
        if s < tiny:  # s >= 0; flush what would decay into a subnormal
            s = zero
        square_avg[i] = s
        delta = np.sqrt(acc_delta[i] + epsilon) / np.sqrt(s + epsilon) * g
        a = acc_delta[i] * rho + one_minus_rho * delta * delta
        if a < tiny:
            a = zero
        acc_delta[i] = a
        var[i] = w - lr * delta


def _adadelta_reference(var, grad, square_avg, acc_delta, decay, lr, rho, one_minus_rho,
                        epsilon, l2, tiny):
    """Adadelta with whole-array xp operations (Keras and PyTorch state the same rule).

    ``g += l2·var``; ``s = ρs + (1 - ρ)g²``; ``Δ = √(a + ε) / √(s + ε) · g``;
    ``a = ρa + (1 - ρ)Δ²``; ``var -= lr·Δ``. ε sits inside both square roots, so the first
    steps move by about ``lr·√ε`` whatever the gradient's scale.
    """
    xp = get_array_module(var)
    if decay != 0:
        var -= var * decay
    g = grad if l2 == 0 else grad + var * l2
    square_avg[...] = square_avg * rho + one_minus_rho * g * g
    square_avg[square_avg < tiny] = 0
    delta = xp.sqrt(acc_delta + epsilon) / xp.sqrt(square_avg + epsilon) * g
    acc_delta[...] = acc_delta * rho + one_minus_rho * delta * delta
    acc_delta[acc_delta < tiny] = 0
    var -= lr * delta


# (rule, flavour) -> (Numba kernel, xp twin). Adadelta is one rule in both libraries.
_UPDATE_RULES = {
    ("sgd", "keras"): (_sgd_kernel, _sgd_reference),
    ("adam", "keras"): (_adam_kernel, _adam_reference),
    ("rmsprop", "keras"): (_rmsprop_kernel, _rmsprop_reference),
    ("adagrad", "keras"): (_adagrad_kernel, _adagrad_reference),
    ("sgd", "pytorch"): (_sgd_torch_kernel, _sgd_torch_reference),
    ("adam", "pytorch"): (_adam_torch_kernel, _adam_torch_reference),
    ("rmsprop", "pytorch"): (_rmsprop_torch_kernel, _rmsprop_torch_reference),
    ("adagrad", "pytorch"): (_adagrad_torch_kernel, _adagrad_torch_reference),
    ("adadelta", "keras"): (_adadelta_kernel, _adadelta_reference),
    ("adadelta", "pytorch"): (_adadelta_kernel, _adadelta_reference),
}


def update_rule(name, flavour="keras"):
    """The fused kernel of update rule ``name`` in a library's ``flavour``, with its twin.

    Args:
        name: ``"sgd"``, ``"adam"``, ``"rmsprop"``, ``"adagrad"`` or ``"adadelta"``.
        flavour: ``"keras"`` (this module's optimizers) or ``"pytorch"``
            (``minidl.torch.optim``).

    Returns:
        ``(kernel, reference)``: the Numba kernel and its xp twin (same signature; the
        kernel for NumPy arrays with the JIT on, the twin otherwise).

    Raises:
        ValueError: an unknown rule or flavour.
    """
    try:
        return _UPDATE_RULES[(name, flavour)]
    except KeyError:
        raise ValueError(f"Unknown update rule {name!r} with flavour {flavour!r}; known: "
                         f"{sorted(_UPDATE_RULES)}") from None


# ---------------------------------------------------------------------------------------
# Argument checks (constructor time only; never inside a step)
# ---------------------------------------------------------------------------------------


def _real(name, value):
    """``value`` as a float, or a TypeError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Argument `{name}` must be a number. Received: {name}={value!r} "
                        f"(type {type(value).__name__})")
    return float(value)


def _check_range(name, value, low, high, high_open):
    """A float in ``[low, high)`` (``high_open``) or ``[low, high]``, NaN refused."""
    value = _real(name, value)
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:  # NaN fails every comparison, so it lands here too
        bracket = ")" if high_open else "]"
        raise ValueError(f"Argument `{name}` must be in [{low}, {high}{bracket}. "
                         f"Received: {name}={value}")
    return value


def _check_non_negative(name, value):
    value = _real(name, value)
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"Argument `{name}` must be a finite number >= 0. "
                         f"Received: {name}={value}")
    return value


def _check_optional_positive(name, value):
    if value is None:
        return None
    value = _real(name, value)
    if not value > 0:
        raise ValueError(f"Argument `{name}` must be > 0, or None to turn it off. "
                         f"Received: {name}={value}")
    return value


def _check_learning_rate(value, allow_zero):
    """A positive finite float (0 too when ``allow_zero``), or a schedule callable."""
    if callable(value) and not isinstance(value, numbers.Real):
        return value
    if isinstance(value, (list, tuple, Tensor)) or inspect.isgenerator(value):
        raise TypeError(
            "Argument `learning_rate` must be a float or a schedule, got "
            f"{type(value).__name__}. minidl optimizers take Keras's arguments: "
            "Adam(learning_rate=1e-3); give the variables to build(variables) or step(variables), "
            "not to the constructor as in PyTorch"
        )
    value = _real("learning_rate", value)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or math.isinf(value):
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"Argument `learning_rate` must be a finite number {need}. "
                         f"Received: learning_rate={value}")
    return value


def _schedule_takes_step(schedule):
    """True if the callable wants the iteration count (Keras's LearningRateSchedule), False
    for a callable of no arguments (Keras accepts both)."""
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume a schedule
        return True
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) > 0


# ---------------------------------------------------------------------------------------
# Optimizer base
# ---------------------------------------------------------------------------------------


class Optimizer:
    """Base class: the shared step (clipping, weight decay, iteration count), the state.

    Subclasses say which slots they keep and give one fused kernel plus its xp twin; the
    base class does the rest. They define:

    - ``_slot_specs()``: a tuple with one entry per slot array the kernel takes, in the
      kernel's order: ``(name, initial_value)``, or ``None`` for a slot this configuration
      does not use (the kernel then gets an empty array);
    - ``_scalars(lr, t, tiny)``: the kernel's arguments after ``decay`` for step ``t``, as
      Python floats and bools (the base class casts the floats to the variable's dtype);
    - ``_kernel`` and ``_reference``: the Numba kernel and its xp twin (same signature).

    Args:
        learning_rate: a float > 0, or a schedule: a callable ``schedule(iterations)``
            returning the rate (as Keras's ``LearningRateSchedule``), or a callable of no
            arguments. Assignable later: ``opt.learning_rate = 1e-4`` (0 is then allowed,
            e.g. at the end of a decay).
        weight_decay: decoupled weight decay: before each update ``var -= var·wd·lr``.
            ``None`` (or 0) turns it off.
        clipnorm: clip each gradient to this L2 norm: ``g·clipnorm / max(‖g‖, clipnorm)``.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together so their joint L2 norm is at most this.
            A non-finite joint norm makes every gradient NaN (as Keras), so the step is
            visibly bad rather than silently skipped.
        name: the optimizer's name.
        use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: Keras arguments minidl accepts only at their
            defaults (so a Keras config loads); other values raise ``ValueError``.

    Raises:
        ValueError: a hyperparameter out of range (``learning_rate <= 0`` or NaN, a beta
            outside [0, 1), ``epsilon < 0``, ...), more than one clipping argument, or an
            unknown keyword argument.
        TypeError: a hyperparameter that is not a number.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported (as in Keras 3) and is "
                          "ignored; use a learning-rate schedule", stacklevel=3)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        unsupported = {"use_ema": (use_ema, False),
                       "ema_overwrite_frequency": (ema_overwrite_frequency, None),
                       "loss_scale_factor": (loss_scale_factor, None),
                       "gradient_accumulation_steps": (gradient_accumulation_steps, None)}
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(f"Argument `{arg}` is not supported by minidl; leave it at "
                                 f"{default!r}. Received: {arg}={value!r}")
        self.ema_momentum = ema_momentum  # kept only so get_config round-trips Keras configs

        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                 "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.clipnorm = _check_optional_positive("clipnorm", clipnorm)
        self.clipvalue = _check_optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = _check_optional_positive("global_clipnorm", global_clipnorm)
        self.weight_decay = (None if weight_decay is None
                             else _check_non_negative("weight_decay", weight_decay))
        self.name = name if name is not None else type(self).__name__.lower()

        self._set_learning_rate(learning_rate, allow_zero=False)
        self._iterations = 0
        self._exclude_ids = ()
        self._exclude_names = ()
        self.built = False
        self._variables = []

    # ---- hyperparameters -------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        if self._schedule is None:
            return lr
        return float(lr(self._iterations) if self._schedule else lr())

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_learning_rate(value, allow_zero=True)

    def _set_learning_rate(self, value, allow_zero):
        value = _check_learning_rate(value, allow_zero)
        # _schedule: None for a float; True for schedule(iterations); False for schedule().
        self._schedule = _schedule_takes_step(value) if callable(value) else None
        self._learning_rate = value

    @property
    def iterations(self):
        """How many steps were applied (Keras's ``optimizer.iterations``), an int."""
        return self._iterations

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt variables from weight decay (call before ``build``), as Keras does.

        Args:
            var_list: variables to exempt.
            var_names: substrings; a variable whose ``name`` contains one is exempt
                (e.g. ``["bias"]``).
        """
        if self.built:
            raise ValueError("exclude_from_weight_decay() must be called before the optimizer "
                             "is built (before its first step or build())")
        self._exclude_ids = tuple(id(v) for v in (var_list or ()))
        self._exclude_names = tuple(var_names or ())

    def _uses_weight_decay(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        name = getattr(variable, "name", None) or ""
        return not any(part in name for part in self._exclude_names)

    # ---- to be defined by subclasses --------------------------------------------------
    _kernel = None
    _reference = None

    def _slot_specs(self):
        return ()

    def _scalars(self, lr, t, tiny):
        raise NotImplementedError

    def _has_slot(self, name):
        """Whether the built state has slot ``name`` (the kernels' use_* flags)."""
        return name in self._slots

    # ---- state ------------------------------------------------------------------------
    def build(self, variables):
        """Create the state (slots) for ``variables``; the first step calls it if needed.

        The list is remembered: ``step()`` and ``zero_grad()`` without arguments use it, and
        ``apply_gradients`` accepts only these variables afterwards (in any order or subset).
        Building an optimizer that is already built does nothing, as in Keras.

        Raises:
            DTypeError: a variable is not a floating-point Tensor.
            ValueError: the same variable appears twice.
        """
        if self.built:
            return
        variables = list(variables)
        for i, var in enumerate(variables):
            data = getattr(var, "data", None)
            if data is None or not hasattr(data, "dtype") or data.dtype.kind != "f":
                raise DTypeError(
                    f"optimizer '{self.name}' can only update floating-point minidl Tensors; "
                    f"variable {i} is {type(var).__name__}"
                    + (f" with dtype {data.dtype}" if hasattr(data, "dtype") else "")
                )
            if any(var is other for other in variables[:i]):
                raise ValueError(f"variable {i} ({_describe(var)}) appears twice in the list "
                                 f"given to optimizer '{self.name}'; each must appear once")
        # The slot layout is fixed here: the kernels' use_* flags are read from it (see
        # _has_slot), so changing e.g. `amsgrad` after build cannot send a kernel to a slot
        # that does not exist.
        self._specs = self._slot_specs()
        self._slots = {spec[0]: [] for spec in self._specs if spec is not None}
        for var in variables:
            xp = get_array_module(var.data)
            for name, initial in (spec for spec in self._specs if spec is not None):
                self._slots[name].append(xp.full(var.data.shape, initial, dtype=var.data.dtype))
        self._variables = variables
        self._shapes = [v.data.shape for v in variables]
        self._dtypes = [v.data.dtype for v in variables]
        self._decays = [self._uses_weight_decay(v) for v in variables]
        self._kernel_slots = [self._kernel_arguments(i) for i in range(len(variables))]
        self.built = True

    def _kernel_arguments(self, i):
        """Variable ``i``'s slot arguments for the kernel, in its order: flat views of the
        slots (so the kernel updates them in place) and empty arrays for unused slots."""
        arguments = []
        for spec in self._specs:
            if spec is None:
                xp = get_array_module(self._variables[i].data)
                arguments.append(xp.empty(0, dtype=self._dtypes[i]))
            else:
                arguments.append(self._slots[spec[0]][i].reshape(-1))
        return tuple(arguments)

    def variables_count(self):
        """Number of numbers in the optimizer's state, counted as Keras's ``summary`` does
        (slots + the iteration counter + the learning rate unless it is a schedule); 0 before
        ``build``."""
        if not self.built:
            return 0
        slots = sum(int(s.size) for arrays in self._slots.values() for s in arrays)
        return slots + 1 + (1 if self._schedule is None else 0)

    def get_state(self):
        """A copy of the optimizer's state, for checkpoints.

        Returns:
            ``{"iterations": int, "learning_rate": float or None, "slots": {name: [array,
            ...]}}``. Slot names are Keras's (``"momentum"``, ``"velocity"``,
            ``"velocity_hat"``, ``"average_gradient"``, ``"accumulator"``); each list holds
            one NumPy array per variable, in the order of the list given to ``build``, with
            that variable's shape and dtype. ``learning_rate`` is ``None`` for a schedule.
            Before ``build`` the slots are ``{}``.
        """
        slots = {}
        if self.built:
            slots = {name: [backend_of(a).to_numpy(a).copy() for a in arrays]
                     for name, arrays in self._slots.items()}
        lr = None if self._schedule is not None else float(self._learning_rate)
        return {"iterations": int(self._iterations), "learning_rate": lr, "slots": slots}

    def set_state(self, state, variables=None):
        """Restore a state returned by ``get_state`` (everything is checked first).

        Args:
            state: the dict from ``get_state`` (NumPy arrays; they are copied in).
            variables: the variables the state belongs to, in the saved order. Needed only
                if the optimizer is not built yet (it is then built on them); an optimizer
                that is already built keeps its own list.

        ``learning_rate`` is restored when the state has one and this optimizer has no
        schedule.

        Raises:
            CheckpointError: the state does not match (missing or extra slot names, another
                number of variables, a shape or dtype that differs, a bad iteration count or
                learning rate), or it has slots and the optimizer has no variables. Nothing
                is changed (a build done for the check is undone).
        """
        if not isinstance(state, dict) or "iterations" not in state or "slots" not in state:
            raise CheckpointError("optimizer state must be a dict with keys 'iterations' and "
                                  f"'slots' (from get_state()), got {_short(state)}")
        iterations = state["iterations"]
        if (isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral)
                or iterations < 0):
            raise CheckpointError("optimizer state 'iterations' must be an int >= 0, got "
                                  f"{iterations!r}")
        lr = state.get("learning_rate")
        if lr is not None and self._schedule is None:
            try:
                lr = _check_learning_rate(lr, allow_zero=True)
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"optimizer state has a bad learning rate: {exc}") from None
        slots = state["slots"]
        if slots and not self.built:
            if variables is None:
                raise CheckpointError(
                    f"optimizer '{self.name}' is not built yet, so it cannot take saved slots; "
                    "call optimizer.build(model.trainable_weights) before set_state(), or pass "
                    "set_state(state, variables)"
                )
            self.build(variables)
            try:
                self._check_slots(slots)
            except CheckpointError:
                self.built = False  # undo the build: nothing changed
                self._variables = []
                raise
        elif self.built:
            self._check_slots(slots)
        if self.built:
            for name, arrays in self._slots.items():
                for slot, saved in zip(arrays, slots[name]):
                    slot[...] = get_array_module(slot).asarray(saved)
        self._iterations = int(iterations)
        if lr is not None and self._schedule is None:
            self._learning_rate = lr

    def _check_slots(self, slots):
        expected = sorted(self._slots)
        if not isinstance(slots, dict) or sorted(slots) != expected:
            got = sorted(slots) if isinstance(slots, dict) else _short(slots)
            raise CheckpointError(f"optimizer '{self.name}' keeps slots {expected}, but the "
                                  f"saved state has {got}")
        for name in expected:
            saved = slots[name]
            if len(saved) != len(self._variables):
                raise CheckpointError(
                    f"saved slot '{name}' has {len(saved)} arrays but optimizer '{self.name}' "
                    f"was built on {len(self._variables)} variables"
                )
            for i, array in enumerate(saved):
                shape = tuple(getattr(array, "shape", np.shape(array)))
                dtype = getattr(array, "dtype", None)
                if shape != tuple(self._shapes[i]) or dtype != self._dtypes[i]:
                    raise CheckpointError(
                        f"saved slot '{name}' for variable {i} ({_describe(self._variables[i])})"
                        f" has shape {shape} and dtype {dtype}; expected shape "
                        f"{tuple(self._shapes[i])} and dtype {self._dtypes[i]}"
                    )

    def to(self, device):
        """Move the slots to ``device`` (a name such as ``"gpu"``, or a ``Backend``)."""
        backend = get_backend(device)
        if not self.built:
            return self
        for name, arrays in self._slots.items():
            self._slots[name] = [backend.asarray(backend_of(a).to_numpy(a)) for a in arrays]
        self._kernel_slots = [self._kernel_arguments(i) for i in range(len(self._variables))]
        return self

    # ---- Keras style ------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply ``(gradient, variable)`` pairs (Keras). ``None`` gradients are skipped with
        a warning. Returns ``iterations``.

        Raises:
            ValueError: every gradient is ``None``, or a variable is not one this optimizer
                was built with.
            ShapeError: a gradient's shape differs from its variable's.
        """
        pairs = list(grads_and_vars)
        if not pairs:
            return self._iterations
        grads, variables = zip(*pairs)
        self.apply(grads, variables)
        return self._iterations

    def apply(self, grads, variables=None):
        """Apply ``grads`` to ``variables`` (default: the list given to ``build``), as
        Keras's ``optimizer.apply``."""
        self._apply(list(grads), variables, keras_style=True)

    # ---- PyTorch style ----------------------------------------------------------------
    def step(self, variables=None):
        """One update from each variable's ``.grad`` (PyTorch). Variables whose ``.grad`` is
        ``None`` are left alone, as in PyTorch; if every one is ``None`` nothing happens.

        Args:
            variables: the variables to update; default: the list given to ``build`` (the
                first call with a list builds the optimizer on it).
        """
        variables = self._resolve(variables, "step")
        if not variables:
            raise ValueError("step() got an empty list of variables: nothing would be "
                             "trained (was the model built? model.parameters() of an "
                             "unbuilt model has no weights yet)")
        self._apply([v.grad for v in variables], variables, keras_style=False)

    def zero_grad(self, variables=None):
        """Set ``.grad = None`` on ``variables`` (default: the list given to ``build``)."""
        for var in self._resolve(variables, "zero_grad"):
            var.grad = None

    def _resolve(self, variables, caller):
        if variables is not None:
            return list(variables)
        if not self.built:
            raise ValueError(f"{caller}() needs the variables: call {caller}(variables) or "
                             f"optimizer.build(variables) first (optimizer '{self.name}' has "
                             "none yet)")
        return self._variables

    # ---- the shared step --------------------------------------------------------------
    def _apply(self, grads, variables, keras_style):
        if variables is None:
            variables = self._resolve(None, "apply")
        else:
            variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"got {len(grads)} gradients for {len(variables)} variables")
        if not self.built:
            self.build(variables)
        positions = self._positions(variables)

        # Keep the pairs that have a gradient (Keras warns about the others; PyTorch skips).
        kept = [(i, v, g) for i, v, g in zip(positions, variables, grads) if g is not None]
        if len(kept) < len(variables) and keras_style:
            if not kept:
                raise ValueError("No gradients provided for any variable.")
            missing = [_describe(v) for v, g in zip(variables, grads) if g is None]
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing "
                          "the loss.", stacklevel=3)
        if not kept:
            return
        arrays = [self._gradient_array(g, v, i) for i, v, g in kept]
        arrays = self._clip(arrays)

        lr = self.learning_rate
        t = self._iterations + 1
        wd = self.weight_decay or 0.0
        use_kernel = config.JIT_ENABLED
        scalars_by_dtype = {}
        for (i, var, _), grad in zip(kept, arrays):
            data = var.data
            dtype = data.dtype
            scalars = scalars_by_dtype.get(dtype)
            if scalars is None:
                raw = self._scalars(lr, t, _flush_threshold(dtype))
                scalars = tuple(x if isinstance(x, bool) else dtype.type(x) for x in raw)
                scalars_by_dtype[dtype] = scalars
            decay = dtype.type(lr * wd if self._decays[i] else 0.0)
            contiguous = data.flags.c_contiguous
            if contiguous:
                flat = data.reshape(-1)  # a view: the update lands in var.data
            else:  # rare (a transposed view): update a contiguous copy and write it back
                flat = get_array_module(data).ascontiguousarray(data).reshape(-1)
            update = self._kernel if use_kernel and type(flat) is np.ndarray else self._reference
            update(flat, grad.reshape(-1), *self._kernel_slots[i], decay, *scalars)
            if not contiguous:
                data[...] = flat.reshape(data.shape)
            var._version += 1  # in-place change: graphs that saved the old value will refuse
        self._iterations += 1

    def _positions(self, variables):
        """Index of each variable in the built list (by identity)."""
        built = self._variables
        if len(variables) == len(built) and all(a is b for a, b in zip(variables, built)):
            return range(len(built))  # the usual case: the same list every step
        positions = []
        for var in variables:
            for i, known in enumerate(built):
                if var is known:
                    positions.append(i)
                    break
            else:
                raise ValueError(
                    f"Unknown variable: {_describe(var)}. Optimizer '{self.name}' can only "
                    "update the variables it was built with; for a new set of variables, "
                    "create a new optimizer"
                )
        return positions

    def _gradient_array(self, grad, var, i):
        """The gradient as an array of the variable's shape and dtype."""
        if isinstance(grad, Tensor):
            grad = grad.data
        data = var.data
        if not hasattr(grad, "shape"):
            grad = get_array_module(data).asarray(grad, dtype=data.dtype)
        # Cheap guards that keep the compiled loops (which do not bounds-check) in bounds.
        if grad.shape != data.shape:
            raise ShapeError(f"gradient for variable {_describe(var)} has shape "
                             f"{tuple(grad.shape)}, but the variable has shape "
                             f"{tuple(data.shape)}")
        if data.shape != self._shapes[i] or data.dtype != self._dtypes[i]:
            raise ShapeError(
                f"variable {_describe(var)} now has shape {tuple(data.shape)} and dtype "
                f"{data.dtype}, but optimizer '{self.name}' was built for shape "
                f"{tuple(self._shapes[i])} and dtype {self._dtypes[i]}; create a new optimizer"
            )
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)  # Keras casts the gradient to the variable's dtype
        return grad

    def _clip(self, grads):
        """Keras's gradient clipping (new arrays; the caller's gradients are not changed)."""
        if self.clipnorm is not None:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            return _clip_by_global_norm(grads, self.global_clipnorm)
        if self.clipvalue is not None:
            v = self.clipvalue
            return [get_array_module(g).clip(g, -v, v) for g in grads]
        return grads

    # ---- config -----------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments (Keras's keys); ``from_config`` rebuilds a fresh one."""
        lr = self._learning_rate
        if self._schedule is not None and hasattr(lr, "get_config"):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": False,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
        }

    @classmethod
    def from_config(cls, config_, custom_objects=None):
        """A new optimizer (without state) from ``get_config()``'s dict."""
        return cls(**config_)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate}>"


def _clip_by_norm(g, clipnorm):
    """``g·clipnorm / max(‖g‖, clipnorm)``: unchanged when ‖g‖ <= clipnorm; NaN stays NaN."""
    xp = get_array_module(g)
    norm = float(xp.sqrt(xp.sum(g * g)))
    if norm <= clipnorm:
        return g
    # norm > clipnorm, or NaN (then every element becomes NaN, as in Keras)
    return g * g.dtype.type(clipnorm / norm)


def _clip_by_global_norm(grads, clip_norm):
    """Scale all gradients by ``clip_norm / max(global_norm, clip_norm)``."""
    total = 0.0
    for g in grads:
        xp = get_array_module(g)
        total += float(xp.sum(g * g))
    norm = math.sqrt(total)
    if norm <= clip_norm:
        return grads
    scale = clip_norm / norm if math.isfinite(norm) else math.nan  # Keras: NaN if not finite
    return [g * g.dtype.type(scale) for g in grads]


def _describe(var):
    name = getattr(var, "name", None)
    shape = tuple(getattr(getattr(var, "data", None), "shape", ()))
    return f"'{name}' {shape}" if name else f"of shape {shape}"


def _short(value):
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


# ---------------------------------------------------------------------------------------
# The optimizers
# ---------------------------------------------------------------------------------------


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum, as Keras's ``SGD``.

    ``m = momentum·m - lr·g``; ``var += m`` (Nesterov: ``var += momentum·m - lr·g``);
    with ``momentum=0``: ``var -= lr·g`` and no state. PyTorch's momentum buffer ``b``
    (``b = momentum·b + g``, ``var -= lr·b``) is ``-m/lr`` for a constant lr: same steps.

    Args:
        learning_rate: float > 0 (default 0.01) or a schedule.
        momentum: float in [0, 1] (default 0).
        nesterov: use Nesterov momentum.
        **kwargs: the base ``Optimizer`` arguments (``weight_decay``, clipping, ``name``).

    >>> import numpy as np
    >>> from minidl import Tensor
    >>> w = Tensor(np.array([1.0, 2.0]))
    >>> SGD(learning_rate=0.1).apply_gradients([(np.array([1.0, -1.0]), w)])
    1
    >>> w.data
    array([0.9, 2.1])
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.momentum = _check_range("momentum", momentum, 0.0, 1.0, high_open=False)
        self.nesterov = bool(nesterov)

    _kernel = _sgd_kernel
    _reference = staticmethod(_sgd_reference)

    def _slot_specs(self):
        return (("momentum", 0.0) if self.momentum != 0 else None,)

    def _scalars(self, lr, t, tiny):
        return (lr, self.momentum, tiny, self._has_slot("momentum"), self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (and AMSGrad), as Keras's ``Adam``.

    ``m += (g - m)(1 - β₁)``, ``v += (g² - v)(1 - β₂)``, AMSGrad ``v̂ = max(v̂, v)``;
    ``var -= lr_t·m / (√v + ε)`` with ``lr_t = lr·√(1 - β₂ᵗ) / (1 - β₁ᵗ)``.
    This is PyTorch's Adam with ``eps_torch = ε / √(1 - β₂ᵗ)``: Keras's ε is "epsilon hat".

    Args:
        learning_rate: float > 0 (default 0.001) or a schedule.
        beta_1, beta_2: decay rates of the moment estimates, in [0, 1).
        epsilon: >= 0 (default 1e-7).
        amsgrad: use the AMSGrad variant (one more slot, ``velocity_hat``).
        **kwargs: the base ``Optimizer`` arguments (``weight_decay``, clipping, ``name``).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.beta_1 = _check_range("beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _check_range("beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _check_non_negative("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    _kernel = _adam_kernel
    _reference = staticmethod(_adam_reference)

    def _slot_specs(self):
        return (("momentum", 0.0), ("velocity", 0.0),
                ("velocity_hat", 0.0) if self.amsgrad else None)

    def _scalars(self, lr, t, tiny):
        # Computed once per step in float64, then rounded once to the variables' dtype.
        lr_t = lr * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        return (lr_t, 1.0 - self.beta_1, 1.0 - self.beta_2, self.epsilon, tiny,
                self._has_slot("velocity_hat"))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``weight_decay=0.004`` by default), as Keras's
    ``AdamW``: before each Adam update ``var -= var·weight_decay·lr``.

    Raises:
        ValueError: ``weight_decay=None`` (AdamW needs a number; use ``Adam`` for none).
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)


class RMSprop(Optimizer):
    """RMSprop, as Keras's ``RMSprop`` (ε inside the square root).

    ``v = ρv + (1 - ρ)g²``; centered: ``a = ρa + (1 - ρ)g``, ``d = v - a² + ε``, else
    ``d = v + ε``; ``Δ = lr·g / √d``; with momentum ``μ = momentum·μ + Δ``, ``var -= μ``,
    else ``var -= Δ``.

    Args:
        learning_rate: float > 0 (default 0.001) or a schedule.
        rho: decay rate of the averages, in [0, 1) (default 0.9).
        momentum: float in [0, 1] (default 0).
        epsilon: >= 0 (default 1e-7).
        centered: divide by the estimated variance ``v - a²`` instead of ``v``.
        **kwargs: the base ``Optimizer`` arguments (``weight_decay``, clipping, ``name``).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.rho = _check_range("rho", rho, 0.0, 1.0, high_open=True)
        self.momentum = _check_range("momentum", momentum, 0.0, 1.0, high_open=False)
        self.epsilon = _check_non_negative("epsilon", epsilon)
        self.centered = bool(centered)

    _kernel = _rmsprop_kernel
    _reference = staticmethod(_rmsprop_reference)

    def _slot_specs(self):
        return (("velocity", 0.0),
                ("momentum", 0.0) if self.momentum > 0 else None,
                ("average_gradient", 0.0) if self.centered else None)

    def _scalars(self, lr, t, tiny):
        return (lr, self.rho, 1.0 - self.rho, self.momentum, self.epsilon, tiny,
                self._has_slot("average_gradient"), self._has_slot("momentum"))

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad, as Keras's ``Adagrad``: ``acc += g²``; ``var -= lr·g / √(acc + ε)``.

    Args:
        learning_rate: float > 0 (default 0.001) or a schedule.
        initial_accumulator_value: starting value of ``acc``, >= 0 (default 0.1).
        epsilon: >= 0 (default 1e-7).
        **kwargs: the base ``Optimizer`` arguments (``weight_decay``, clipping, ``name``).
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, name=name,
                         **kwargs)
        self.initial_accumulator_value = _check_non_negative(
            "initial_accumulator_value", initial_accumulator_value)
        self.epsilon = _check_non_negative("epsilon", epsilon)

    _kernel = _adagrad_kernel
    _reference = staticmethod(_adagrad_reference)

    def _slot_specs(self):
        return (("accumulator", self.initial_accumulator_value),)

    def _scalars(self, lr, t, tiny):
        return (lr, self.epsilon)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


# ---------------------------------------------------------------------------------------
# Lookup by name (Keras's get / serialize / deserialize)
# ---------------------------------------------------------------------------------------

ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}


def serialize(optimizer):
    """``{"class_name": ..., "config": optimizer.get_config()}``."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config_, custom_objects=None):
    """An optimizer from ``serialize``'s dict (the class name is case-insensitive)."""
    if not isinstance(config_, dict) or "class_name" not in config_:
        raise ValueError("optimizer config must be a dict with a 'class_name' key, got "
                         f"{_short(config_)}")
    name = config_["class_name"]
    cls = (custom_objects or {}).get(name) or ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {name!r}. Valid names are "
                         f"{sorted(ALL_OBJECTS_DICT)}")
    return cls.from_config(dict(config_.get("config") or {}))


def get(identifier):
    """Resolve an optimizer identifier, as Keras's ``optimizers.get``.

    Args:
        identifier: a name (``"adam"``, ``"SGD"``, ``"rmsprop"``, ``"adamw"``, ``"adagrad"``;
            case-insensitive), a config dict from ``serialize``, an ``Optimizer`` instance
            (returned as is) or ``None`` (returned as is).

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or anything else.
    """
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer: {identifier!r}. Valid names are "
                             f"{sorted(ALL_OBJECTS_DICT)}")
        return cls()
    raise ValueError(f"Could not interpret optimizer identifier: {_short(identifier)}; pass "
                     f"a name such as 'adam', a config dict or an Optimizer instance")


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "serialize",
           "deserialize"]
