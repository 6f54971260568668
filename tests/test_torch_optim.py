"""minidl.torch.optim against real PyTorch: update rules, groups, state, errors, schedulers.

The reference is PyTorch itself (installed for the tests): every optimizer and option is
stepped side by side in both libraries from the same weights with the same gradient
sequence, and the weights and the optimizer state must agree (float64 to 1e-10, float32 to
1e-5). The PyTorch flavour of the fused kernels is also checked bitwise against its xp twin,
as ``tests/test_optimizer_kernels.py`` does for the Keras flavour.
"""

import math
import warnings

import numpy as np
import pytest
import standin_device  # tests/ helper: a stand-in for a CuPy device
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_optimizer_kernels import assert_bitwise_equal, make_arrays

import minidl.ops.elementwise as ew
import minidl.torch.optim as optim
from minidl import Tensor, config
from minidl import optimizers as keras_optimizers
from minidl.torch.optim import lr_scheduler

# A parity file: CI runs its hypothesis test a second time with other examples.
pytestmark = pytest.mark.parity

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 1e-5, "atol": 1e-6}}
SHAPES = [(4, 3), (3,), (2, 2, 2)]

# Every optimizer and option. The gradient sequence below also leaves parameter 2 without a
# gradient on some steps, so skipping (and per-parameter step counts) is always exercised.
CONFIGS = [
    ("SGD", {}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True,
             "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "maximize": True, "eps": 1e-3}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-3}),
    ("Adadelta", {"weight_decay": 0.1, "maximize": True}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
       for name, kw in CONFIGS]


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES]


def _gradients(step, seed=1):
    """Step ``step``'s gradients; parameter 2 gets none on steps 1 and 4."""
    rng = np.random.default_rng(1000 * seed + step)
    grads = [rng.normal(size=s) * 10.0 ** rng.integers(-2, 1) for s in SHAPES]
    if step in (1, 4):
        grads[2] = None
    return grads


def _pair(name, kwargs, dtype, groups=None):
    """The same parameters in both libraries, each with its optimizer."""
    ours = [Tensor(w.astype(dtype), requires_grad=True) for w in _weights()]
    theirs = [torch.tensor(w.astype(dtype), requires_grad=True) for w in _weights()]
    if groups is None:
        return (ours, getattr(optim, name)(ours, **kwargs),
                theirs, getattr(torch.optim, name)(theirs, **kwargs))
    mine = [{**g, "params": [ours[i] for i in g["params"]]} for g in groups]
    real = [{**g, "params": [theirs[i] for i in g["params"]]} for g in groups]
    return (ours, getattr(optim, name)(mine, **kwargs),
            theirs, getattr(torch.optim, name)(real, **kwargs))


def _set_grads(ours, theirs, grads, dtype):
    for p, q, g in zip(ours, theirs, grads):
        p.grad = None if g is None else g.astype(dtype)
        q.grad = None if g is None else torch.tensor(g.astype(dtype))


def _assert_params_match(ours, theirs, dtype, what=""):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, q.detach().numpy(), **TOL[dtype],
                                   err_msg=f"{what} parameter {i}")


def _assert_state_matches(ours, theirs, dtype):
    """The optimizer state too: same keys per parameter, same values."""
    mine, real = ours.state_dict(), theirs.state_dict()
    assert sorted(mine["state"]) == sorted(real["state"])
    for index, values in real["state"].items():
        assert sorted(mine["state"][index]) == sorted(values), index
        for key, value in values.items():
            if key == "step":
                assert mine["state"][index][key] == value.item()
            else:
                np.testing.assert_allclose(mine["state"][index][key].data, value.numpy(),
                                           **TOL[dtype], err_msg=f"{index} {key}")


