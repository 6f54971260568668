"""minidl.torch against real PyTorch: tensors, autograd rules, modules, losses, data, saving.

Every value is compared with what PyTorch computes on the same numbers (float64 to 1e-10
where the math is the same, float32 to 1e-5), and every convention (dtypes, error types,
shared memory) with what PyTorch does.
"""

import numpy as np
import pytest
import torch as real

import minidl
import minidl.torch as torch
import minidl.torch.nn as nn
import minidl.torch.nn.functional as F
from minidl.errors import CheckpointError
from minidl.torch.utils.data import DataLoader, Subset, TensorDataset, random_split

RNG = np.random.default_rng(0)


def both(array, requires_grad=False):
    """The same values as a minidl.torch tensor and a real torch tensor."""
    array = np.asarray(array)
    return (torch.tensor(array.copy(), requires_grad=requires_grad),
            real.tensor(array.copy(), requires_grad=requires_grad))


def close(ours, theirs, tol=1e-10):
    ours = ours.detach().numpy() if isinstance(ours, minidl.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, real.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------
# Tensors: creation, dtypes, promotion
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [1.5, 2, True, [1.0, 2.0], [1, 2], [[True, False]],
                                  np.array([1, 2], np.int32), np.array([1.0], np.float64),
                                  np.array([1], np.uint8)])
def test_tensor_infers_dtype_as_pytorch(data):
    assert str(torch.tensor(data).dtype) == str(real.tensor(data).dtype).replace("torch.", "")


def _operand(kind, lib):
    values = {"f32": (np.array([1.5, -2.0], np.float32), None),
              "f64": (np.array([1.5, -2.0], np.float64), None),
              "i64": (np.array([3, 4], np.int64), None),
              "i32": (np.array([3, 4], np.int32), None),
              "u8": (np.array([3, 4], np.uint8), None),
              "b": (np.array([True, False]), None),
              "f64_0d": (np.array(2.5, np.float64), None),
              "i64_0d": (np.array(3, np.int64), None),
              "float": (None, 2.5), "int": (None, 3), "np_f64": (None, np.float64(1.0))}
    array, scalar = values[kind]
    if array is None:
        return scalar
    return torch.tensor(array) if lib == "ours" else real.tensor(array)


PAIRS = [("f32", "f64"), ("f32", "i64"), ("i64", "f32"), ("i64", "float"), ("f32", "float"),
         ("i32", "i64"), ("u8", "i32"), ("b", "i64"), ("b", "float"), ("f32", "f64_0d"),
         ("i64", "f64_0d"), ("i32", "i64_0d"), ("f32", "np_f64"), ("i64", "int"),
         ("i64", "i64")]


# (PyTorch refuses to subtract bools, so those pairs are left out of "sub".)
@pytest.mark.parametrize("left,right,op", [
    (left, right, op) for left, right in PAIRS for op in ("add", "mul", "sub", "truediv")
    if not (op == "sub" and "b" in (left, right))])
def test_type_promotion_matches_pytorch(left, right, op):
    fn = getattr(__import__("operator"), op)
    ours = fn(_operand(left, "ours"), _operand(right, "ours"))
    theirs = fn(_operand(left, "torch"), _operand(right, "torch"))
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    close(ours, theirs.numpy(), 1e-6)


def test_scalar_on_the_left_and_python_numbers_keep_float32():
    x = torch.ones(2)
    assert (2.5 * x).dtype == torch.float32 and (1 - x).dtype == torch.float32
    assert (x + np.float64(1)).dtype == torch.float32
    assert (torch.arange(3) * 1.5).dtype == torch.float32


def test_creation_functions_match_pytorch_shapes_and_dtypes():
    pairs = [
        (torch.zeros(2, 3), real.zeros(2, 3)), (torch.ones((2, 3)), real.ones((2, 3))),
        (torch.full((2,), 7), real.full((2,), 7)), (torch.full((2,), 7.0), real.full((2,), 7.0)),
        (torch.eye(3), real.eye(3)), (torch.arange(5), real.arange(5)),
        (torch.arange(0, 1, 0.25), real.arange(0, 1, 0.25)),
        (torch.linspace(0, 1, 5), real.linspace(0, 1, 5)),
        (torch.zeros_like(torch.ones(2, dtype=torch.int64)),
         real.zeros_like(real.ones(2, dtype=real.int64))),
        (torch.full_like(torch.ones(2), 3), real.full_like(real.ones(2), 3)),
    ]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        close(ours, theirs.numpy())
    for fn in (torch.rand, torch.randn):
        assert fn(3, 4).shape == (3, 4) and fn(3, 4).dtype == torch.float32
    r = torch.randint(0, 10, (100,))
    assert r.dtype == torch.int64 and 0 <= r.min().item() and r.max().item() < 10


def test_manual_seed_repeats_the_numbers():
    torch.manual_seed(3)
    a = (torch.rand(4), torch.randn(2), torch.randint(0, 9, (3,)), nn.Linear(3, 2).weight)
    torch.manual_seed(3)
    b = (torch.rand(4), torch.randn(2), torch.randint(0, 9, (3,)), nn.Linear(3, 2).weight)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.detach().numpy(), y.detach().numpy())
    torch.manual_seed(4)
    assert not np.array_equal(torch.rand(4).numpy(), a[0].numpy())


def test_from_numpy_and_numpy_share_memory_both_ways():
    array = np.zeros(3, np.float32)
    t = torch.from_numpy(array)
    array[0] = 5
    assert t[0].item() == 5
    t.numpy()[1] = 7
    assert array[1] == 7
    with torch.no_grad():
        t.add_(1)
    np.testing.assert_array_equal(array, [6, 8, 1])
    copied = torch.tensor(array)
    array[2] = 9
    assert copied[2].item() == 1  # torch.tensor copies
    with pytest.raises(TypeError, match="from_numpy expects a numpy.ndarray, got list"):
        torch.from_numpy([1, 2])
    with pytest.raises(TypeError):
        real.from_numpy([1, 2])


