"""minidl.testing: the checkers must pass correct ops and catch wrong ones, precisely."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import check_raises

import minidl
from minidl import DTypeError, Op, ShapeError, Tensor, ops
from minidl.testing import assert_matches_torch, check_op, gradcheck

ROOT = Path(__file__).resolve().parents[1]


def tensor64(shape, seed=0, low=-2.0, high=2.0):
    data = np.random.default_rng(seed).uniform(low, high, size=shape)
    return Tensor(data, requires_grad=True)


class SquareWithWrongBackward(Op):
    """out = x², with the classic slip: dx = g · x (the factor 2 forgotten)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return (g * self.x,)


class ScaleSecondWrongly(Op):
    """out = a · b with a right gradient for a and a wrong sign for b."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return g * self.b, -g * self.a


# --------------------------------------------------------------------------------------
# gradcheck
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x: ops.tanh(x) * x, [(3, 4)]),
        (lambda a, b: a @ b, [(2, 3), (3, 4)]),
        (lambda x: ops.softmax(x, axis=0), [(4, 3)]),
        (lambda x: ops.var(x, axis=1, ddof=1), [(3, 5)]),
        (lambda x: ops.gelu(x) + ops.softplus(x) + ops.elu(x * 3 + 0.1), [(6,)]),
        (lambda x: x[np.array([0, 0, 2])] * x[::-1], [(3,)]),
        (lambda a, b: ops.maximum(a, b) / (b * b + 1), [(2, 3), (3,)]),
        (lambda x: ops.logsumexp(x, axis=-1), [(2, 5)]),
    ],
)
def test_gradcheck_passes_correct_ops(fn, shapes):
    inputs = [tensor64(s, seed=i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs) is True


def test_gradcheck_with_constant_and_integer_inputs():
    logits = tensor64((4, 3))
    labels = np.array([0, 2, 1, 2])  # integers: constants, never perturbed
    assert gradcheck(lambda z, y: ops.softmax_cross_entropy(z, y), [logits, labels])
    # A Tensor that does not require grad is a constant too.
    weight = Tensor(np.array([1.0, 2.0, 3.0]))
    assert gradcheck(lambda z, w: (z * w).sum(), [logits, weight])


def test_gradcheck_catches_a_wrong_backward_and_reports_the_worst_element():
    x = Tensor(np.array([0.5, -3.0, 1.0, 2.0]), requires_grad=True)
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda t: SquareWithWrongBackward.apply(t).sum(), [x])
    message = str(info.value)
    # The true derivative is 2x, the op's is x: the error x is largest where |x| is largest.
    assert "input 0 (shape (4,)): 4 of 4 elements wrong" in message
    assert "worst at index (1,): x = -3, analytic -3, numeric -6" in message
    assert "of fn's scalar output" in message  # no weighting to explain
    assert "kink" not in message  # x² is smooth: no kink flag


def test_gradcheck_names_the_input_with_the_wrong_gradient():
    a, b = tensor64((2, 2), seed=1), tensor64((2, 2), seed=2)
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda p, q: ScaleSecondWrongly.apply(p, q), [a, b])
    message = str(info.value)
    assert "wrong gradients for 1 of 2 differentiated inputs" in message
    assert "input 1 (shape (2, 2)): 4 of 4 elements wrong" in message
    assert "input 0 (" not in message
    # A non-scalar output: the report says what was differentiated.
    assert "L = sum(w * fn(inputs)), w fixed random weights (seed 0)" in message


class ThreeInputsTwoWrong(Op):
    """out = a·b + c, with the gradients of a and c wrong (doubled) and b's right."""

    def forward(self, a, b, c):
        self.a, self.b = a, b
        return a * b + c

    def backward(self, g):
        return 2 * g * self.b, g * self.a, 2 * g


