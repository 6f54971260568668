"""Optimizers: PyTorch parity, Keras's formulas, the two calling styles, state, errors.

Three independent references:
(a) PyTorch's optimizers on an identical tiny network (where the two libraries' rules are the
    same mathematics, with the exact relation stated in each case);
(b) Keras's update formulas, written out again here in float64 with plain NumPy;
(c) Keras's documented example for RMSprop.
"""

import math

import numpy as np
import pytest
import standin_device  # tests/ helper: a stand-in for a CuPy device
import torch

import minidl.ops.elementwise as ew
from minidl import CheckpointError, DTypeError, GraphError, ShapeError, Tensor, optimizers

# ----------------------------------------------------------------------------------------
# (a) Parity with PyTorch: the same 3-4-2 MLP, the same data, stepped in both libraries
# ----------------------------------------------------------------------------------------


def _initial_weights(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 4)), rng.normal(size=4) * 0.1, rng.normal(size=(4, 2)),
            rng.normal(size=2) * 0.1]


def _data(step):
    rng = np.random.default_rng(100 + step)
    return rng.normal(size=(8, 3)), rng.normal(size=(8, 2))


def _train_minidl(optimizer, steps):
    params = [Tensor(w.copy(), requires_grad=True) for w in _initial_weights()]
    w1, b1, w2, b2 = params
    for step in range(steps):
        x, y = (Tensor(a) for a in _data(step))
        # tanh (not ReLU) so no gradient is exactly 0: PyTorch's rules with ε = 0 would
        # divide 0 by 0 there.
        out = ew.tanh(x @ w1 + b1) @ w2 + b2
        loss = ((out - y) * (out - y)).mean()
        optimizer.zero_grad(params)
        loss.backward()
        optimizer.step(params)
    return [p.data for p in params]


def _train_torch(make_optimizer, steps, before_step=None):
    params = [torch.tensor(w.copy(), requires_grad=True) for w in _initial_weights()]
    w1, b1, w2, b2 = params
    optimizer = make_optimizer(params)
    for step in range(steps):
        x, y = (torch.tensor(a) for a in _data(step))
        out = torch.tanh(x @ w1 + b1) @ w2 + b2
        loss = ((out - y) * (out - y)).mean()
        optimizer.zero_grad()
        loss.backward()
        if before_step is not None:
            before_step(optimizer, step + 1)
        optimizer.step()
    return [p.detach().numpy() for p in params]


def _assert_close(ours, theirs, rtol=1e-10, atol=1e-12):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"parameter {i}")


STEPS = 6

# Each case: (our optimizer, torch's optimizer factory, why the two are the same rule).
TORCH_CASES = {
    "sgd": (lambda: optimizers.SGD(learning_rate=0.1),
            lambda p: torch.optim.SGD(p, lr=0.1)),
    # Keras keeps m = -lr·b where PyTorch keeps b = momentum·b + g: the same steps.
    "sgd-momentum": (lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "sgd-nesterov": (lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    # With ε = 0 Keras's ε placement cannot matter.
    "adam-eps0": (lambda: optimizers.Adam(learning_rate=0.01, epsilon=0.0),
                  lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0)),
    "amsgrad-eps0": (lambda: optimizers.Adam(learning_rate=0.01, epsilon=0.0, amsgrad=True),
                     lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0, amsgrad=True)),
    # Both decay decoupled (p -= p·wd·lr) before the Adam step.
    "adamw-eps0": (lambda: optimizers.AdamW(learning_rate=0.01, weight_decay=0.1,
                                            epsilon=0.0),
                   lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=0.0)),
    # ε sits under the root in Keras and outside it in PyTorch; Keras's RMSprop momentum
    # buffer is lr·(PyTorch's).
    "rmsprop-eps0": (lambda: optimizers.RMSprop(learning_rate=0.01, epsilon=0.0),
                     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    "rmsprop-centered-momentum-eps0": (
        lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True,
                                   epsilon=0.0),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.8, momentum=0.5, centered=True,
                                      eps=0.0)),
    "adagrad-eps0": (lambda: optimizers.Adagrad(learning_rate=0.1, epsilon=0.0,
                                                initial_accumulator_value=0.1),
                     lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0,
                                                   initial_accumulator_value=0.1)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_pytorch_on_a_tiny_mlp(case):
    ours, theirs = TORCH_CASES[case]
    _assert_close(_train_minidl(ours(), STEPS), _train_torch(theirs, STEPS))


