"""The autograd engine: graph walking, accumulation, grad mode, tensor basics, misuse.

Gradients are checked against PyTorch building the same expression (float64), as
micrograd's tests do, or against a derivative worked out by hand in the test.
"""

import gc
import re
import weakref

import numpy as np
import pytest
import torch
from helpers import check_raises

import minidl
from minidl import GraphError, Op, ShapeError, Tensor, no_grad, ops
from minidl.testing import gradcheck


def leaves(*values, dtype=np.float64):
    """minidl and torch leaves holding the same values."""
    ours = [Tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    theirs = [torch.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    return ours, theirs


def assert_same_grads(ours, theirs):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# Graph shapes
# --------------------------------------------------------------------------------------


def test_a_plus_a_then_b_plus_b():
    # c = (a + a) + (a + a) = 4a, so dc/da = 4 (each use of a tensor adds its gradient).
    a = Tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert c.item() == 12.0
    assert a.grad == 4.0


def test_shared_factor_x_y_times_x_z():
    # f = (x·y)·(x·z) = x²yz:  df/dx = 2xyz, df/dy = x²z, df/dz = x²y.
    (x, y, z), theirs = leaves([1.5, -2.0], [0.5, 3.0], [-1.0, 2.0])
    f = ((x * y) * (x * z)).sum()
    f.backward()
    tx, ty, tz = theirs
    ((tx * ty) * (tx * tz)).sum().backward()
    assert_same_grads([x, y, z], theirs)
    np.testing.assert_allclose(x.grad, 2 * x.data * y.data * z.data)


def test_diamond_graph():
    # a feeds two branches that meet again: d = (2a) · exp(a); dd/da = 2e^a + 2a·e^a.
    (a,), (ta,) = leaves([0.3, -1.2, 2.0])
    b, c = a * 2, a.exp()
    (b * c).sum().backward()
    (ta * 2 * ta.exp()).sum().backward()
    assert_same_grads([a], [ta])
    np.testing.assert_allclose(a.grad, 2 * np.exp(a.data) * (1 + a.data))


def test_deeper_graph_matches_torch():
    (x, w, b), theirs = leaves(
        np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0.5, -0.5, 8).reshape(4, 2), [0.1, -0.2]
    )
    h = ops.tanh(x @ w + b)
    loss = (ops.log_softmax(h * h - h, axis=1) * 0.5).mean() + ops.maximum(h, 0.1).sum()
    loss.backward()
    tx, tw, tb = theirs
    th = torch.tanh(tx @ tw + tb)
    tloss = (torch.log_softmax(th * th - th, 1) * 0.5).mean() + torch.maximum(
        th, torch.tensor(0.1, dtype=torch.float64)
    ).sum()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    assert_same_grads([x, w, b], theirs)


def test_chain_of_ten_thousand_ops_needs_no_recursion():
    x = Tensor(np.float64(1.0), requires_grad=True)
    y = x
    for _ in range(5_000):
        y = y * 1.0001
        y = y + 0.5
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**5_000, rtol=1e-9)
    # Freeing the chain must not recurse either.
    del y
    gc.collect()


def test_graph_is_collected_once_unreachable():
    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2).exp()
    op_ref = weakref.ref(y.op)
    del y
    gc.collect()
    assert op_ref() is None


# --------------------------------------------------------------------------------------
# Accumulation
# --------------------------------------------------------------------------------------


def test_gradients_accumulate_over_backward_calls_until_zeroed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 3 + 2 * x.data)
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_tensor_used_twice_gets_the_sum():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data + 1)


@pytest.mark.parametrize(
    "shape_a, shape_b", [((3, 1), (4,)), ((1, 3), ()), ((2, 1, 3), (4, 1)), ((5,), (1, 5))]
)
def test_broadcast_gradients_are_reduced_to_each_input_shape(shape_a, shape_b):
    rng = np.random.default_rng(0)
    (a, b), theirs = leaves(rng.normal(size=shape_a), rng.normal(size=shape_b))
    (a * b + a).sum().backward()
    ta, tb = theirs
    (ta * tb + ta).sum().backward()
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    assert_same_grads([a, b], theirs)


def test_only_leaves_keep_gradients():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2
    y = h.sum()
    y.backward()
    assert h.grad is None and y.grad is None
    assert x.grad is not None


def test_each_leaf_owns_a_writeable_gradient():
    # x + y hands the same array to both inputs and sum's backward is a read-only broadcast
    # view: an optimizer scaling one .grad in place must change only that one.
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (x + y).sum().backward()
    assert x.grad is not y.grad
    x.grad *= 10
    np.testing.assert_array_equal(x.grad, [10.0, 10.0])
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])


def test_explicit_gradient_is_not_aliased():
    g = np.array([1.0, 2.0])
    x = Tensor(np.zeros(2), requires_grad=True)
    y = Tensor(np.zeros(2), requires_grad=True)
    (x + y).backward(g)
    x.backward(g)  # x is a leaf: its gradient is (a copy of) the seed
    g[:] = 0  # the caller reusing its buffer changes no .grad
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    np.testing.assert_array_equal(y.grad, [1.0, 2.0])


def test_custom_op_may_return_no_gradient_for_an_input():
    class FirstOnly(Op):
        """out = a + b, but (deliberately) only a gets a gradient."""

        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return g, None

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    hidden = w * 2  # requires grad, but receives none through FirstOnly
    FirstOnly.apply(w, hidden).sum().backward()
    np.testing.assert_array_equal(w.grad, [1.0, 1.0])


# --------------------------------------------------------------------------------------
# Grad mode and detach
# --------------------------------------------------------------------------------------