# ----------------------------------------------------------------------------------------
# The update rules, step by step against PyTorch
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_steps_match_pytorch(name, kwargs, dtype):
    ours, mine, theirs, real = _pair(name, kwargs, dtype)
    for step in range(6):
        _set_grads(ours, theirs, _gradients(step), dtype)
        mine.step()
        real.step()
        _assert_params_match(ours, theirs, dtype, f"{name} step {step}")
    _assert_state_matches(mine, real, dtype)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("RMSprop", {"centered": True, "momentum": 0.3}), ("Adadelta", {}),
])
def test_training_loop_with_autograd_matches_pytorch(name, kwargs):
    """The whole PyTorch loop: zero_grad, a loss, backward (each library's own autograd),
    step; a tanh MLP so no gradient is exactly 0."""
    rng = np.random.default_rng(7)
    init = [rng.normal(size=(3, 5)), np.zeros(5), rng.normal(size=(5, 2)), np.zeros(2)]
    ours = [Tensor(w.copy(), requires_grad=True) for w in init]
    theirs = [torch.tensor(w.copy(), requires_grad=True) for w in init]
    mine = getattr(optim, name)(ours, **kwargs)
    real = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(8):
        x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 2))
        for params, opt, lib in ((ours, mine, "minidl"), (theirs, real, "torch")):
            w1, b1, w2, b2 = params
            if lib == "minidl":
                out = ew.tanh(Tensor(x) @ w1 + b1) @ w2 + b2
                loss = ((out - Tensor(y)) * (out - Tensor(y))).mean()
            else:
                out = torch.tanh(torch.tensor(x) @ w1 + b1) @ w2 + b2
                loss = ((out - torch.tensor(y)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        _assert_params_match(ours, theirs, np.float64, f"{name} step {step}")


def test_param_groups_with_their_own_options_match_pytorch():
    groups = [{"params": [0, 1], "lr": 0.1, "momentum": 0.9},
              {"params": [2], "nesterov": True, "momentum": 0.5, "weight_decay": 0.2}]
    ours, mine, theirs, real = _pair("SGD", {"lr": 0.01}, np.float64, groups)
    assert mine.param_groups[1]["lr"] == 0.01  # the default fills what a group leaves out
    for step in range(5):
        _set_grads(ours, theirs, _gradients(step), np.float64)
        mine.step()
        real.step()
    _assert_params_match(ours, theirs, np.float64)


def test_lr_changed_by_hand_takes_effect_as_in_pytorch():
    ours, mine, theirs, real = _pair("Adam", {"lr": 0.01}, np.float64)
    for step in range(6):
        if step == 3:
            for opt in (mine, real):
                opt.param_groups[0]["lr"] = 0.1
                opt.param_groups[0]["betas"] = (0.5, 0.9)
        _set_grads(ours, theirs, _gradients(step), np.float64)
        mine.step()
        real.step()
    _assert_params_match(ours, theirs, np.float64)
    before = [p.data.copy() for p in ours]
    mine.param_groups[0]["lr"] = 0.0  # lr 0 freezes the weights (allowed, as in PyTorch)
    _set_grads(ours, theirs, _gradients(9), np.float64)
    mine.step()
    for a, b in zip(before, ours):
        np.testing.assert_array_equal(a, b.data)


def test_add_param_group_later_matches_pytorch():
    ours, mine, theirs, real = _pair("RMSprop", {"lr": 0.01}, np.float64,
                                     groups=[{"params": [0, 1]}])
    for step in range(6):
        if step == 2:
            mine.add_param_group({"params": ours[2], "lr": 0.05, "momentum": 0.5})
            real.add_param_group({"params": theirs[2], "lr": 0.05, "momentum": 0.5})
            assert mine.param_groups[1]["alpha"] == 0.99
        _set_grads(ours, theirs, _gradients(step), np.float64)
        mine.step()
        real.step()
    _assert_params_match(ours, theirs, np.float64)


def test_options_and_state_keys_are_pytorchs():
    """defaults, the group keys of state_dict and the per-parameter state names."""
    for name, kwargs in [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}),
                         ("AdamW", {}), ("RMSprop", {"centered": True, "momentum": 0.1}),
                         ("Adagrad", {}), ("Adadelta", {})]:
        ours, mine, theirs, real = _pair(name, kwargs, np.float64)
        assert mine.defaults == real.defaults, name
        _set_grads(ours, theirs, _gradients(0), np.float64)
        mine.step()
        real.step()
        a, b = mine.state_dict(), real.state_dict()
        assert a["param_groups"] == b["param_groups"], name
        assert {k: sorted(v) for k, v in a["state"].items()} == {
            k: sorted(v) for k, v in b["state"].items()}, name