def test_gradcheck_reports_every_wrong_input_not_just_the_first():
    inputs = [tensor64((3,), seed=s) for s in range(3)]
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda a, b, c: ThreeInputsTwoWrong.apply(a, b, c), inputs,
                  output_weights="sum")  # fmt: skip
    message = str(info.value)
    assert "wrong gradients for 2 of 3 differentiated inputs" in message
    assert "input 0 (shape (3,)): 3 of 3 elements wrong" in message
    assert "input 2 (shape (3,)): 3 of 3 elements wrong" in message
    assert "input 1 (" not in message
    assert "output_weights='sum'" in message
    # With w = 1, dL/dc = 1 exactly: the analytic 2 against the numeric 1 is reported.
    numeric = float(re.search(r"input 2 .*analytic 2, numeric ([0-9.e-]+)$", message,
                              re.M).group(1))
    assert numeric == pytest.approx(1.0, abs=1e-6)


def test_gradcheck_flags_a_kink_and_shows_the_x_value():
    # ReLU at 0: the one-sided slopes are 0 and w (the output's weight), so no finite
    # difference can judge it; inputs 1 and -1 are fine.
    x = Tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    with pytest.raises(AssertionError) as info:
        gradcheck(ops.relu, [x], output_weights="sum")
    message = str(info.value)
    assert "input 0 (shape (3,)): 1 of 3 elements wrong; worst at index (0,): x = 0," in message
    assert "analytic 0, numeric 0.5" in message  # (1 - 0) / 2: the central difference
    assert "probable kink at x = 0: the slope from the left is 0, from the right 1" in message


def test_gradcheck_fails_on_a_wrong_gradient_of_a_layer_weight_passed_directly():
    """The false pass of the issue: the bias is the layer's own tensor, so perturbing it
    must change the layer's output (a copy of it would not)."""

    class AffineDoubledBiasGrad(Op):
        """out = x @ W + b, with db doubled on purpose."""

        def forward(self, x, w, b):
            self.x, self.w = x, w
            return x @ w + b

        def backward(self, g):
            return g @ self.w.T, self.x.T @ g, 2 * g.sum(axis=0)

    class Affine(minidl.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight((input_shape[-1], 2), "glorot_uniform", "kernel")
            self.bias = self.add_weight((2,), "ones", "bias")

        def call(self, inputs, training=False):
            return AffineDoubledBiasGrad.apply(inputs, self.kernel, self.bias)

    minidl.config.set_floatx("float64")
    layer = Affine()
    x = tensor64((4, 3))
    layer(x)  # build
    layer.kernel.grad = np.full((3, 2), 7.0)  # a gradient from "before": must survive
    kernel, bias = layer.kernel.data.copy(), layer.bias.data.copy()
    with pytest.raises(AssertionError) as info:
        gradcheck(lambda t, b: layer(t), [x, layer.bias])
    message = str(info.value)
    assert "wrong gradients for 1 of 2 differentiated inputs" in message
    assert "input 1 (shape (2,)): 2 of 2 elements wrong" in message
    # Weights and gradients exactly as before, the kernel's (not an input) included.
    np.testing.assert_array_equal(layer.kernel.data, kernel)
    np.testing.assert_array_equal(layer.bias.data, bias)
    np.testing.assert_array_equal(layer.kernel.grad, np.full((3, 2), 7.0))
    assert layer.bias.grad is None and x.grad is None
    # The kernel's gradient is right, and checked through the layer the same way.
    assert gradcheck(lambda t, w: layer(t), [x, layer.kernel])


def test_gradcheck_refuses_a_function_that_is_not_deterministic():
    rng = np.random.default_rng(0)
    x = tensor64((3,))
    check_raises(ValueError, "not deterministic.*training=False", gradcheck,
                 lambda t: t * Tensor(rng.normal(size=3)), [x])  # fmt: skip


def test_gradcheck_output_weights_must_fit_the_output():
    x = tensor64((3,))
    check_raises(ShapeError, r"output_weights has shape \(2,\).*\(3,\)", gradcheck,
                 lambda t: t * 2, [x], output_weights=np.ones(2))  # fmt: skip
    assert gradcheck(lambda t: t * 2, [x], output_weights=np.array([1.0, -2.0, 3.0]))


def test_gradcheck_failure_in_pytest_is_a_few_lines(tmp_path):
    """A failing gradcheck in a user's pytest run: the test's own line and the report,
    without minidl's source (``__tracebackhide__``)."""
    test_file = tmp_path / "test_user_layer.py"
    test_file.write_text(textwrap.dedent('''
        import numpy as np
        from minidl import Op, Tensor
        from minidl.testing import gradcheck

        class Square(Op):
            def forward(self, x):
                self.x = x
                return x * x

            def backward(self, g):
                return (g * self.x,)  # the factor 2 forgotten

        def test_square():
            x = Tensor(np.array([0.5, -3.0, 1.0]), requires_grad=True)
            assert gradcheck(lambda t: Square.apply(t), [x])
    '''))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "test_square" in line and "___" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("===", "---")))
    failure = lines[start:end]
    assert "input 0 (shape (3,)): 3 of 3 elements wrong" in result.stdout
    assert "testing.py" not in "\n".join(failure)  # none of minidl's frames
    assert len(failure) <= 15, "\n".join(failure)