def test_adam_matches_pytorch_with_epsilon_rescaled_per_step():
    """The exact relation: Keras's Adam with ε is PyTorch's with ε_t = ε / √(1 - β₂ᵗ)."""
    eps, beta_2 = 1e-3, 0.999  # a large ε, so that a wrong placement would show

    def rescale(optimizer, t):
        optimizer.param_groups[0]["eps"] = eps / math.sqrt(1 - beta_2**t)

    ours = _train_minidl(optimizers.Adam(learning_rate=0.01, epsilon=eps), STEPS)
    theirs = _train_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=eps), STEPS, rescale)
    _assert_close(ours, theirs)
    # ... and the unadjusted PyTorch rule is measurably different.
    plain = _train_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=eps), STEPS)
    assert max(np.abs(a - b).max() for a, b in zip(ours, plain)) > 1e-6


def test_float32_training_tracks_pytorch():
    """The fused float32 path stays within float32 rounding of PyTorch (float64)."""
    ours = [p.astype(np.float64) for p in
            _train_minidl_float32(optimizers.Adam(learning_rate=0.01, epsilon=0.0))]
    theirs = _train_torch(lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0), STEPS)
    _assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def _train_minidl_float32(optimizer):
    params = [Tensor(w.astype(np.float32), requires_grad=True) for w in _initial_weights()]
    w1, b1, w2, b2 = params
    for step in range(STEPS):
        x, y = (Tensor(a.astype(np.float32)) for a in _data(step))
        out = ew.tanh(x @ w1 + b1) @ w2 + b2
        loss = ((out - y) * (out - y)).mean()
        optimizer.zero_grad(params)
        loss.backward()
        optimizer.step(params)
        assert all(p.data.dtype == np.float32 for p in params)
    return [p.data for p in params]


# ----------------------------------------------------------------------------------------
# (b) Keras's formulas, written out again in float64
# ----------------------------------------------------------------------------------------


def keras_clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.sqrt(np.sum(g**2)), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        scale = global_clipnorm * min(1.0 / norm, 1.0 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def keras_reference(rule, hp, weights, grad_steps, lr, weight_decay=None, **clip):
    """Apply Keras's update ``rule`` for each list of gradients in ``grad_steps``."""
    weights = [w.copy() for w in weights]
    state = [dict() for _ in weights]
    for t, grads in enumerate(grad_steps, start=1):
        grads = keras_clip([g.copy() for g in grads], **clip)
        for w, g, s in zip(weights, grads, state):
            if weight_decay:
                w -= w * weight_decay * lr
            if rule == "sgd":
                mu = hp.get("momentum", 0.0)
                if mu:
                    s["m"] = mu * s.get("m", 0.0) - lr * g
                    w += mu * s["m"] - lr * g if hp.get("nesterov") else s["m"]
                else:
                    w -= lr * g
            elif rule == "adam":
                b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), hp.get(
                    "epsilon", 1e-7)
                m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
                v = s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
                if hp.get("amsgrad"):
                    v = s["vhat"] = np.maximum(s.get("vhat", 0.0), v)
                alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
                w -= m * alpha / (np.sqrt(v) + eps)
            elif rule == "rmsprop":
                rho, mu, eps = hp.get("rho", 0.9), hp.get("momentum", 0.0), hp.get(
                    "epsilon", 1e-7)
                v = s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
                if hp.get("centered"):
                    a = s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
                    denominator = v - a * a + eps
                else:
                    denominator = v + eps
                increment = lr * g / np.sqrt(denominator)
                if mu > 0:
                    s["mom"] = mu * s.get("mom", 0.0) + increment
                    w -= s["mom"]
                else:
                    w -= increment
            elif rule == "adagrad":
                acc = s["acc"] = s.get("acc", hp.get("initial_accumulator_value", 0.1)) + g * g
                w -= lr * g / np.sqrt(acc + hp.get("epsilon", 1e-7))
    return weights