def test_parameters_without_a_gradient_are_skipped():
    ours = [Tensor(w, requires_grad=True) for w in _weights()]
    adam = optim.Adam(ours, lr=0.1)
    ours[0].grad = np.ones(SHAPES[0])
    before = [p.data.copy() for p in ours]
    adam.step()
    assert not np.array_equal(ours[0].data, before[0])
    for p, b in zip(ours[1:], before[1:]):
        np.testing.assert_array_equal(p.data, b)  # untouched ...
        assert p not in adam.state  # ... and no state created for them
    assert adam.state[ours[0]]["step"] == 1


def test_step_bumps_the_version_so_stale_graphs_refuse_backward():
    w = Tensor(np.ones(3), requires_grad=True)
    loss = (w * w).sum()  # saves w for its backward
    w.grad = np.ones(3)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="version"):
        loss.backward()


def test_closure_is_called_and_its_loss_returned():
    w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    sgd = optim.SGD([w], lr=0.25)

    def closure():
        sgd.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = sgd.step(closure)
    assert float(loss.data) == 5.0
    np.testing.assert_array_equal(w.data, [0.5, -1.0])  # w - 0.25·2w


# ----------------------------------------------------------------------------------------
# zero_grad
# ----------------------------------------------------------------------------------------


def test_zero_grad_sets_none_by_default_and_zeros_on_request():
    ours = [Tensor(w, requires_grad=True) for w in _weights()]
    sgd = optim.SGD(ours, momentum=0.9)
    for p in ours:
        p.grad = np.ones(p.shape)
    sgd.zero_grad()
    assert all(p.grad is None for p in ours)
    held = np.ones(SHAPES[0])
    ours[0].grad = held
    sgd.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(ours[0].grad, np.zeros(SHAPES[0]))
    np.testing.assert_array_equal(held, np.ones(SHAPES[0]))  # a new array; the old one kept
    assert ours[1].grad is None  # a parameter without a gradient keeps None


def test_zero_gradients_still_move_weights_under_momentum_as_in_pytorch():
    ours, mine, theirs, real = _pair("SGD", {"lr": 0.1, "momentum": 0.9}, np.float64)
    _set_grads(ours, theirs, [np.ones(s) for s in SHAPES], np.float64)
    mine.step()
    real.step()
    mine.zero_grad(set_to_none=False)
    real.zero_grad(set_to_none=False)
    mine.step()
    real.step()
    _assert_params_match(ours, theirs, np.float64)


# ----------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.05, "momentum": 0.9}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adagrad", {"lr_decay": 0.1}),
    ("Adadelta", {}),
])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    params = [Tensor(w, requires_grad=True) for w in _weights()]
    opt = getattr(optim, name)(params, **kwargs)
    for step in range(3):
        for p, g in zip(params, _gradients(step)):
            p.grad = g
        opt.step()
    saved = opt.state_dict()
    saved_weights = [p.data.copy() for p in params]
    snapshot = {i: {k: np.array(v.data) if hasattr(v, "data") else v for k, v in s.items()}
                for i, s in saved["state"].items()}
    for step in range(3, 6):  # the uninterrupted run
        for p, g in zip(params, _gradients(step)):
            p.grad = g
        opt.step()
    # The saved dict holds copies: the later steps did not change it.
    for i, values in saved["state"].items():
        for k, v in values.items():
            np.testing.assert_array_equal(v.data if hasattr(v, "data") else v, snapshot[i][k])
    resumed = [Tensor(w, requires_grad=True) for w in saved_weights]
    opt2 = getattr(optim, name)(resumed, lr=123.0)  # options come from the state dict
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for step in range(3, 6):
        for p, g in zip(resumed, _gradients(step)):
            p.grad = g
        opt2.step()
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.data, b.data)  # bitwise: the same run


def test_loads_a_real_pytorch_state_dict_and_continues_as_pytorch():
    ours, mine, theirs, real = _pair("Adam", {"lr": 0.01, "amsgrad": True}, np.float64)
    for step in range(3):
        _set_grads(ours, theirs, _gradients(step), np.float64)
        real.step()
    for p, q in zip(ours, theirs):
        p.data[...] = q.detach().numpy()
    mine.load_state_dict(real.state_dict())  # torch tensors in it: converted
    for step in range(3, 6):
        _set_grads(ours, theirs, _gradients(step), np.float64)
        mine.step()
        real.step()
    _assert_params_match(ours, theirs, np.float64)