@pytest.mark.parametrize("make_view", [
    lambda t: t.view(6), lambda t: t.view(-1, 2), lambda t: t.reshape(3, 2),
    lambda t: t.permute(1, 0), lambda t: t.transpose(0, 1), lambda t: t.T,
    lambda t: t.unsqueeze(0), lambda t: t.unsqueeze(-1).squeeze(-1), lambda t: t.flatten(),
    lambda t: t[1], lambda t: t[:, 1:], lambda t: t.view_as(t.reshape(3, 2)),
])
def test_views_share_memory(make_view):
    base = torch.arange(6.0).reshape(2, 3)
    view = make_view(base)
    with torch.no_grad():
        view.mul_(10)
    theirs = real.arange(6.0).reshape(2, 3)
    make_view_t = make_view(theirs)
    make_view_t.mul_(10)
    close(base, theirs.numpy())


def test_clone_and_contiguous_copy_view_errors_like_pytorch():
    base = torch.arange(6.0).reshape(2, 3)
    c = base.clone()
    c.add_(1)
    assert base[0, 0].item() == 0
    t = base.t()
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    assert base.contiguous() is base
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(6)
    with pytest.raises(RuntimeError):
        real.arange(6.0).reshape(2, 3).t().view(6)
    with pytest.raises(RuntimeError, match="invalid for input of size 6"):
        base.view(4, 2)


def test_size_dim_numel_and_conversions():
    x = torch.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.numel() == 24 and x.device == "cpu"
    assert x.long().dtype == torch.int64 and x.double().dtype == torch.float64
    assert x.int().dtype == torch.int32 and x.to(torch.float64).dtype == torch.float64
    assert x.type(torch.int64).dtype == torch.int64 and x.float() is x
    assert torch.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert torch.tensor(2.5).item() == 2.5 and isinstance(torch.tensor(3).item(), int)


def test_cat_stack_matmul_mm_mul_out():
    a_np, b_np = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 4))
    (a, ta), (b, tb) = both(a_np), both(b_np)
    close(torch.cat([a, a], dim=1), real.cat([ta, ta], dim=1))
    close(torch.stack([a, a], dim=1), real.stack([ta, ta], dim=1))
    close(a @ b, ta @ tb)
    close(torch.mm(a, b), real.mm(ta, tb))
    close(torch.matmul(a[0], b), real.matmul(ta[0], tb))
    out = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.matmul(a, b, out=out) is out
    close(out, ta @ tb)
    out2 = torch.zeros(2, 3, dtype=torch.float64)
    torch.mul(a, 2, out=out2)
    close(out2, ta * 2)


# ---------------------------------------------------------------------------------------
# Reductions and math, with gradients
# ---------------------------------------------------------------------------------------


def _grad_check(fn, array, tol=1e-10):
    ours, theirs = both(array, requires_grad=True)
    y_ours, y_theirs = fn(ours), fn(theirs)
    if isinstance(y_ours, tuple):
        y_ours, y_theirs = y_ours[0], y_theirs[0]
    close(y_ours, y_theirs, tol)
    weights = RNG.normal(size=tuple(y_theirs.shape))
    (y_ours * torch.tensor(weights)).sum().backward()
    (y_theirs * real.tensor(weights)).sum().backward()
    close(ours.grad, theirs.grad, tol)


@pytest.mark.parametrize("name,fn", [
    ("sum", lambda t: t.sum()), ("sum dim", lambda t: t.sum(dim=1)),
    ("sum dims keepdim", lambda t: t.sum(dim=(0, 2), keepdim=True)),
    ("mean dim", lambda t: t.mean(1, keepdim=True)), ("std", lambda t: t.std()),
    ("var dim", lambda t: t.var(dim=0)), ("var biased", lambda t: t.var(dim=2, unbiased=False)),
    ("std keepdim", lambda t: t.std(dim=1, keepdim=True)), ("amax", lambda t: t.amax(dim=1)),
    ("max dim", lambda t: t.max(dim=1)), ("min dim keepdim", lambda t: t.min(2, keepdim=True)),
    ("max all", lambda t: t.max()), ("exp", lambda t: t.exp()), ("tanh", lambda t: t.tanh()),
    ("sigmoid", lambda t: t.sigmoid()), ("relu", lambda t: t.relu()),
    ("clamp", lambda t: t.clamp(-0.5, 0.5)), ("abs", lambda t: t.abs()),
    ("pow", lambda t: t ** 3), ("softmax", lambda t: t.softmax(dim=1)),
    ("log_softmax", lambda t: t.log_softmax(dim=-1)),
    ("permute view", lambda t: t.permute(2, 0, 1).reshape(4, -1)),
    ("flatten", lambda t: t.flatten(1)), ("index", lambda t: t[:, 1, ::2] * t[0, 0, 0]),
    ("where", lambda t: (torch if isinstance(t, minidl.Tensor) else real).where(t > 0, t, t * 2)),
])
def test_math_and_reductions_forward_and_backward_match_pytorch(name, fn):
    _grad_check(fn, RNG.normal(size=(2, 3, 4)))


def test_max_with_dim_gives_values_indices_and_first_maximum_gradient():
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])  # ties: the first index wins
    ours, theirs = both(data, requires_grad=True)
    m, tm = ours.max(dim=1), theirs.max(dim=1)
    np.testing.assert_array_equal(m.indices.numpy(), tm.indices.numpy())
    assert m.indices.dtype == torch.int64
    values, indices = m
    values.sum().backward()
    tm.values.sum().backward()
    close(ours.grad, theirs.grad)
    # amax splits the gradient among ties, max over everything too
    ours2, theirs2 = both(data, requires_grad=True)
    ours2.amax(dim=1).sum().backward()
    theirs2.amax(dim=1).sum().backward()
    close(ours2.grad, theirs2.grad)
    assert torch.tensor(data).argmax().item() == real.tensor(data).argmax().item() == 1
    np.testing.assert_array_equal(torch.tensor(data).argmax(dim=0).numpy(),
                                  real.tensor(data).argmax(dim=0).numpy())


