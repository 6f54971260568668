"""Test your own layer: a custom op with a hand-written backward, a layer that uses it, and
the pytest tests that prove its gradients (one of them catching a bug on purpose).

The layer is a gated dense layer, out = (x·W + b) ⊙ σ(x·V + c), with the gate written as
one op, ``Gate``, whose backward is worked out by hand:

    out = a ⊙ s,  s = σ(z)           da = g ⊙ s,   dz = g ⊙ a ⊙ s ⊙ (1 − s)

``BrokenGate`` has the classic slip (the factor (1 − s) forgotten). The tests below are
ordinary pytest functions; this script runs them and prints what they report, including
the report of the broken gate (which the check catches, as it must):

Run:  python examples/09_test_your_own_layer.py [--quick]
      python -m pytest examples/09_test_your_own_layer.py      (the same tests, in pytest)
"""

import argparse
import sys

import numpy as np

import minidl
from minidl import Op, Tensor
from minidl.layers import Layer
from minidl.testing import check_op, gradcheck

SHAPES = {"batch": 4, "features": 5, "units": 3}  # --quick makes them smaller


# ---- the op and the layer --------------------------------------------------------------


class Gate(Op):
    """out = a ⊙ σ(z).   da = g ⊙ σ(z),   dz = g ⊙ a ⊙ σ(z) ⊙ (1 − σ(z))."""

    def forward(self, a, z):
        s = 1.0 / (1.0 + np.exp(-z))
        self.a, self.s = a, s  # what backward needs
        return a * s

    def backward(self, g):
        return g * self.s, g * self.a * self.s * (1.0 - self.s)


class BrokenGate(Gate):
    """The same forward; backward forgets the factor (1 − σ(z)) of the sigmoid's slope."""

    def backward(self, g):
        return g * self.s, g * self.a * self.s


class GatedDense(Layer):
    """out = (x·W + b) ⊙ σ(x·V + c): a dense layer whose outputs are gated by another."""

    def __init__(self, units, gate=Gate, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gate = units, gate

    def build(self, input_shape):
        n = input_shape[-1]
        self.kernel = self.add_weight((n, self.units), "glorot_uniform", "kernel")
        self.bias = self.add_weight((self.units,), "zeros", "bias")
        self.gate_kernel = self.add_weight((n, self.units), "glorot_uniform", "gate_kernel")
        self.gate_bias = self.add_weight((self.units,), "zeros", "gate_bias")

    def call(self, inputs, training=False):
        values = inputs @ self.kernel + self.bias
        gates = inputs @ self.gate_kernel + self.gate_bias
        return self.gate.apply(values, gates)


# ---- the tests (pytest collects the test_ functions of this file) ----------------------


def make_layer(gate=Gate):
    """A float64 layer (finite differences need float64) and a batch of inputs."""
    minidl.config.set_floatx("float64")
    minidl.utils.set_random_seed(0)
    layer = GatedDense(SHAPES["units"], gate=gate)
    x = Tensor(np.random.default_rng(1).normal(size=(SHAPES["batch"], SHAPES["features"])),
               requires_grad=True)
    layer(x)  # builds the weights
    return layer, x


def test_gate_op():
    # Random inputs of two shapes: gradcheck, and the same op in PyTorch if it is installed.
    result = check_op(Gate, (SHAPES["batch"], SHAPES["units"]),
                      (SHAPES["batch"], SHAPES["units"]),
                      torch_fn=lambda a, z: a * z.sigmoid())  # fmt: skip
    assert result["gradcheck"]


def test_gated_dense_gradients():
    layer, x = make_layer()
    # The layer's own weights are passed: gradcheck moves each of their elements in place,
    # so the layer really computes with the perturbed values (and gets them back after).
    assert gradcheck(lambda x, *weights: layer(x), [x, *layer.weights])


def broken_gate_report():
    """gradcheck's report on the layer with ``BrokenGate`` (it must fail)."""
    layer, x = make_layer(BrokenGate)
    try:
        gradcheck(lambda x, *weights: layer(x), [x, *layer.weights])
    except AssertionError as error:
        report = str(error)
    else:
        raise AssertionError("gradcheck passed a backward that is wrong")
    return report


def test_broken_gate_is_caught():
    report = broken_gate_report()
    # The inputs whose gradients flow through the wrong dz: x, V and c (inputs 0, 3, 4);
    # W and b (inputs 1, 2) only go through da, which is right.
    for i in (0, 3, 4):
        assert f"input {i} (" in report
    for i in (1, 2):
        assert f"input {i} (" not in report


# ---- run as a script -------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes")
    args = parser.parse_args(argv)
    if args.quick:
        SHAPES.update(batch=2, features=3, units=2)

    for test in (test_gate_op, test_gated_dense_gradients):
        test()
        print(f"{test.__name__}: ok")
    test_broken_gate_is_caught()
    print("test_broken_gate_is_caught: ok; gradcheck's report on BrokenGate was:\n")
    print(broken_gate_report())
    print("\nAll checks behaved: the right gradients pass, the wrong one is named.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