def test_load_state_dict_checks_everything_before_changing_anything():
    params = [Tensor(w, requires_grad=True) for w in _weights()]
    adam = optim.Adam(params, lr=0.01)
    for p, g in zip(params, _gradients(0)):
        p.grad = g
    adam.step()
    good = adam.state_dict()
    before = adam.state_dict()
    wrong_shape = adam.state_dict()
    wrong_shape["state"][1]["exp_avg"] = Tensor(np.zeros(5))
    wrong_shape["param_groups"][0]["lr"] = 0.5
    with pytest.raises(ValueError, match=r"exp_avg.*shape \(5,\).*\(3,\)"):
        adam.load_state_dict(wrong_shape)
    two_groups = {"state": {}, "param_groups": good["param_groups"] * 2}
    with pytest.raises(ValueError, match="number of parameter groups: 2 saved, 1 here"):
        adam.load_state_dict(two_groups)
    fewer = adam.state_dict()
    fewer["param_groups"][0]["params"] = [0, 1]
    with pytest.raises(ValueError, match="group 0 has 2 parameters saved and 3 here"):
        adam.load_state_dict(fewer)
    after = adam.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i in before["state"]:
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(after["state"][i][k].data, before["state"][i][k].data)


# ----------------------------------------------------------------------------------------
# Errors (the fault rules: type, a message naming the argument and value, no side effects)
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_empty_parameter_list_and_negative_lr_raise_value_error(name):
    cls = getattr(optim, name)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([])
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(p for p in [])  # an exhausted generator, e.g. parameters() of an empty model
    w = Tensor(np.ones(2), requires_grad=True)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match=r"Invalid lr.*>= 0.*lr=" + str(bad)):
            cls([w], lr=bad)
    cls([w], lr=0.0)  # a frozen model is a legitimate setting


@pytest.mark.parametrize("make, match", [
    (lambda w: optim.SGD([w], momentum=-0.5), "momentum=-0.5"),
    (lambda w: optim.SGD([w], weight_decay=-1), "weight_decay=-1"),
    (lambda w: optim.SGD([w], nesterov=True), "Nesterov momentum requires a momentum"),
    (lambda w: optim.SGD([w], momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    (lambda w: optim.Adam([w], betas=(1.0, 0.999)), r"beta parameter at index 0.*betas?"),
    (lambda w: optim.Adam([w], betas=(0.9, -0.1)), "index 1"),
    (lambda w: optim.Adam([w], eps=-1e-8), "eps=-1e-08"),
    (lambda w: optim.RMSprop([w], alpha=-0.5), "alpha=-0.5"),
    (lambda w: optim.Adagrad([w], lr_decay=-1), "lr_decay=-1"),
    (lambda w: optim.Adadelta([w], rho=1.5), "rho=1.5"),
    (lambda w: optim.Adam([w], differentiable=True), "differentiable"),
    (lambda w: optim.SGD([{"params": [w], "lr": -1.0}]), "lr=-1.0"),
])
def test_bad_options_raise_value_error_naming_the_option(make, match):
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        make(w)


def test_bad_params_raise_as_pytorch():
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(w)
    with pytest.raises(TypeError, match="Please use a list instead"):
        optim.SGD([{"params": {w}}])
    with pytest.raises(TypeError, match="floating-point Tensors.*ndarray"):
        optim.SGD([np.ones(2)])
    with pytest.raises(TypeError, match="int64"):
        optim.SGD([Tensor(np.arange(3))])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2])
    with pytest.raises(TypeError, match="`lr` must be a number"):
        optim.SGD([w], lr="0.1")


def test_add_param_group_refuses_a_shared_parameter_without_side_effects():
    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    sgd = optim.SGD([a])
    with pytest.raises(ValueError, match="more than one parameter group"):
        sgd.add_param_group({"params": [b, a]})
    with pytest.raises(ValueError, match="lr=-2"):
        sgd.add_param_group({"params": [b], "lr": -2})
    assert len(sgd.param_groups) == 1
    sgd.add_param_group({"params": [b]})  # b was not half-registered by the failures
    assert sgd.param_groups[1]["params"] == [b]