def test_comparisons_give_bool_tensors():
    x = torch.tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).dtype == torch.bool and (x == 2).sum().item() == 1
    assert isinstance(x > 1, torch.Tensor)


# ---------------------------------------------------------------------------------------
# In-place rules and autograd attributes
# ---------------------------------------------------------------------------------------


def test_inplace_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = torch.ones(3, requires_grad=True)
    for method, args in [("add_", (1,)), ("mul_", (2,)), ("zero_", ()), ("fill_", (1,)),
                         ("sub_", (1,)), ("clamp_", (0, 1)), ("copy_", (torch.zeros(3),))]:
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            getattr(w, method)(*args)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        real.ones(3, requires_grad=True).add_(1)
    np.testing.assert_array_equal(w.data, [1, 1, 1])  # nothing changed
    with torch.no_grad():
        w.sub_(torch.tensor([0.5, 0.5, 0.5]), alpha=2)
    np.testing.assert_array_equal(w.data, [0, 0, 0])
    assert w.is_leaf and w.requires_grad


def test_inplace_on_non_leaves_differentiates_as_pytorch():
    def program(lib, x):
        y = x * 2
        y.add_(3)
        y.mul_(x)
        y.clamp_(max=4.0)
        return (y * y).sum()

    ours, theirs = both(RNG.normal(size=(5,)), requires_grad=True)
    close(program(torch, ours), program(real, theirs))
    program(torch, ours).backward()
    program(real, theirs).backward()
    close(ours.grad, theirs.grad)


def test_inplace_dtype_rules():
    i = torch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(1.5)
    with pytest.raises(RuntimeError):
        real.tensor([1, 2]).add_(1.5)
    f = torch.tensor([1.0, 2.0])
    f.add_(torch.tensor([1, 1]))
    assert f.dtype == torch.float32 and f.tolist() == [2.0, 3.0]


def test_saved_tensor_changed_in_place_is_refused_at_backward():
    x = torch.ones(3, requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()


def test_autograd_attributes():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert x.is_leaf and x.grad_fn is None and not y.is_leaf and y.grad_fn is not None
    y.backward(torch.tensor([1.0, 10.0]), retain_graph=True)
    np.testing.assert_array_equal(x.grad, [3, 30])
    assert y.grad is None  # non-leaves keep no gradient
    y.backward(torch.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [6, 33])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(torch.tensor([1.0, 1.0]))
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.data, y.data)
    with torch.no_grad():
        assert not (x * 2).requires_grad
    z = torch.zeros(2).requires_grad_()
    assert z.requires_grad and z.is_leaf


def test_numpy_item_refusals_are_runtime_errors_as_pytorch():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    with pytest.raises(RuntimeError):
        real.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="2 elements cannot be converted"):
        torch.ones(2).item()
    with pytest.raises(RuntimeError):
        real.ones(2).item()


@pytest.mark.parametrize("call", [
    lambda lib: lib.ones(2, 3) @ lib.ones(4, 5),
    lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3, 2)]),
    lambda lib: lib.ones(2, 3).view(4),
    lambda lib: lib.stack([lib.ones(2), lib.ones(3)]),
])
def test_shape_errors_are_runtime_errors_as_pytorch(call):
    with pytest.raises(RuntimeError):
        call(real)
    with pytest.raises(RuntimeError) as info:
        call(torch)
    assert "(" in str(info.value)  # the message names the shapes


def test_matmul_message_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x3 and 4x5\)"):
        torch.ones(2, 3) @ torch.ones(4, 5)


# ---------------------------------------------------------------------------------------
# nn.Module
# ---------------------------------------------------------------------------------------


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.act = nn.ReLU()
        self.blocks = nn.Sequential(nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 3))
        self.register_buffer("scale", torch.ones(3))

    def forward(self, x):
        return self.blocks(self.act(self.fc1(x))) * self.scale