RULES = [
    ("sgd", optimizers.SGD, {}),
    ("sgd", optimizers.SGD, {"momentum": 0.9}),
    ("sgd", optimizers.SGD, {"momentum": 0.5, "nesterov": True}),
    ("adam", optimizers.Adam, {}),
    ("adam", optimizers.Adam, {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("adam", optimizers.Adam, {"amsgrad": True}),
    ("rmsprop", optimizers.RMSprop, {}),
    ("rmsprop", optimizers.RMSprop, {"centered": True}),
    ("rmsprop", optimizers.RMSprop, {"momentum": 0.7}),
    ("rmsprop", optimizers.RMSprop, {"rho": 0.5, "momentum": 0.3, "centered": True}),
    ("adagrad", optimizers.Adagrad, {}),
    ("adagrad", optimizers.Adagrad, {"initial_accumulator_value": 0.0, "epsilon": 1e-3}),
]
EXTRAS = [
    {},
    {"weight_decay": 0.05},
    {"clipnorm": 0.5},
    {"clipvalue": 0.3},
    {"global_clipnorm": 0.7},
]


def _random_problem(seed, steps=5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(4, 3)).astype(dtype), rng.normal(size=3).astype(dtype)]
    grad_steps = [[rng.normal(size=w.shape).astype(dtype) for w in weights]
                  for _ in range(steps)]
    grad_steps[2][1][:] = 0.0  # a step with zero gradient for one variable
    return weights, grad_steps


@pytest.mark.parametrize("extra", EXTRAS, ids=lambda e: "-".join(e) or "plain")
@pytest.mark.parametrize("rule, cls, hp", RULES,
                         ids=[f"{cls.__name__}{hp or ''}" for _, cls, hp in RULES])
def test_rule_matches_keras_formula_in_float64(rule, cls, hp, extra):
    weights, grad_steps = _random_problem(seed=len(str(hp)) + len(extra))
    lr = 0.05
    expected = keras_reference(rule, hp, weights, grad_steps, lr, **extra)
    variables = [Tensor(w.copy()) for w in weights]
    optimizer = cls(learning_rate=lr, **hp, **extra)
    for grads in grad_steps:
        optimizer.apply_gradients(zip(grads, variables))
    for i, (v, e) in enumerate(zip(variables, expected)):
        np.testing.assert_allclose(v.data, e, rtol=1e-12, atol=1e-14, err_msg=f"variable {i}")
    assert optimizer.iterations == len(grad_steps)


def test_adamw_is_adam_with_default_weight_decay_0_004():
    weights, grad_steps = _random_problem(seed=3)
    expected = keras_reference("adam", {}, weights, grad_steps, 0.01, weight_decay=0.004)
    variables = [Tensor(w.copy()) for w in weights]
    optimizer = optimizers.AdamW(learning_rate=0.01)
    for grads in grad_steps:
        optimizer.apply_gradients(zip(grads, variables))
    for v, e in zip(variables, expected):
        np.testing.assert_allclose(v.data, e, rtol=1e-12)


def test_clipping_actually_clipped_in_the_reference_problem():
    """Guard for the tests above: the clipping thresholds are below the gradients' norms."""
    _, grad_steps = _random_problem(seed=0)
    norms = [np.linalg.norm(g) for grads in grad_steps for g in grads if g.any()]
    assert min(norms) > 0.5 and max(abs(g).max() for grads in grad_steps for g in grads) > 0.3


def test_global_clipnorm_with_a_nonfinite_gradient_makes_the_step_nan_as_keras():
    w = [Tensor(np.ones(2)), Tensor(np.ones(2))]
    opt = optimizers.SGD(learning_rate=0.1, global_clipnorm=1.0)
    with np.errstate(invalid="ignore"):
        opt.apply_gradients([(np.array([np.inf, 1.0]), w[0]), (np.array([1.0, 1.0]), w[1])])
    assert np.isnan(w[0].data).all() and np.isnan(w[1].data).all()


# ----------------------------------------------------------------------------------------
# (c) Keras's documented example
# ----------------------------------------------------------------------------------------


def test_rmsprop_keras_docstring_example():
    """keras.optimizers.RMSprop's docstring: lr 0.1, var 10, loss var²/2 -> 9.683772."""
    var = Tensor(np.float32(10.0), requires_grad=True)
    loss = var * var / 2.0
    loss.backward()
    optimizers.RMSprop(learning_rate=0.1).step([var])
    assert var.data.dtype == np.float32
    np.testing.assert_allclose(var.data, 9.683772, rtol=1e-7)


# ----------------------------------------------------------------------------------------
# Learning rate, dtype, in-place semantics, the two calling styles
# ----------------------------------------------------------------------------------------


def test_learning_rate_is_assignable_between_steps():
    w = Tensor(np.array([1.0, 2.0]))
    opt = optimizers.SGD(learning_rate=0.1)
    opt.apply_gradients([(np.array([1.0, 1.0]), w)])
    opt.learning_rate = 0.01
    assert opt.learning_rate == 0.01
    opt.apply_gradients([(np.array([1.0, 1.0]), w)])
    np.testing.assert_allclose(w.data, [1.0 - 0.1 - 0.01, 2.0 - 0.1 - 0.01], rtol=1e-15)
    opt.learning_rate = 0.0  # allowed after construction (e.g. the end of a decay)
    opt.apply_gradients([(np.array([1.0, 1.0]), w)])
    np.testing.assert_allclose(w.data, [0.89, 1.89], rtol=1e-15)
    with pytest.raises(ValueError, match=r"learning_rate.*-1"):
        opt.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate=nan"):
        opt.learning_rate = float("nan")


def test_learning_rate_schedule_gets_the_iteration_count():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1 / (1 + step)

    w = Tensor(np.array([0.0]))
    opt = optimizers.SGD(learning_rate=schedule)
    for _ in range(3):
        opt.apply_gradients([(np.array([1.0]), w)])
    assert seen[:3] == [0, 1, 2]
    np.testing.assert_allclose(w.data, [-(0.1 + 0.05 + 0.1 / 3)], rtol=1e-15)
    assert opt.learning_rate == pytest.approx(0.1 / 4)
    # A callable of no arguments is also accepted, as in Keras.
    opt2 = optimizers.SGD(learning_rate=lambda: 0.5)
    opt2.apply_gradients([(np.array([1.0]), w)])
    np.testing.assert_allclose(w.data, [-(0.1 + 0.05 + 0.1 / 3) - 0.5], rtol=1e-15)


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop,
                                 optimizers.Adagrad])