def test_no_grad_records_nothing():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad():
        y = (x * 2).exp().sum()
    assert not y.requires_grad and y.op is None
    assert minidl.is_grad_enabled()
    check_raises(GraphError, "does not require grad", y.backward)


def test_no_grad_as_decorator_and_restored_after_an_exception():
    @no_grad()
    def predict(t):
        assert not minidl.is_grad_enabled()
        return t * 2

    x = Tensor(np.ones(2), requires_grad=True)
    assert not predict(x).requires_grad

    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert minidl.is_grad_enabled()
    assert (x * 2).requires_grad


def test_enable_grad_inside_no_grad():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        with minidl.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_detach_shares_data_and_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    d = h.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.data, h.data)
    # Only the attached path carries a gradient: d(h + d)/dx = 3, not 6.
    (h + d).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# --------------------------------------------------------------------------------------
# Tensor basics
# --------------------------------------------------------------------------------------


def test_array_like_properties():
    data = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = Tensor(data)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64
    assert len(t) == 2
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), data)
    assert Tensor(2.5).item() == 2.5 and isinstance(Tensor(2.5).item(), float)
    check_raises(ShapeError, r"shape \(2, 3\)", t.item)


def test_results_of_reductions_and_indexing_are_arrays():
    # NumPy reductions return scalars; a Tensor's .data is always an array (so it can be
    # updated in place and has the methods an array has).
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    for t in (x.sum(), x.mean(), x.max(), x[0, 1], ops.var(x)):
        assert isinstance(t.data, np.ndarray) and t.shape == ()
    y = x.sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


def test_repr_shows_values_dtype_and_creating_op():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert repr(x) == "Tensor([1., 2.], dtype=float64, requires_grad=True)"
    assert "op=Mul" in repr(x * 2)
    assert "op=Sum" in repr((x * 2).sum())
    assert "op" not in repr(Tensor([1.0]))


def test_python_numbers_and_lists_become_float32_by_default():
    for data in (3, 2.5, [1, 2], [[1.0, 2.0]]):
        assert Tensor(data).dtype == np.float32
    minidl.config.set_floatx("float64")
    assert Tensor(2.5).dtype == np.float64
    # Arrays keep their dtype: integer labels stay integers.
    assert Tensor(np.array([1, 2])).dtype == np.int64


def test_float64_end_to_end():
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    w = Tensor(rng.normal(size=(3, 5)), requires_grad=True)
    h = ops.gelu(x @ w * 0.5 + 1)
    h = ops.dropout(h, 0.2, generator=np.random.default_rng(1))
    loss = ops.softmax_cross_entropy(h, np.array([0, 1, 2, 3])) + ops.var(h) + h.max() / 3
    assert loss.dtype == np.float64
    loss.backward()
    assert x.grad.dtype == np.float64 and w.grad.dtype == np.float64
    # float64 all the way means float64 accuracy: compare with finite differences.
    assert gradcheck(
        lambda a, b: ops.gelu(a @ b * 0.5 + 1).sum() + ops.var(a @ b), [x, w]
    )


def test_float32_gradients_stay_float32_when_mixed_with_float64():
    x32 = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    x64 = Tensor(np.ones(3, dtype=np.float64), requires_grad=True)
    y = x32 * x64
    assert y.dtype == np.float64  # NumPy's promotion
    y.sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64


# --------------------------------------------------------------------------------------
# Misuse (docs/ERRORS.md: GraphError, autograd misuse)
# --------------------------------------------------------------------------------------


def test_second_backward_through_a_freed_graph_raises():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    error = check_raises(GraphError, r"retain_graph=True", y.backward)
    assert isinstance(error, RuntimeError)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # unchanged by the failed call


def test_a_freed_subgraph_raises_before_touching_any_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    h.sum().backward()  # frees h's op
    w = Tensor(np.array([1.0, 1.0]), requires_grad=True)
    check_raises(GraphError, "retain_graph=True", (w * h).sum().backward)
    assert w.grad is None


def test_retain_graph_allows_a_second_backward_which_accumulates():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, 2 * (2 * x.data))
    y.backward()  # the last one may free it
    np.testing.assert_array_equal(x.grad, 3 * (2 * x.data))


def test_non_scalar_backward_needs_a_gradient():
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    check_raises(
        GraphError, re.escape("only for scalar outputs; got shape (3, 2)"), (x * 2).backward
    )
    # With an explicit gradient it is the vector-Jacobian product.
    (x * 2).backward(np.full((3, 2), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


def test_wrong_shape_gradient_names_both_shapes():
    x = Tensor(np.ones((3, 2)), requires_grad=True)
    check_raises(
        ShapeError, r"\(2, 3\).*\(3, 2\)", (x * 2).backward, np.ones((2, 3))
    )
    assert x.grad is None


def test_backward_on_a_tensor_without_grad_changes_nothing():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * 2).sum().backward()
    before = w.grad.copy()
    constant = Tensor(np.array([1.0, 2.0])) * 3
    check_raises(GraphError, "does not require grad", constant.sum().backward)
    np.testing.assert_array_equal(w.grad, before)


def test_in_place_change_of_a_saved_tensor_is_detected():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    loss = (w * x).sum()
    w.assign(np.array([10.0, 20.0]))  # Mul saved w for x's gradient: it is stale now
    check_raises(GraphError, r"Mul.*modified in place", loss.backward)
    assert w.grad is None and x.grad is None  # nothing half-done
    # Recomputing after the update works and uses the new value.
    (w * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [10.0, 20.0])


def test_requires_grad_needs_a_float_dtype():
    check_raises(TypeError, "floating-point", Tensor, np.array([1, 2]), requires_grad=True)