class RealNet(real.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = real.nn.Linear(4, 5)
        self.act = real.nn.ReLU()
        self.blocks = real.nn.Sequential(real.nn.Linear(5, 5), real.nn.Tanh(),
                                         real.nn.Linear(5, 3))
        self.register_buffer("scale", real.ones(3))

    def forward(self, x):
        return self.blocks(self.act(self.fc1(x))) * self.scale


def copy_into(ours, theirs):
    """Load a real torch module's state into ours (the parity tests' common start)."""
    result = ours.load_state_dict({k: v.detach().numpy().copy()
                                   for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_registration_names_and_walks_match_pytorch():
    ours, theirs = Net(), RealNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert len(list(ours.parameters())) == 6 and len(list(ours.children())) == 3
    assert [tuple(p.shape) for p in ours.parameters()] == \
        [tuple(p.shape) for p in theirs.parameters()]


def test_forward_backward_of_a_module_tree_matches_pytorch():
    ours, theirs = Net().double(), RealNet().double()
    copy_into(ours, theirs)
    x = RNG.normal(size=(7, 4))
    y_ours, y_theirs = ours(torch.tensor(x)), theirs(real.tensor(x))
    close(y_ours, y_theirs)
    (y_ours ** 2).mean().backward()
    (y_theirs ** 2).mean().backward()
    for (_name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad)


def test_load_state_dict_strict_and_not_strict():
    ours = Net()
    state = {k: v.clone() for k, v in ours.state_dict().items()}
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    bad = dict(state)
    del bad["fc1.bias"]
    bad["extra.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "fc1.bias"') \
            as info:
        ours.load_state_dict(bad)
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in str(info.value)
    result = ours.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra.weight"]
    wrong = dict(state, **{"fc1.weight": torch.zeros(2, 2), "fc1.bias": torch.ones(5) * 9})
    with pytest.raises(RuntimeError, match="size mismatch for fc1.weight"):
        ours.load_state_dict(wrong, strict=False)
    for k, v in ours.state_dict().items():  # nothing was copied before the error
        np.testing.assert_array_equal(v.numpy(), before[k].numpy())


def test_state_dict_shares_memory_and_load_copies():
    ours = Net()
    sd = ours.state_dict()
    assert np.shares_memory(sd["fc1.weight"].data, ours.fc1.weight.data)
    other = Net()
    other.load_state_dict(sd)
    assert not np.shares_memory(other.fc1.weight.data, ours.fc1.weight.data)
    np.testing.assert_array_equal(other.fc1.weight.data, ours.fc1.weight.data)


def test_train_eval_zero_grad_apply_requires_grad_and_to():
    net = Net()
    assert net.eval() is net and not net.training and not net.blocks[0].training
    assert net.train() is net and net.blocks[1].training
    net(torch.ones(2, 4)).sum().backward()
    assert net.fc1.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    weight = net.fc1.weight
    net.to(torch.float64)
    assert net.fc1.weight is weight and weight.dtype == torch.float64
    assert net.scale.dtype == torch.float64


def test_module_errors():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        NoForward()(torch.ones(1))

    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Early()
    net = Net()
    with pytest.raises(TypeError, match="cannot assign"):
        net.fc1.weight = torch.zeros(5, 4)


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert len(seq[1:]) == 2 and seq[1:][1] is seq[2]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                      "2.bias"]
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(list(layers.parameters())) == 6 and len(layers) == 3
    with pytest.raises(IndexError):
        seq[3]


def test_default_initialisation_bounds_are_one_over_sqrt_fan_in():
    torch.manual_seed(0)
    fc = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w = fc.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert np.abs(fc.bias.detach().numpy()).max() <= bound
    real_fc = real.nn.Linear(400, 300)
    assert abs(real_fc.weight.detach().numpy().std() - w.std()) < 0.02 * bound


def test_init_functions_have_pytorch_statistics():
    w = torch.empty(300, 200)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - np.sqrt(2 / 200)) < 0.03 * np.sqrt(2 / 200)
    nn.init.xavier_uniform_(w)
    bound = np.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= bound
    nn.init.constant_(w, 0.5)
    assert (w.numpy() == 0.5).all()
    assert nn.init.calculate_gain("relu") == real.nn.init.calculate_gain("relu")
    assert nn.init.calculate_gain("leaky_relu", 0.2) == real.nn.init.calculate_gain(
        "leaky_relu", 0.2)


# ---------------------------------------------------------------------------------------
# Modules and functional against PyTorch
# ---------------------------------------------------------------------------------------


def _module_check(ours, theirs, shape, tol=1e-10, train=True, integer_input=None):
    ours.double()
    theirs.double()
    if list(theirs.state_dict()):
        copy_into(ours, theirs)
    ours.train(train)
    theirs.train(train)
    if integer_input is not None:
        x_ours, x_theirs = torch.tensor(integer_input), real.tensor(integer_input)
    else:
        x_ours, x_theirs = both(RNG.normal(size=shape), requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    close(y_ours, y_theirs, tol)
    weights = RNG.normal(size=tuple(y_theirs.shape))
    (y_ours * torch.tensor(weights)).sum().backward()
    (y_theirs * real.tensor(weights)).sum().backward()
    if integer_input is None:
        close(x_ours.grad, x_theirs.grad, tol)
    for (_name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        close(p.grad, tp.grad, tol)
    for (_name, b), (_, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        close(b, tb, tol)


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.Linear(6, 4), (5, 6)), (lambda nn: nn.Linear(6, 4, bias=False), (5, 6)),
    (lambda nn: nn.Linear(6, 4), (2, 3, 6)), (lambda nn: nn.ReLU(), (4, 5)),
    (lambda nn: nn.LeakyReLU(0.2), (4, 5)), (lambda nn: nn.Sigmoid(), (4, 5)),
    (lambda nn: nn.Tanh(), (4, 5)), (lambda nn: nn.Softmax(dim=1), (4, 5)),
    (lambda nn: nn.LogSoftmax(dim=1), (4, 5)), (lambda nn: nn.Flatten(), (2, 3, 4, 5)),
    (lambda nn: nn.Flatten(0, 1), (2, 3, 4)), (lambda nn: nn.GELU(), (4, 5)),
    (lambda nn: nn.BatchNorm1d(5), (8, 5)), (lambda nn: nn.BatchNorm1d(3), (8, 3, 4)),
    (lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 5)), (lambda nn: nn.Identity(), (2, 2)),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), (5, 3)),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)),
     (5, 3)),
    (lambda nn: nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1, inplace=True)), (5, 3)),
])
def test_modules_match_pytorch(make, shape):
    _module_check(make(nn), make(real.nn), shape)