def test_state_dtype_follows_each_variable(cls):
    kwargs = {"momentum": 0.9} if cls is optimizers.SGD else {}
    w32 = Tensor(np.ones((2, 3), np.float32))
    w64 = Tensor(np.ones(4, np.float64))
    opt = cls(**kwargs)
    # A float64 gradient for the float32 variable is cast, as Keras does.
    opt.apply_gradients([(np.full((2, 3), 0.5), w32), (np.full(4, 0.5), w64)])
    assert w32.data.dtype == np.float32 and w64.data.dtype == np.float64
    slots = opt.get_state()["slots"]
    assert slots
    for arrays in slots.values():
        assert arrays[0].dtype == np.float32 and arrays[0].shape == (2, 3)
        assert arrays[1].dtype == np.float64 and arrays[1].shape == (4,)


def test_update_is_in_place_and_bumps_the_version():
    w = Tensor(np.ones(3), requires_grad=True)
    data = w.data
    loss = (w * w).sum()
    loss.backward()
    optimizers.SGD(learning_rate=0.1).step([w])
    assert w.data is data
    np.testing.assert_allclose(data, 0.8)
    # A graph that saved the old value refuses to backpropagate (the version counter).
    loss2 = (w * w).sum()
    optimizers.SGD(learning_rate=0.1).apply_gradients([(np.ones(3), w)])
    with pytest.raises(GraphError, match="modified in place"):
        loss2.backward()