# ----------------------------------------------------------------------------------------
# The PyTorch flavour of the fused kernels: Numba loop == xp twin, bitwise
# ----------------------------------------------------------------------------------------


def _torch_flavour_cases(dtype):
    """(name, kernel, reference, build(arrays) -> array args, scalars) per configuration."""
    f = np.dtype(dtype).type
    tiny = f(keras_optimizers._flush_threshold(dtype))
    empty = np.empty(0, dtype)
    rule = keras_optimizers.update_rule
    out = []
    for l2 in (0.0, 0.1):
        for use_momentum, nesterov, first in ((False, False, False), (True, False, False),
                                              (True, True, False), (True, True, True)):
            out.append((f"sgd momentum={use_momentum} nesterov={nesterov} first={first}",
                        *rule("sgd", "pytorch"),
                        (lambda u: lambda v, g, s, p, q: (v, g, s if u else empty))(
                            use_momentum),
                        (f(0.0), f(0.05), f(0.9), f(0.7), f(l2), tiny, use_momentum, nesterov,
                         first)))
        for amsgrad in (False, True):
            for decay in (0.0, 1e-3):
                out.append((f"adam amsgrad={amsgrad} decay={decay} l2={l2}",
                            *rule("adam", "pytorch"),
                            (lambda a: lambda v, g, s, p, q: (v, g, s, p, q if a else empty))(
                                amsgrad),
                            (f(decay), f(1e-3 / (1 - 0.9**3)), f(0.1), f(0.999), f(0.001),
                             f(math.sqrt(1 - 0.999**3)), f(1e-8), f(l2), tiny, amsgrad)))
        for centered in (False, True):
            for use_momentum in (False, True):
                out.append((f"rmsprop centered={centered} momentum={use_momentum} l2={l2}",
                            *rule("rmsprop", "pytorch"),
                            (lambda c, u: lambda v, g, s, p, q: (
                                v, g, p, s if u else empty, s.copy() * 0.1 if c else empty))(
                                centered, use_momentum),
                            (f(0.0), f(1e-2), f(0.99), f(0.01), f(0.5), f(1e-8), f(l2), tiny,
                             centered, use_momentum)))
        out.append((f"adagrad l2={l2}", *rule("adagrad", "pytorch"),
                    lambda v, g, s, p, q: (v, g, p + 0.1),
                    (f(0.0), f(1e-2), f(1e-10), f(l2))))
        out.append((f"adadelta l2={l2}", *rule("adadelta", "pytorch"),
                    lambda v, g, s, p, q: (v, g, p, q),
                    (f(0.0), f(1.0), f(0.9), f(0.1), f(1e-6), f(l2), tiny)))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("size", [0, 1, 7, 33, 1000])
def test_pytorch_flavour_kernels_match_their_twins_bitwise(dtype, size):
    for what, kernel, reference, build, scalars in _torch_flavour_cases(dtype):
        for run in (kernel, kernel.py_func):
            arrays = build(*make_arrays(size, dtype, seed=size))
            a = [x.copy() for x in arrays]
            b = [x.copy() for x in arrays]
            with np.errstate(all="ignore"):  # NaN/Inf gradients are deliberate
                run(*a, *scalars)
                reference(*b, *scalars)
            for i, (x, y) in enumerate(zip(a, b)):
                assert_bitwise_equal(x, y, f"{what}, size {size}, array {i}")
            if size >= 33:  # NaN/Inf gradients spoil only their own weights
                assert not np.isfinite(a[0][:3]).any(), what
                assert np.isfinite(a[0][3:]).all(), what