@pytest.mark.parametrize("make", [lambda nn: nn.BatchNorm1d(5), lambda nn: nn.Dropout(0.3)])
def test_modules_in_eval_mode_match_pytorch(make):
    ours, theirs = make(nn), make(real.nn)
    if isinstance(ours, nn.BatchNorm1d):  # some running statistics first
        ours.double()(torch.tensor(RNG.normal(size=(8, 5))))
        theirs.load_state_dict({k: real.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    _module_check(ours, theirs, (6, 5), train=False)


def test_batchnorm_running_statistics_follow_pytorch_over_steps():
    ours, theirs = nn.BatchNorm2d(3, momentum=0.2).double(), real.nn.BatchNorm2d(
        3, momentum=0.2).double()
    for _ in range(3):
        x = RNG.normal(size=(4, 3, 2, 2)) * 3 + 1
        ours(torch.tensor(x))
        theirs(real.tensor(x))
    for key in theirs.state_dict():
        close(ours.state_dict()[key], theirs.state_dict()[key])
    assert ours.num_batches_tracked.item() == 3


def test_embedding_matches_pytorch_with_repeated_and_padding_indices():
    idx = np.array([[1, 2, 1], [0, 3, 3]])
    _module_check(nn.Embedding(5, 4), real.nn.Embedding(5, 4), None, integer_input=idx)
    _module_check(nn.Embedding(5, 4, padding_idx=3), real.nn.Embedding(5, 4, padding_idx=3),
                  None, integer_input=idx)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        nn.Embedding(5, 2)(torch.tensor([7]))


def test_dropout_scales_in_training_and_is_identity_in_eval():
    torch.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = torch.ones(200, 100)
    y = drop(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02 and np.allclose(y[kept], 1 / 0.75)
    assert drop.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_functional_one_hot_and_pad_match_pytorch():
    labels = np.array([0, 2, 1])
    close(F.one_hot(torch.tensor(labels), 4), real.nn.functional.one_hot(real.tensor(labels), 4)
          .numpy())
    assert F.one_hot(torch.tensor(labels)).dtype == torch.int64
    _grad_check(lambda t: (F if isinstance(t, minidl.Tensor) else real.nn.functional).pad(
        t, (1, 2, 0, 1)), RNG.normal(size=(2, 3, 4)))


def test_functional_activations_match_pytorch():
    fns = ["relu", "sigmoid", "tanh", ("leaky_relu", 0.1), ("softmax", 0), ("log_softmax", 1),
           ("dropout", 0.5, False)]
    for spec in fns:
        name, *args = spec if isinstance(spec, tuple) else (spec,)
        _grad_check(lambda t, name=name, args=args: getattr(
            F if isinstance(t, minidl.Tensor) else real.nn.functional, name)(t, *args),
            RNG.normal(size=(3, 4)))


def test_linear_errors_are_pytorch_families():
    fc = nn.Linear(4, 3)
    with pytest.raises(RuntimeError, match=r"\(2x5 and 4x3\)"):
        fc(torch.ones(2, 5))
    with pytest.raises(RuntimeError, match=r"\(2x5 and 4x3\)"):
        real.nn.Linear(4, 3)(real.ones(2, 5))
    with pytest.raises(RuntimeError, match="same dtype"):
        fc(torch.ones(2, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        real.nn.Linear(4, 3)(real.ones(2, 4, dtype=real.float64))


# ---------------------------------------------------------------------------------------
# Losses against PyTorch
# ---------------------------------------------------------------------------------------


def _loss_check(make, logits, target, tol=1e-10):
    ours, theirs = both(logits, requires_grad=True)
    t_ours, t_theirs = torch.tensor(target), real.tensor(target)
    l_ours = make(nn)(ours, t_ours)
    l_theirs = make(real.nn)(theirs, t_theirs)
    close(l_ours, l_theirs, tol)
    w = RNG.normal(size=tuple(l_theirs.shape))
    (l_ours * torch.tensor(w)).sum().backward()
    (l_theirs * real.tensor(w)).sum().backward()
    close(ours.grad, theirs.grad, tol)


LOGITS = RNG.normal(size=(6, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2, 3])
CLASS_W = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("kwargs", [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1},
    {"label_smoothing": 0.2, "reduction": "sum"}, {"label_smoothing": 0.2, "reduction": "none"},
    {"weight": "w"}, {"weight": "w", "reduction": "none"}, {"weight": "w", "reduction": "sum"},
    {"weight": "w", "label_smoothing": 0.15}, {"ignore_index": 1},
    {"ignore_index": 1, "weight": "w"}, {"ignore_index": 3, "label_smoothing": 0.1},
])
def test_cross_entropy_matches_pytorch(kwargs):
    def make(lib):
        options = dict(kwargs)
        if options.get("weight") == "w":
            options["weight"] = (torch if lib is nn else real).tensor(CLASS_W)
        return lib.CrossEntropyLoss(**options)

    _loss_check(make, LOGITS, LABELS)


def test_cross_entropy_with_the_default_ignore_index_and_uint8_labels():
    labels = LABELS.copy()
    labels[2] = -100
    _loss_check(lambda lib: lib.CrossEntropyLoss(), LOGITS, labels)
    _loss_check(lambda lib: lib.CrossEntropyLoss(), LOGITS, LABELS.astype(np.uint8))


@pytest.mark.parametrize("kwargs", [{}, {"label_smoothing": 0.1}, {"reduction": "none"},
                                    {"weight": "w"}, {"reduction": "sum"}])
def test_cross_entropy_with_class_probabilities_matches_pytorch(kwargs):
    probs = np.exp(RNG.normal(size=(6, 4)))
    probs /= probs.sum(axis=1, keepdims=True)

    def make(lib):
        options = dict(kwargs)
        if options.get("weight") == "w":
            options["weight"] = (torch if lib is nn else real).tensor(CLASS_W)
        return lib.CrossEntropyLoss(**options)

    _loss_check(make, LOGITS, probs)


def test_cross_entropy_over_spatial_dimensions_and_one_sample():
    logits = RNG.normal(size=(2, 4, 3, 3))
    labels = RNG.integers(0, 4, size=(2, 3, 3))
    _loss_check(lambda lib: lib.CrossEntropyLoss(), logits, labels)
    _loss_check(lambda lib: lib.CrossEntropyLoss(reduction="none"), logits, labels)
    _loss_check(lambda lib: lib.CrossEntropyLoss(), RNG.normal(size=(4,)), np.array(2))


def test_cross_entropy_fused_path_in_float32_matches_pytorch():
    _loss_check(lambda lib: lib.CrossEntropyLoss(), LOGITS.astype(np.float32), LABELS,
                tol=1e-5)


def test_cross_entropy_errors_are_pytorch_families():
    loss = nn.CrossEntropyLoss()
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        loss(torch.zeros(2, 4), torch.tensor([0, 4]))
    with pytest.raises(IndexError):
        real.nn.CrossEntropyLoss()(real.zeros(2, 4), real.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"input batch_size \(2\) to match target batch_size "
                                         r"\(3\)"):
        loss(torch.zeros(2, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError):
        real.nn.CrossEntropyLoss()(real.zeros(2, 4), real.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="class probabilities"):
        loss(torch.zeros(2, 4), torch.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError):
        real.nn.CrossEntropyLoss()(real.zeros(2, 4), real.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"weight": "w"},
                                    {"ignore_index": 0}, {"reduction": "none"}])
def test_nll_loss_matches_pytorch(kwargs):
    def make(lib):
        options = dict(kwargs)
        if options.get("weight") == "w":
            options["weight"] = (torch if lib is nn else real).tensor(CLASS_W)
        loss = lib.NLLLoss(**options)
        log_softmax = lib.LogSoftmax(dim=1)
        return lambda x, t: loss(log_softmax(x), t)

    _loss_check(make, LOGITS, LABELS)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_pytorch(name, reduction):
    _loss_check(lambda lib: getattr(lib, name)(reduction=reduction), RNG.normal(size=(5, 3)),
                RNG.normal(size=(5, 3)))


def test_mse_broadcasts_with_pytorchs_warning():
    with pytest.warns(UserWarning, match="different to the input size"):
        loss = F.mse_loss(torch.zeros(3, 1), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.warns(UserWarning):
        theirs = real.nn.functional.mse_loss(real.zeros(3, 1), real.tensor([1.0, 2.0, 3.0]))
    close(loss, theirs, 1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                    {"weight": "w"}])
def test_bce_matches_pytorch_including_the_clamp(kwargs):
    probs = np.array([[0.0, 0.3, 1.0], [0.999, 1e-50, 0.5]])
    target = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.3]])

    def make(lib):
        options = dict(kwargs)
        if options.get("weight") == "w":
            options["weight"] = (torch if lib is nn else real).tensor([1.0, 2.0, 0.5])
        return lib.BCELoss(**options)

    _loss_check(make, probs, target)
    loss = nn.BCELoss(reduction="none")(torch.tensor([0.0]), torch.tensor([1.0]))
    assert loss.item() == 100.0


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"pos_weight": "p"},
                                    {"pos_weight": "p", "weight": "w", "reduction": "none"}])