def test_non_contiguous_variable_is_updated_in_place():
    base = np.arange(6.0).reshape(2, 3)
    w = Tensor(base.T)  # a transposed view
    assert not w.data.flags.c_contiguous
    grad = np.ones((3, 2))
    optimizers.Adam(learning_rate=0.1).apply_gradients([(grad, w)])
    expected = keras_reference("adam", {}, [np.arange(6.0).reshape(2, 3).T], [[grad]], 0.1)[0]
    np.testing.assert_allclose(base.T, expected, rtol=1e-12)


def test_pytorch_style_step_and_zero_grad():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    opt = optimizers.SGD(learning_rate=0.5)
    with pytest.raises(ValueError, match=r"step\(variables\)"):
        opt.step()
    opt.build([a, b])
    a.grad = np.array([1.0, 2.0])  # b.grad is None: left alone, as in PyTorch
    opt.step()
    np.testing.assert_allclose(a.data, [0.5, 0.0])
    np.testing.assert_allclose(b.data, [1.0, 1.0, 1.0])
    assert opt.iterations == 1
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()  # every .grad is None: nothing happens
    assert opt.iterations == 1
    np.testing.assert_allclose(a.data, [0.5, 0.0])


def test_apply_gradients_skips_none_with_a_warning_and_refuses_all_none():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt = optimizers.SGD(learning_rate=1.0)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        opt.apply_gradients([(np.ones(2), a), (None, b)])
    np.testing.assert_allclose(a.data, 0.0)
    np.testing.assert_allclose(b.data, 1.0)
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply_gradients([(None, a), (None, b)])
    assert opt.iterations == 1


def test_gradients_as_tensors_and_subsets_in_any_order_use_the_right_state():
    weights, grad_steps = _random_problem(seed=5, steps=3)
    a1, b1 = (Tensor(w.copy()) for w in weights)
    a2, b2 = (Tensor(w.copy()) for w in weights)
    opt1, opt2 = optimizers.Adam(), optimizers.Adam()
    opt1.build([a1, b1])
    opt2.build([a2, b2])
    for ga, gb in grad_steps:
        opt1.apply_gradients([(ga, a1), (gb, b1)])
        opt2.apply_gradients([(Tensor(gb), b2), (Tensor(ga), a2)])
    np.testing.assert_array_equal(a1.data, a2.data)
    np.testing.assert_array_equal(b1.data, b2.data)