def test_gradcheck_refuses_float32_and_says_why():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    error = check_raises(DTypeError, r"float64.*input 0 has dtype float32", gradcheck,
                         lambda t: t * t, [x])  # fmt: skip
    assert "too noisy" in str(error) and "dtype='float64'" in str(error)
    assert isinstance(error, TypeError)


def test_gradcheck_leaves_the_callers_tensors_alone():
    x = tensor64((3,))
    before = x.data.copy()
    gradcheck(lambda t: (t * t).sum(), [x])
    assert x.grad is None
    np.testing.assert_array_equal(x.data, before)


def test_gradcheck_needs_something_to_differentiate():
    check_raises(ValueError, "no input to differentiate", gradcheck,
                 lambda t: t * 2, [Tensor(np.ones(2))])  # fmt: skip


# --------------------------------------------------------------------------------------
# assert_matches_torch
# --------------------------------------------------------------------------------------


X = np.random.default_rng(0).normal(size=(3, 4))
Y = np.random.default_rng(1).normal(size=(4,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assert_matches_torch_passes_a_correct_op(dtype):
    ours, theirs = assert_matches_torch(
        lambda x, y: ops.sigmoid(x * y).sum(axis=0),
        lambda x, y: torch.sigmoid(x * y).sum(0),
        [X.astype(dtype), Y.astype(dtype)],
    )
    assert ours.dtype == np.dtype(dtype) and ours.shape == theirs.shape == (4,)


@pytest.mark.parametrize(
    "minidl_fn, torch_fn, message",
    [
        (lambda x, y: x * y, lambda x, y: x * y + 1e-3, r"^forward: 12 of 12 elements differ"),
        (lambda x, y: (x * y).sum(axis=0), lambda x, y: x * y, r"^forward: shape differs"),
        (lambda x, y: (x * y).astype("float32"), lambda x, y: x * y, r"^forward: dtype"),
        (lambda x, y: ScaleSecondWrongly.apply(x, y), lambda x, y: x * y,
         r"^gradient of input 1: 4 of 4 elements differ"),
        (lambda x, y: SquareWithWrongBackward.apply(x) + y, lambda x, y: x * x + y,
         r"^gradient of input 0: .* worst at index \(\d, \d\)"),
    ],
    ids=["forward values", "shape", "dtype", "gradient of input 1", "gradient of input 0"],
)  # fmt: skip
def test_assert_matches_torch_names_the_failing_pass(minidl_fn, torch_fn, message):
    with pytest.raises(AssertionError, match=message):
        assert_matches_torch(minidl_fn, torch_fn, [X, Y])


class MulIgnoringIncomingGradient(Op):
    """out = a · b with da = b, db = a: right only when the incoming gradient is 1."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return self.b, self.a


def test_assert_matches_torch_catches_a_backward_that_ignores_its_gradient():
    # The sum pass seeds g = 1 and cannot see it; the weighted pass does.
    with pytest.raises(AssertionError, match=r"^gradient of input 0 \(weighted\)"):
        assert_matches_torch(
            lambda x, y: MulIgnoringIncomingGradient.apply(x, y), lambda x, y: x * y, [X, 2 * X]
        )


def test_assert_matches_torch_tolerance_scales_with_the_largest_value():
    # scale = max(1, max|e|) = 1000, so atol 1e-5 allows 1e-2 next to a value of 1000.
    def ours(error):
        return lambda x: x * 0 + Tensor(np.array([1000.0, error]))

    def theirs(x):
        return x * 0 + torch.tensor([1000.0, 0.0], dtype=torch.float64)

    x = np.ones(2)
    assert_matches_torch(ours(5e-3), theirs, [x], atol=1e-5)
    with pytest.raises(AssertionError, match=r"worst at index \(1,\)"):
        assert_matches_torch(ours(5e-2), theirs, [x], atol=1e-5)


def test_assert_matches_torch_catches_a_missing_graph():
    def detached(x):
        return Tensor(x.data * 2)  # right values, but no gradient recorded

    with pytest.raises(AssertionError, match="does not require grad"):
        assert_matches_torch(detached, lambda x: x * 2, [X])


def test_assert_matches_torch_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    check_raises(ImportError, "pip install torch", assert_matches_torch,
                 lambda x: x, lambda x: x, [X])  # fmt: skip


def test_check_raises_rejects_a_wrong_message():
    def fail():
        raise ValueError("units must be positive, got -3")

    check_raises(ValueError, r"units.*-3", fail)
    with pytest.raises(AssertionError, match="does not match"):
        check_raises(ValueError, "batch_size", fail)


def test_assert_matches_torch_reports_every_failing_input_with_plain_numbers():
    def ours(a, b, c):
        return ThreeInputsTwoWrong.apply(a, b, c)

    def theirs(a, b, c):
        return a * b + c

    arrays = [np.random.default_rng(s).normal(size=(2, 3)) for s in range(3)]
    with pytest.raises(AssertionError) as info:
        assert_matches_torch(ours, theirs, arrays)
    lines = str(info.value).splitlines()
    # Inputs 0 and 2 are wrong in the plain-sum pass already; each is reported once.
    assert [line.split(":")[0] for line in lines] == ["gradient of input 0",
                                                      "gradient of input 2"]
    assert "np.float64" not in str(info.value)
    # dL/dc is 2 instead of torch's 1 for the plain sum, at every element.
    assert re.search(r"input 2: 6 of 6 elements differ .*: minidl 2 vs torch 1$", lines[1])


def test_check_op_runs_gradcheck_and_the_torch_comparison():
    assert check_op(ops.elementwise.Tanh, (3, 4)) == {"gradcheck": True, "torch": None}
    result = check_op(ops.elementwise.LeakyReLU, (3, 4), settings={"negative_slope": 0.1},
                      torch_fn=lambda t: torch.nn.functional.leaky_relu(t, 0.1))
    assert result == {"gradcheck": True, "torch": True}
    # A plain function of tensors works too, and a wrong op fails with the gradcheck report.
    assert check_op(lambda a, b: a @ b, (2, 3), (3, 2))["gradcheck"]
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(4,\)\): 4 of 4"):
        check_op(SquareWithWrongBackward, (4,), low=0.5, high=2.0)


def test_check_op_without_torch_still_gradchecks(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert check_op(ops.elementwise.Exp, (3,), torch_fn=lambda t: t.exp()) == {
        "gradcheck": True, "torch": None}