def test_bce_with_logits_matches_pytorch_and_stays_finite(kwargs):
    logits = np.array([[100.0, -100.0, 0.3], [-2.0, 5.0, 1e4]])
    target = np.array([[0.0, 1.0, 1.0], [0.2, 1.0, 0.0]])

    def make(lib):
        options = dict(kwargs)
        lib_t = torch if lib is nn else real
        if options.get("pos_weight") == "p":
            options["pos_weight"] = lib_t.tensor([3.0, 0.5, 2.0])
        if options.get("weight") == "w":
            options["weight"] = lib_t.tensor([1.0, 2.0, 0.5])
        return lib.BCEWithLogitsLoss(**options)

    _loss_check(make, logits, target)


def test_bce_refuses_values_outside_zero_one():
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        nn.BCELoss()(torch.tensor([1.5]), torch.tensor([1.0]))


# ---------------------------------------------------------------------------------------
# utils.data
# ---------------------------------------------------------------------------------------


def test_default_collation_matches_pytorch():
    from torch.utils.data import default_collate as real_collate

    from minidl.torch.utils.data import default_collate

    samples = [
        [(np.ones(2, np.float32), 1), (np.zeros(2, np.float32), 2)],
        [1.5, 2.5], [1, 2], [True, False],
        [{"x": np.ones(3), "y": 0.5}, {"x": np.zeros(3), "y": 1.5}],
        [(torch.tensor([1.0]), 3), (torch.tensor([2.0]), 4)],
        [np.float32(1.0), np.float32(2.0)],
    ]
    for batch in samples:
        ours = default_collate(batch)
        real_batch = [tuple(real.tensor(e.numpy()) if isinstance(e, minidl.Tensor) else e
                            for e in s) if isinstance(s, tuple) else s for s in batch]
        theirs = real_collate(real_batch)
        flat_ours = list(ours.values()) if isinstance(ours, dict) else (
            ours if isinstance(ours, list) else [ours])
        flat_theirs = list(theirs.values()) if isinstance(theirs, dict) else (
            theirs if isinstance(theirs, list) else [theirs])
        assert type(ours) is type(theirs) or isinstance(ours, minidl.Tensor)
        for o, t in zip(flat_ours, flat_theirs):
            assert str(o.dtype) == str(t.dtype).replace("torch.", ""), batch
            close(o, t.numpy())


def test_dataloader_batches_len_drop_last_and_shuffle():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10 and ds[3][1].item() == 3 and ds[2:4][0].shape == (2, 1)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert isinstance(batches[0], list) and batches[0][1].tolist() == [0, 1, 2, 3]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    assert len(DataLoader(ds)) == 10  # batch_size=1 by default, as PyTorch
    torch.manual_seed(0)
    shuffled = DataLoader(ds, batch_size=10, shuffle=True)
    first, second = [list(shuffled)[0][1].tolist() for _ in range(2)]
    assert sorted(first) == list(range(10)) and first != second  # a new order each epoch
    torch.manual_seed(0)
    assert list(shuffled)[0][1].tolist() == first  # the same seed repeats it
    # the fast TensorDataset path gives what per-sample collation gives
    slow = DataLoader(ds, batch_size=4, collate_fn=lambda b: [torch.stack([s[0] for s in b]),
                                                              torch.stack([s[1] for s in b])])
    for (a, b), (c, d) in zip(DataLoader(ds, batch_size=4), slow):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(torch.zeros(3), torch.zeros(4))


def test_random_split_and_subset_sizes_match_pytorch():
    ds = TensorDataset(torch.arange(10))
    for lengths in ([3, 7], [0.3, 0.7], [0.25, 0.25, 0.5], [0.33, 0.33, 0.34]):
        ours = random_split(ds, lengths)
        theirs = real.utils.data.random_split(real.utils.data.TensorDataset(real.arange(10)),
                                              lengths)
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        indices = sorted(i for s in ours for i in s.indices)
        assert indices == list(range(10))
    sub = Subset(ds, [4, 2])
    assert len(sub) == 2 and sub[0][0].item() == 4
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


# ---------------------------------------------------------------------------------------
# save / load
# ---------------------------------------------------------------------------------------