def test_exclude_from_weight_decay_by_name():
    kernel = Tensor(np.ones(3), name="dense/kernel")
    bias = Tensor(np.ones(3), name="dense/bias")
    opt = optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.zeros(3), kernel), (np.zeros(3), bias)])  # Adam's step is 0
    np.testing.assert_allclose(kernel.data, 1.0 - 1.0 * 0.5 * 0.1)
    np.testing.assert_allclose(bias.data, 1.0)
    with pytest.raises(ValueError, match="before"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


def test_variables_count_as_keras_summary():
    shapes = [(784, 128), (128,), (128, 10), (10,)]
    ws = [Tensor(np.zeros(s, np.float32)) for s in shapes]
    opt = optimizers.Adam()
    assert opt.variables_count() == 0
    opt.build(ws)
    # Keras's summary of its MNIST MLP: "Optimizer params: 203,542" (2 slots + 2 scalars).
    assert opt.variables_count() == 203_542


# ----------------------------------------------------------------------------------------
# State save / restore
# ----------------------------------------------------------------------------------------

STATEFUL = [
    optimizers.SGD(momentum=0.9),
    optimizers.Adam(amsgrad=True),
    optimizers.RMSprop(momentum=0.5, centered=True),
    optimizers.Adagrad(),
]


@pytest.mark.parametrize("make", [lambda o=o: type(o).from_config(o.get_config())
                                  for o in STATEFUL], ids=[type(o).__name__ for o in STATEFUL])
def test_state_round_trip_resumes_bitwise(make):
    weights, grad_steps = _random_problem(seed=1, steps=6, dtype=np.float32)
    original = [Tensor(w.copy()) for w in weights]
    opt = make()
    for grads in grad_steps[:3]:
        opt.apply_gradients(zip(grads, original))
    state = opt.get_state()
    assert state["iterations"] == 3
    resumed = [Tensor(v.data.copy()) for v in original]
    opt2 = make()
    opt2.build(resumed)
    opt2.set_state(state)
    for grads in grad_steps[3:]:
        opt.apply_gradients(zip(grads, original))
        opt2.apply_gradients(zip(grads, resumed))
    for a, b in zip(original, resumed):
        np.testing.assert_array_equal(a.data, b.data)
    assert opt2.iterations == 6
    # get_state hands out copies: training on did not change the saved arrays.
    later = opt.get_state()["slots"]
    name = next(iter(later))
    assert not np.array_equal(later[name][0], state["slots"][name][0])


def test_learning_rate_is_part_of_the_state():
    w = Tensor(np.ones(2))
    opt = optimizers.SGD(learning_rate=0.1)
    opt.learning_rate = 0.02  # e.g. ReduceLROnPlateau
    opt.apply_gradients([(np.ones(2), w)])
    opt2 = optimizers.SGD(learning_rate=0.1)
    opt2.build([w])
    opt2.set_state(opt.get_state())
    assert opt2.learning_rate == 0.02 and opt2.iterations == 1


def _state_snapshot(opt):
    s = opt.get_state()
    return s["iterations"], s["learning_rate"], {k: [a.copy() for a in v]
                                                 for k, v in s["slots"].items()}


@pytest.mark.parametrize("corrupt, match", [
    (lambda s: s["slots"]["velocity"].__setitem__(1, np.zeros(5, np.float32)), r"shape \(5,\)"),
    (lambda s: s["slots"]["velocity"].__setitem__(0, np.zeros((4, 3))), "dtype float64"),
    (lambda s: s["slots"]["velocity"].pop(), "has 1 arrays"),
    (lambda s: s["slots"].pop("momentum"), "keeps slots"),
    (lambda s: s["slots"].__setitem__("extra", []), "keeps slots"),
    (lambda s: s.__setitem__("iterations", -1), "iterations"),
    (lambda s: s.pop("slots"), "'slots'"),
])
def test_set_state_checks_everything_before_changing_anything(corrupt, match):
    weights, grad_steps = _random_problem(seed=2, dtype=np.float32)
    ws = [Tensor(w) for w in weights]
    opt = optimizers.Adam()
    opt.apply_gradients(zip(grad_steps[0], ws))
    good = opt.get_state()
    for grads in grad_steps[1:3]:
        opt.apply_gradients(zip(grads, ws))
    before = _state_snapshot(opt)
    good["iterations"] = 0  # would change if anything were assigned
    corrupt(good)
    with pytest.raises(CheckpointError, match=match):
        opt.set_state(good)
    after = _state_snapshot(opt)
    assert before[:2] == after[:2]
    for name in before[2]:
        for a, b in zip(before[2][name], after[2][name]):
            np.testing.assert_array_equal(a, b)


def test_set_state_with_slots_on_an_unbuilt_optimizer_says_how_to_build_it():
    w = Tensor(np.ones(2))
    opt = optimizers.Adam()
    opt.apply_gradients([(np.ones(2), w)])
    with pytest.raises(CheckpointError, match=r"build\("):
        optimizers.Adam().set_state(opt.get_state())
    # With the variables it builds itself first (what loading a saved model does) ...
    fresh = optimizers.Adam()
    fresh.set_state(opt.get_state(), [Tensor(np.ones(2))])
    assert fresh.built and fresh.iterations == 1
    np.testing.assert_array_equal(fresh.get_state()["slots"]["velocity"][0],
                                  opt.get_state()["slots"]["velocity"][0])
    # ... and a state that does not fit those variables leaves it unbuilt.
    other = optimizers.Adam()
    with pytest.raises(CheckpointError, match=r"shape \(2,\).*shape \(3,\)"):
        other.set_state(opt.get_state(), [Tensor(np.ones(3))])
    assert not other.built and other.iterations == 0


# ----------------------------------------------------------------------------------------
# get / config
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls, lr", [
    ("sgd", optimizers.SGD, 0.01), ("SGD", optimizers.SGD, 0.01),
    ("adam", optimizers.Adam, 0.001), ("Adam", optimizers.Adam, 0.001),
    ("ADAMW", optimizers.AdamW, 0.001), ("rmsprop", optimizers.RMSprop, 0.001),
    ("RMSprop", optimizers.RMSprop, 0.001), ("adagrad", optimizers.Adagrad, 0.001),
])
def test_get_resolves_names_case_insensitively_with_keras_defaults(name, cls, lr):
    opt = optimizers.get(name)
    assert type(opt) is cls and opt.learning_rate == lr