@given(size=st.integers(0, 300), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_pytorch_flavour_kernels_match_their_twins_on_random_inputs(size, seed, dtype):
    for what, kernel, reference, build, scalars in _torch_flavour_cases(dtype):
        arrays = build(*make_arrays(size, dtype, seed))
        a = [x.copy() for x in arrays]
        b = [x.copy() for x in arrays]
        with np.errstate(all="ignore"):  # NaN/Inf gradients are deliberate
            kernel(*a, *scalars)
            reference(*b, *scalars)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{what}, size {size}, seed {seed}, array {i}")


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1}), ("AdamW", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adagrad", {"lr_decay": 0.1}),
    ("Adadelta", {}),
])
def test_jit_off_gives_the_same_bits(name, kwargs, monkeypatch):
    def run():
        params = [Tensor(w.astype(np.float32), requires_grad=True) for w in _weights()]
        opt = getattr(optim, name)(params, **kwargs)
        for step in range(4):
            for p, g in zip(params, _gradients(step)):
                p.grad = None if g is None else g.astype(np.float32)
            opt.step()
        return [p.data for p in params]

    fused = run()
    monkeypatch.setattr(config, "JIT_ENABLED", False)
    for a, b in zip(fused, run()):
        assert_bitwise_equal(a, b, name)


def test_update_rule_gives_each_flavour_its_kernel():
    # By name: after its first call a kernel's module attribute is the compiled function.
    def names(name, flavour="keras"):
        return tuple(f.__name__ for f in keras_optimizers.update_rule(name, flavour))

    assert names("adam") == ("_adam_kernel", "_adam_reference")  # Keras's is the default
    assert names("adam", "pytorch") == ("_adam_torch_kernel", "_adam_torch_reference")
    assert names("adadelta", "pytorch") == names("adadelta", "keras")  # one rule in both
    with pytest.raises(ValueError, match="Unknown update rule 'adam' with flavour 'jax'"):
        keras_optimizers.update_rule("adam", "jax")


def test_moments_of_the_pytorch_flavour_never_go_subnormal():
    w = Tensor(np.full(4, 0.5, dtype=np.float32), requires_grad=True)
    adam = optim.Adam([w], lr=1e-3, betas=(0.9, 0.9))
    w.grad = np.array([1.0, -1.0, 1e-3, 0.0], np.float32)
    adam.step()
    tiny = np.finfo(np.float32).tiny
    for _ in range(900):  # 0.9^900 ≈ 1e-41: subnormal in float32 without the flush
        w.grad = np.zeros(4, np.float32)
        adam.step()
        for key in ("exp_avg", "exp_avg_sq"):
            s = adam.state[w][key]
            assert not ((s != 0) & (np.abs(s) < tiny)).any()
    assert np.isfinite(w.data).all()


# ----------------------------------------------------------------------------------------
# lr_scheduler against torch.optim.lr_scheduler
# ----------------------------------------------------------------------------------------

SCHEDULERS = [
    ("StepLR", {"step_size": 2, "gamma": 0.7}),
    ("StepLR", {"step_size": 3}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95**epoch / (1 + epoch)}),
]


def _scheduled_pair(name, kwargs, lrs=(1.0, 0.3)):
    ours = [Tensor(np.ones(2), requires_grad=True) for _ in lrs]
    theirs = [torch.ones(2, requires_grad=True) for _ in lrs]
    mine = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)])
    real = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)])
    return (mine, getattr(lr_scheduler, name)(mine, **kwargs),
            real, getattr(torch.optim.lr_scheduler, name)(real, **kwargs))


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in
                                                            enumerate(SCHEDULERS)])
def test_scheduler_gives_pytorchs_exact_learning_rates(name, kwargs):
    """The same floats, not just close ones: the arithmetic is PyTorch's (recursive)."""
    mine, ours, real, theirs = _scheduled_pair(name, kwargs)
    assert ours.get_last_lr() == theirs.get_last_lr() and ours.last_epoch == theirs.last_epoch
    assert ours.base_lrs == theirs.base_lrs
    for _ in range(20):
        mine.step()
        real.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr(), ours.last_epoch
        assert [g["lr"] for g in mine.param_groups] == [g["lr"] for g in real.param_groups]
        assert ours.last_epoch == theirs.last_epoch


def test_steplr_multiplies_as_behaviours_md_says():
    w = Tensor(np.ones(1), requires_grad=True)
    sgd = optim.SGD([w], lr=1.0)
    sched = lr_scheduler.StepLR(sgd, step_size=1, gamma=0.7)
    sgd.step()  # no gradient: nothing moves, but the order is the documented one
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.48999999999999994]  # 1.0·0.7·0.7, not 0.7**2 = 0.49