def test_save_load_round_trips_state_dicts(tmp_path):
    net = Net()
    state = {"model": net.state_dict(), "epoch": 3, "lr": 0.5, "name": "mlp",
             "history": [1.0, 0.5], "pair": (1, None), "opt": {0: {"step": 2}},
             "array": np.arange(3)}
    path = tmp_path / "ckpt.pt"
    torch.save(state, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 3 and loaded["lr"] == 0.5 and loaded["name"] == "mlp"
    assert loaded["history"] == [1.0, 0.5] and loaded["pair"] == (1, None)
    assert loaded["opt"] == {0: {"step": 2}}
    np.testing.assert_array_equal(loaded["array"], np.arange(3))
    other = Net()
    other.load_state_dict(loaded["model"])
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k].numpy(), v.numpy())
        assert loaded["model"][k].dtype == v.dtype


def test_save_refuses_objects_and_load_refuses_pickles(tmp_path):
    path = tmp_path / "model.pt"
    with pytest.raises(TypeError, match=r"cannot save a Net .*state_dict\(\)"):
        torch.save(Net(), path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    real.save({"w": real.ones(2)}, path)  # a real PyTorch (pickle) file
    with pytest.raises(CheckpointError, match="not a minidl.torch file"):
        torch.load(path)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.pt"):
        torch.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        torch.load(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------
# Step-by-step parity of a small program (hand-written SGD step, no optimizer needed)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_training_steps_match_pytorch_step_by_step(dtype, tol):
    def build(lib):
        return lib.Sequential(lib.Flatten(), lib.Linear(12, 16), lib.ReLU(),
                              lib.Linear(16, 3))

    ours, theirs = build(nn), build(real.nn)
    theirs.to(getattr(real, dtype))
    ours.to(np.dtype(dtype))
    copy_into(ours, theirs)
    loss_ours, loss_theirs = nn.CrossEntropyLoss(), real.nn.CrossEntropyLoss()
    data = RNG.normal(size=(5, 8, 3, 4)).astype(dtype)
    labels = RNG.integers(0, 3, size=(5, 8))
    for step in range(5):
        ours.zero_grad()
        theirs.zero_grad()
        lo = loss_ours(ours(torch.tensor(data[step])), torch.tensor(labels[step]))
        lt = loss_theirs(theirs(real.tensor(data[step])), real.tensor(labels[step]))
        close(lo, lt, tol)
        lo.backward()
        lt.backward()
        with torch.no_grad():
            for p in ours.parameters():
                p.sub_(torch.from_numpy(p.grad), alpha=0.1)
        with real.no_grad():
            for p in theirs.parameters():
                p.sub_(p.grad, alpha=0.1)
        for (_name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            close(p, tp, tol)


# ---------------------------------------------------------------------------------------
# Convolutions and pooling (NCHW) against PyTorch
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.Conv2d(1, 6, 3), (2, 1, 8, 8)),
    (lambda nn: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1), (2, 3, 7, 6)),
    (lambda nn: nn.Conv2d(2, 4, 3, dilation=2, bias=False), (1, 2, 9, 9)),
    (lambda nn: nn.Conv2d(4, 6, 1, groups=2, stride=(1, 2)), (2, 4, 5, 5)),
    (lambda nn: nn.MaxPool2d(2), (2, 3, 5, 5)),
    (lambda nn: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    (lambda nn: nn.MaxPool2d(2, ceil_mode=True), (2, 3, 5, 5)),
    (lambda nn: nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 2, 8, 8)),
    (lambda nn: nn.AvgPool2d(2), (2, 3, 6, 5)),
    (lambda nn: nn.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 7)),
    (lambda nn: nn.AdaptiveAvgPool2d((1, 1)), (2, 3, 5, 4)),
    (lambda nn: nn.AdaptiveAvgPool2d(2), (2, 3, 6, 4)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
])
def test_convolution_and_pooling_modules_match_pytorch(make, shape):
    _module_check(make(nn), make(real.nn), shape)


def test_max_pool_after_relu_sends_the_gradient_to_the_first_maximum():
    data = np.zeros((1, 1, 4, 4))
    data[0, 0, 0, 1] = data[0, 0, 1, 0] = 2.0  # a tie in the first window
    _grad_check(lambda t: (F if isinstance(t, minidl.Tensor) else real.nn.functional)
                .max_pool2d(t.relu(), 2), data)
    assert torch.zeros(1, 1, 5, 5).shape == (1, 1, 5, 5)
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 2).shape == (1, 1, 2, 2)  # floors


def test_conv_channel_mismatch_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="to have 3 channels, but got 1"):
        nn.Conv2d(3, 4, 3)(torch.zeros(1, 1, 5, 5))
    with pytest.raises(RuntimeError):
        real.nn.Conv2d(3, 4, 3)(real.zeros(1, 1, 5, 5))
    with pytest.raises(RuntimeError, match="4-D input"):
        nn.Conv2d(1, 4, 3)(torch.zeros(5, 5))


def test_conv2d_default_init_bounds():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 16, 5)
    bound = 1 / np.sqrt(6 * 25)
    w = conv.weight.detach().numpy()
    assert w.shape == (16, 6, 5, 5) and np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.98 * bound and np.abs(conv.bias.detach().numpy()).max() <= bound


def test_conv_and_pool_outputs_can_be_viewed_as_in_pytorch():
    conv = nn.Conv2d(1, 6, 3)
    out = F.max_pool2d(F.relu(conv(torch.ones(2, 1, 8, 8))), 2)
    assert out.is_contiguous() and out.view(2, -1).shape == (2, 6 * 3 * 3)
    assert conv(torch.ones(2, 1, 8, 8)).is_contiguous()


# ---------------------------------------------------------------------------------------
# The seeds' two programs, small, stepped beside PyTorch with their optimizers
# ---------------------------------------------------------------------------------------


def _seed_004_model(lib):
    class SimpleModel(lib.Module):
        def __init__(self):
            super().__init__()
            self.flatten = lib.Flatten()
            self.fc1 = lib.Linear(6 * 6, 16)
            self.relu = lib.ReLU()
            self.fc2 = lib.Linear(16, 10)

        def forward(self, x):
            return self.fc2(self.relu(self.fc1(self.flatten(x))))

    return SimpleModel()