def test_keras_defaults():
    assert optimizers.AdamW().weight_decay == 0.004
    adam = optimizers.Adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.9, 0.999, 1e-7, False)
    rms = optimizers.RMSprop()
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert optimizers.Adagrad().initial_accumulator_value == 0.1


def test_get_passes_instances_and_none_through_and_rejects_unknown_names():
    opt = optimizers.Adam()
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'adamm'.*'adam'.*'sgd'"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(42)


@pytest.mark.parametrize("opt", [
    optimizers.SGD(learning_rate=0.2, momentum=0.5, nesterov=True, clipnorm=1.0),
    optimizers.Adam(learning_rate=0.02, beta_1=0.8, amsgrad=True, weight_decay=0.1),
    optimizers.AdamW(global_clipnorm=2.0),
    optimizers.RMSprop(rho=0.8, centered=True, clipvalue=0.5),
    optimizers.Adagrad(initial_accumulator_value=0.2, epsilon=1e-5),
], ids=lambda o: type(o).__name__)
def test_config_round_trip(opt):
    config = opt.get_config()
    for key in ("name", "learning_rate", "weight_decay", "clipnorm", "clipvalue",
                "global_clipnorm"):  # Keras's base keys
        assert key in config
    clone = optimizers.get(optimizers.serialize(opt))
    assert type(clone) is type(opt) and clone.get_config() == config
    assert optimizers.deserialize({"class_name": type(opt).__name__.upper(),
                                   "config": config}).get_config() == config


# ----------------------------------------------------------------------------------------
# Errors (docs/ERRORS.md: the argument, the value, the fix)
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs, match", [
    (optimizers.Adam, {"learning_rate": 0.0}, r"learning_rate.*> 0.*learning_rate=0\.0"),
    (optimizers.SGD, {"learning_rate": -0.1}, r"learning_rate=-0\.1"),
    (optimizers.Adam, {"learning_rate": float("nan")}, "learning_rate=nan"),
    (optimizers.Adam, {"learning_rate": float("inf")}, "learning_rate=inf"),
    (optimizers.Adam, {"beta_1": 1.0}, r"beta_1.*\[0\.0, 1\.0\).*beta_1=1\.0"),
    (optimizers.Adam, {"beta_2": -0.1}, r"beta_2=-0\.1"),
    (optimizers.AdamW, {"beta_2": float("nan")}, "beta_2=nan"),
    (optimizers.Adam, {"epsilon": -1e-8}, r"epsilon.*epsilon=-1e-08"),
    (optimizers.RMSprop, {"epsilon": float("nan")}, "epsilon=nan"),
    (optimizers.SGD, {"momentum": 1.5}, r"momentum.*\[0\.0, 1\.0\].*momentum=1\.5"),
    (optimizers.SGD, {"momentum": -0.1}, r"momentum=-0\.1"),
    (optimizers.RMSprop, {"momentum": 2.0}, "momentum=2.0"),
    (optimizers.RMSprop, {"rho": 1.0}, "rho=1.0"),
    (optimizers.Adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (optimizers.SGD, {"weight_decay": -0.01}, r"weight_decay=-0\.01"),
    (optimizers.AdamW, {"weight_decay": None}, "weight_decay=None"),
    (optimizers.SGD, {"clipnorm": 0.0}, r"clipnorm.*None.*clipnorm=0\.0"),
    (optimizers.SGD, {"clipnorm": 1.0, "clipvalue": 1.0}, "Only one of"),
    (optimizers.Adam, {"use_ema": True}, "use_ema=True"),
    (optimizers.Adam, {"learning_rat": 0.1}, "not recognized"),
])
def test_invalid_arguments_raise_value_error(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_pytorch_style_constructor_gets_a_helpful_type_error():
    params = [Tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(TypeError, match=r"build\(variables\)"):
        optimizers.Adam(params)
    with pytest.raises(TypeError, match=r"build\(variables\)"):
        optimizers.SGD(p for p in params)
    assert optimizers.Adam(np.float32(0.01)).learning_rate == np.float32(0.01)  # NumPy is fine
    with pytest.raises(TypeError, match="learning_rate"):
        optimizers.Adam(learning_rate="0.1")
    with pytest.raises(TypeError, match="beta_1"):
        optimizers.Adam(beta_1=True)


def test_step_errors_leave_every_variable_unchanged():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(3))
    opt = optimizers.Adam()
    with pytest.raises(ShapeError, match=r"shape \(2,\).*shape \(3,\)"):
        opt.apply_gradients([(np.ones(2), a), (np.ones(2), b)])
    np.testing.assert_array_equal(a.data, 1.0)  # the first variable was not updated either
    assert opt.iterations == 0
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(np.ones(2), Tensor(np.ones(2)))])
    with pytest.raises(ValueError, match="appears twice"):
        optimizers.SGD().build([a, a])
    with pytest.raises(DTypeError, match="floating-point"):
        optimizers.SGD().build([Tensor(np.arange(3))])