@pytest.mark.parametrize("name, kwargs", [s for s in SCHEDULERS if s[0] != "LambdaLR"])
def test_step_with_an_epoch_uses_the_closed_form_as_pytorch(name, kwargs):
    mine, ours, real, theirs = _scheduled_pair(name, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for epoch in (3, 7, 4):
            ours.step(epoch)
            theirs.step(epoch)
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-15)
    with pytest.warns(UserWarning, match="deprecated"):
        ours.step(1)


def test_scheduler_drives_the_optimizer_as_in_pytorch():
    ours, mine, theirs, real = _pair("SGD", {"lr": 0.1, "momentum": 0.9}, np.float64)
    s1 = lr_scheduler.CosineAnnealingLR(mine, T_max=3)
    s2 = torch.optim.lr_scheduler.CosineAnnealingLR(real, T_max=3)
    for step in range(7):
        _set_grads(ours, theirs, _gradients(step), np.float64)
        mine.step()
        real.step()
        s1.step()
        s2.step()
    _assert_params_match(ours, theirs, np.float64)


@pytest.mark.parametrize("kwargs", [
    {},
    {"mode": "max", "factor": 0.5, "patience": 1, "cooldown": 1},
    {"patience": 2, "threshold": 0.1, "threshold_mode": "abs", "min_lr": [0.05, 0.2]},
    {"mode": "max", "threshold_mode": "abs", "patience": 0, "factor": 0.3, "eps": 0.01},
])
def test_reduce_lr_on_plateau_matches_pytorch(kwargs):
    ours = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    theirs = [torch.ones(2, requires_grad=True) for _ in range(2)]
    mine = optim.SGD([{"params": [ours[0]], "lr": 1.0}, {"params": [ours[1]], "lr": 0.5}])
    real = torch.optim.SGD([{"params": [theirs[0]], "lr": 1.0},
                            {"params": [theirs[1]], "lr": 0.5}])
    a = lr_scheduler.ReduceLROnPlateau(mine, **kwargs)
    b = torch.optim.lr_scheduler.ReduceLROnPlateau(real, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.89, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9,
               1.0, 1.0, 1.0, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    for value in metrics:
        a.step(value)
        b.step(value)
        assert a.get_last_lr() == b.get_last_lr()
        assert (a.num_bad_epochs, a.cooldown_counter, a.best, a.last_epoch) == (
            b.num_bad_epochs, b.cooldown_counter, b.best, b.last_epoch)


def test_scheduler_state_dict_resumes_the_same_sequence():
    mine, ours, real, theirs = _scheduled_pair("MultiStepLR",
                                               {"milestones": [3, 6], "gamma": 0.5})
    mine.step()  # the optimizer steps first (no gradients: nothing moves)
    for _ in range(4):
        ours.step()
    saved_sched, saved_opt = ours.state_dict(), mine.state_dict()
    expected = []
    for _ in range(5):
        ours.step()
        expected.append(ours.get_last_lr())
    w = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    mine2 = optim.SGD([{"params": [p], "lr": 9.0} for p in w])
    mine2.step()
    mine2.load_state_dict(saved_opt)
    resumed = lr_scheduler.MultiStepLR(mine2, milestones=[1], gamma=0.1)
    resumed.load_state_dict(saved_sched)
    mine2.load_state_dict(saved_opt)  # the scheduler's first step rewrote lr: restore it
    got = []
    for _ in range(5):
        resumed.step()
        got.append(resumed.get_last_lr())
    assert got == expected


def test_lambda_lr_state_dict_keeps_callable_objects_state_only():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    groups = [{"params": [Tensor(np.ones(1), requires_grad=True)]} for _ in range(2)]
    sched = lr_scheduler.LambdaLR(optim.SGD(groups), [Warmup(4), lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"n": 4}, None]


def test_scheduler_errors():
    w = Tensor(np.ones(1), requires_grad=True)
    sgd = optim.SGD([w])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(keras_optimizers.SGD(), step_size=1)
    with pytest.raises(ValueError, match="step_size=0"):
        lr_scheduler.StepLR(sgd, step_size=0)
    with pytest.raises(ValueError, match="T_max=0"):
        lr_scheduler.CosineAnnealingLR(sgd, T_max=0)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(sgd, factor=1.0)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas"):
        lr_scheduler.LambdaLR(sgd, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([Tensor(np.ones(1), requires_grad=True)]), 1,
                            last_epoch=3)


# ----------------------------------------------------------------------------------------
# A CuPy-like device (tests/standin_device.py): the xp twins run there, with the same bits
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"momentum": 0.9, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1}), ("AdamW", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adagrad", {"lr_decay": 0.1}),
    ("Adadelta", {"weight_decay": 0.1}),
])
def test_device_steps_equal_cpu_steps_bitwise(name, kwargs):
    device = standin_device.install()
    on_cpu = [Tensor(w.astype(np.float32), requires_grad=True) for w in _weights()]
    on_device = [Tensor(device.asarray(w.astype(np.float32)), requires_grad=True)
                 for w in _weights()]
    opt_cpu = getattr(optim, name)(on_cpu, **kwargs)
    opt_device = getattr(optim, name)(on_device, **kwargs)
    for step in range(4):
        for a, b, g in zip(on_cpu, on_device, _gradients(step)):
            a.grad = None if g is None else g.astype(np.float32)
            b.grad = None if g is None else device.asarray(g.astype(np.float32))
        opt_cpu.step()
        opt_device.step()
    for a, b in zip(on_cpu, on_device):
        assert type(b.data) is standin_device.StandinArray
        assert_bitwise_equal(device.to_numpy(b.data), a.data, name)
    # A state saved on the device loads on the CPU (and continues there).
    resumed = [Tensor(device.to_numpy(b.data), requires_grad=True) for b in on_device]
    opt_resumed = getattr(optim, name)(resumed, **kwargs)
    opt_resumed.load_state_dict(opt_device.state_dict())
    for p, q, g in zip(resumed, on_cpu, _gradients(5)):
        p.grad = q.grad = g.astype(np.float32)
    opt_resumed.step()
    opt_cpu.step()
    for a, b in zip(on_cpu, resumed):
        assert_bitwise_equal(b.data, a.data, name + " resumed")


