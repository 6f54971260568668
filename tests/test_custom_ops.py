"""A user's op that returns the wrong thing gets a named error, never a raw NumPy one;
``retain_grad()`` and names in ``repr``."""

import numpy as np
import pytest
import torch
from helpers import check_raises

from minidl import GraphError, Op, ShapeError, Tensor, ops


def leaf(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).normal(size=shape), requires_grad=True)


class BareArrayBackward(Op):
    """out = x · y; backward returns only dx, as a bare array (not a tuple)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        return g * self.y


class OneGradientForTwoInputs(Op):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return (g * self.b,)


class ForgetsToReturn(Op):
    def forward(self, x):
        x * 2  # noqa: B018  (the classic slip: no return)


class ReturnsATensor(Op):
    def forward(self, x):
        return Tensor(x * 2)


class WrongShapeGradient(Op):
    """out = x.sum(axis=1) (shape (2,)); backward returns g itself, of shape (2,)."""

    def forward(self, x):
        return x.sum(axis=1)

    def backward(self, g):
        return (g,)


class IntegerGradient(Op):
    def forward(self, x):
        return x * 2

    def backward(self, g):
        return (np.ones(g.shape, dtype=np.int64),)


def test_backward_returning_a_bare_array_names_the_op_and_the_fix():
    x, y = leaf(2, 3), leaf(2, 3, seed=1)
    w = leaf(3, seed=2)
    loss = (BareArrayBackward.apply(x, y) * w).sum()  # another leaf, reached before the op
    error = check_raises(
        GraphError, r"BareArrayBackward\.backward returned ndarray of shape \(2, 3\).*"
                    r"expected a tuple with one gradient per input \(2 inputs\): return \(d0, d1\)",
        loss.backward,
    )  # fmt: skip
    assert isinstance(error, RuntimeError)
    # No side effects: the leaf that got its gradient before the error has it undone.
    assert w.grad is None and x.grad is None and y.grad is None


def test_backward_with_too_few_gradients_says_so_instead_of_leaving_grad_none():
    a, b = leaf(3), leaf(3, seed=1)
    check_raises(GraphError, r"OneGradientForTwoInputs\.backward returned 1 gradient\(s\) for 2 "
                             r"inputs", OneGradientForTwoInputs.apply(a, b).sum().backward)


def test_forward_returning_none_fails_at_the_op_not_in_the_next_one():
    check_raises(GraphError, r"ForgetsToReturn\.forward returned NoneType, expected an array.*"
                             "return", ForgetsToReturn.apply, leaf(3))  # fmt: skip


def test_forward_returning_a_tensor_explains_raw_arrays():
    check_raises(GraphError, r"ReturnsATensor\.forward returned a Tensor; forward works on raw "
                             "arrays", ReturnsATensor.apply, leaf(3))  # fmt: skip


def test_gradient_of_the_wrong_shape_is_a_shape_error_naming_both_shapes():
    x = leaf(2, 3)
    check_raises(ShapeError, r"WrongShapeGradient\.backward returned a gradient of shape \(2,\) "
                             r"for input 0 of shape \(2, 3\)",
                 WrongShapeGradient.apply(x).sum().backward)  # fmt: skip
    assert x.grad is None


def test_integer_gradient_is_refused():
    check_raises(GraphError, r"IntegerGradient\.backward returned a gradient of dtype int64 "
                             "for input 0", IntegerGradient.apply(leaf(3)).sum().backward)


class BroadcastingAdd(Op):
    """out = a + b; backward hands g (the output's shape) to both, like minidl's own Add: the
    engine sums it back to each input's shape."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


def test_a_gradient_of_the_broadcast_shape_is_accepted_and_reduced():
    a, b = leaf(2, 3), leaf(3, seed=1)
    BroadcastingAdd.apply(a, b).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full(3, 2.0))  # summed over the 2 rows


def test_minidl_ops_are_trusted_and_user_ops_are_not():
    assert ops.elementwise.Mul._trusted and ops.fused.Dense._trusted
    assert not BroadcastingAdd._trusted


# --------------------------------------------------------------------------------------
# retain_grad and repr
# --------------------------------------------------------------------------------------


def test_retain_grad_keeps_an_intermediate_gradient_like_torch():
    values = np.random.default_rng(0).normal(size=(2, 3))
    x = Tensor(values, requires_grad=True)
    h = ops.tanh(x) * 2
    h.retain_grad()
    loss = (h * h).sum() + h.sum()
    loss.retain_grad()  # the root itself: its gradient is the seed, 1
    loss.backward()

    tx = torch.tensor(values, requires_grad=True)
    th = torch.tanh(tx) * 2
    th.retain_grad()
    ((th * th).sum() + th.sum()).backward()
    np.testing.assert_allclose(h.grad, th.grad.numpy(), rtol=1e-12)
    assert loss.grad == 1.0
    # It accumulates over backward calls, as a leaf's gradient does.
    h2 = x * 1.0
    h2.retain_grad()
    out = (h2 * 3).sum()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_array_equal(h2.grad, np.full((2, 3), 6.0))


def test_without_retain_grad_an_intermediate_has_no_grad():
    x = leaf(3)
    h = x * 2
    h.sum().backward()
    assert h.grad is None and x.grad is not None


def test_retain_grad_on_a_tensor_without_grad_is_an_error():
    check_raises(GraphError, "does not require grad", Tensor([1.0]).retain_grad)


def test_repr_shows_the_name():
    w = Tensor(np.zeros(2), requires_grad=True, name="dense/kernel")
    assert repr(w) == "Tensor([0., 0.], dtype=float64, name='dense/kernel', requires_grad=True)"
    assert "name=" not in repr(Tensor([1.0]))


@pytest.mark.parametrize("op", [BareArrayBackward, OneGradientForTwoInputs])
def test_the_check_runs_in_gradcheck_too(op):
    from minidl.testing import gradcheck

    with pytest.raises(GraphError, match=op.__name__):
        gradcheck(lambda a, b: op.apply(a, b), [leaf(3), leaf(3, seed=1)])