# ----------------------------------------------------------------------------------------
# A CuPy-like device: the xp twins run there (tests/standin_device.py refuses NumPy mixing)
# ----------------------------------------------------------------------------------------

DEVICE_CASES = [
    (optimizers.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (optimizers.Adam, {"amsgrad": True, "clipnorm": 1.0}),
    (optimizers.RMSprop, {"centered": True, "momentum": 0.5, "global_clipnorm": 1.0}),
    (optimizers.Adagrad, {"clipvalue": 0.5}),
]


@pytest.mark.parametrize("cls, kwargs", DEVICE_CASES, ids=[c.__name__ for c, _ in DEVICE_CASES])
def test_device_training_equals_cpu_training_bitwise(cls, kwargs):
    device = standin_device.install()
    weights, grad_steps = _random_problem(seed=4, steps=4, dtype=np.float32)
    on_cpu = [Tensor(w.copy()) for w in weights]
    on_device = [Tensor(device.asarray(w.copy())) for w in weights]
    moved = [Tensor(w.copy()) for w in weights]  # starts on the CPU, moves after 2 steps
    opt_cpu, opt_device, opt_moved = cls(**kwargs), cls(**kwargs), cls(**kwargs)
    for step, grads in enumerate(grad_steps):
        if step == 2:  # what model.to(device) does: new arrays for the weights, then the state
            for w in moved:
                w.data = device.asarray(w.data)
            opt_moved.to(device)
        opt_cpu.apply_gradients(zip(grads, on_cpu))
        opt_device.apply_gradients(zip([device.asarray(g) for g in grads], on_device))
        opt_moved.step([_with_grad(w, device.asarray(g) if step >= 2 else g)
                        for w, g in zip(moved, grads)])
    for a, b, c in zip(on_cpu, on_device, moved):
        assert type(b.data) is standin_device.StandinArray
        # exact: the CPU's kernels and the device's xp twins do the same IEEE operations in
        # the same order, and sqrt (their only function) is correctly rounded everywhere
        np.testing.assert_array_equal(device.to_numpy(b.data), a.data)
        np.testing.assert_array_equal(device.to_numpy(c.data), a.data)
    # get_state hands back NumPy arrays wherever the state lives.
    for arrays in opt_device.get_state()["slots"].values():
        assert all(type(a) is np.ndarray for a in arrays)


def _with_grad(tensor, grad):
    tensor.grad = grad
    return tensor