def test_grad_given_as_a_tensor_and_non_contiguous_parameters_work():
    """The torch face may keep a Tensor in .grad; a parameter may be a transposed view."""
    rng = np.random.default_rng(5)
    w0, g0 = rng.normal(size=(3, 4)), rng.normal(size=(4, 3))
    ours = Tensor(w0.copy().T, requires_grad=True)  # non-contiguous data
    assert not ours.data.flags.c_contiguous
    theirs = torch.tensor(w0.copy().T, requires_grad=True)
    ours.grad = Tensor(g0.copy())
    theirs.grad = torch.tensor(g0)
    mine = optim.Adam([ours], lr=0.1, weight_decay=0.1)
    real = torch.optim.Adam([theirs], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        mine.step()
        real.step()
    _assert_params_match([ours], [theirs], np.float64)
    grad_tensor = ours.grad
    mine.zero_grad(set_to_none=False)
    assert ours.grad is grad_tensor  # the same Tensor, now zeros (as PyTorch's in-place zero)
    np.testing.assert_array_equal(ours.grad.data, np.zeros((4, 3)))


def test_scheduler_stepped_before_the_optimizer_warns_as_pytorch():
    def warnings_of(lib_optim, lib_sched, optimizer_first):
        p = (torch.zeros(1, requires_grad=True) if lib_optim is torch.optim
             else Tensor(np.zeros(1), requires_grad=True))
        opt = lib_optim.SGD([p])
        sched = lib_sched.StepLR(opt, step_size=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if optimizer_first:
                p.grad = torch.ones(1) if lib_optim is torch.optim else np.ones(1)
                opt.step()
            sched.step()
            sched.step()
        return [str(w.message) for w in caught if "before `optimizer.step()`" in str(w.message)]

    for optimizer_first in (False, True):
        ours = warnings_of(optim, lr_scheduler, optimizer_first)
        theirs = warnings_of(torch.optim, torch.optim.lr_scheduler, optimizer_first)
        assert len(ours) == len(theirs) == (0 if optimizer_first else 1)