def _seed_003_model(lib, F):
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = lib.Conv2d(1, 6, 3)
            self.fc1 = lib.Linear(6 * 4 * 4, 12)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = x.view(-1, 6 * 4 * 4)
            return F.relu(self.fc1(x))

    return Net()


@pytest.mark.parametrize("program", ["seed_004_adam", "seed_003_sgd_momentum"])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_seed_programs_step_beside_pytorch(program, dtype, tol):
    if program == "seed_004_adam":
        ours, theirs = _seed_004_model(nn), _seed_004_model(real.nn)
    else:
        ours, theirs = _seed_003_model(nn, F), _seed_003_model(real.nn, real.nn.functional)
    theirs.to(getattr(real, dtype))
    ours.to(np.dtype(dtype))
    copy_into(ours, theirs)
    if program == "seed_004_adam":
        opt, topt = torch.optim.Adam(ours.parameters()), real.optim.Adam(theirs.parameters())
    else:
        opt = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
        topt = real.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    criterion, tcriterion = nn.CrossEntropyLoss(), real.nn.CrossEntropyLoss()
    images = RNG.uniform(size=(6, 8, 1, 10, 10)).astype(dtype)
    if program == "seed_004_adam":
        images = images[:, :, :, :6, :6]
    labels = RNG.integers(0, 10, size=(6, 8))
    for step in range(6):
        opt.zero_grad()
        topt.zero_grad()
        loss = criterion(ours(torch.tensor(images[step])), torch.tensor(labels[step]))
        tloss = tcriterion(theirs(real.tensor(images[step])), real.tensor(labels[step]))
        close(loss, tloss, tol)
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            close(p, tp, tol)


def test_retain_grad_keeps_a_non_leaf_gradient_as_pytorch():
    ours, theirs = both(RNG.normal(size=(3,)), requires_grad=True)
    h, th = ours * 2, theirs * 2
    h.retain_grad()
    th.retain_grad()
    (h * h).sum().backward()
    (th * th).sum().backward()
    close(h.grad, th.grad)
    assert (ours * 3).grad is None


@pytest.mark.parametrize("call,family", [
    (lambda lib: lib.nn.Linear(4, 3)(lib.ones(2, 5)), RuntimeError),
    (lambda lib: lib.ones(2, 3) @ lib.ones(2, 3), RuntimeError),
    (lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 4)]), RuntimeError),
    (lambda lib: lib.ones(6).view(4), RuntimeError),
    (lambda lib: lib.nn.Conv2d(3, 4, 3)(lib.ones(1, 2, 5, 5)), RuntimeError),
    (lambda lib: (lib.ones(2, requires_grad=True) * 2).backward(), RuntimeError),
    (lambda lib: lib.ones(2).item(), RuntimeError),
    (lambda lib: lib.ones(2, requires_grad=True).numpy(), RuntimeError),
    (lambda lib: lib.nn.CrossEntropyLoss()(lib.zeros(2, 3), lib.tensor([0, 3])), IndexError),
    (lambda lib: lib.nn.CrossEntropyLoss()(lib.zeros(2, 3), lib.tensor([0])), ValueError),
    (lambda lib: lib.optim.SGD([], lr=0.1), ValueError),
    (lambda lib: lib.optim.Adam(lib.nn.Linear(2, 2).parameters(), lr=-1.0), ValueError),
    (lambda lib: lib.from_numpy([1.0, 2.0]), TypeError),
])
def test_errors_come_in_pytorchs_families(call, family):
    with pytest.raises(family):
        call(real)
    with pytest.raises(family) as info:
        call(torch)
    assert len(str(info.value)) > 20  # a sentence, not a bare code


def test_a_second_backward_through_a_freed_graph_is_a_runtime_error():
    for lib in (real, torch):
        x = lib.ones(2, requires_grad=True)
        y = (x * x).sum()
        y.backward()
        with pytest.raises(RuntimeError):
            y.backward()


def test_inplace_activation_outside_the_graph_writes_into_the_input():
    x = torch.tensor([-1.0, 2.0])
    view = x[:]
    assert F.relu(x, inplace=True) is x
    assert view.tolist() == [0.0, 2.0]
    t = real.tensor([-1.0, 2.0])
    real.nn.functional.relu(t, inplace=True)
    assert t.tolist() == x.tolist()


def test_seed_003_pytorch_snippet_runs_with_only_its_imports_changed():
    """The seed's text, verbatim (checked against the seed when the seeds folder is
    present), with `torch` imports swapped: it builds the network, the optimizer and the
    loss as PyTorch does, and calling the network fails where PyTorch's fails (the snippet's
    undefined num_flat_features; examples/11_pytorch_cnn.py completes it)."""
    from pathlib import Path

    text = (Path(__file__).parent / "seed_programs" / "seed003_torch.txt").read_text()
    seeds = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if seeds.is_dir():
        assert any(text in f.read_text() for f in seeds.glob("003_*.txt"))

    def run(swapped):
        namespace = {}
        exec(compile(swapped, "seed003_torch", "exec"), namespace)  # noqa: S102
        return namespace

    ours = run(text.replace("import torch\n", "import minidl.torch as torch\n")
               .replace("import torch.nn as", "import minidl.torch.nn as")
               .replace("import torch.optim as", "import minidl.torch.optim as")
               .replace("import torch.nn.functional as", "import minidl.torch.nn.functional as"))
    theirs = run(text)
    assert [n for n, _ in ours["net"].named_parameters()] == \
        [n for n, _ in theirs["net"].named_parameters()]
    assert isinstance(ours["optimizer"], torch.optim.SGD)
    for namespace, lib in ((ours, torch), (theirs, real)):
        with pytest.raises(AttributeError, match="num_flat_features"):
            namespace["net"](lib.zeros(1, 1, 28, 28))
