"""Autograd by hand: build a few expressions, call backward(), and check every gradient twice.

1. A scalar expression (micrograd's classic): the chain rule worked out on paper, and the
   graph that backward() walked, printed and drawn (``minidl.utils.plot_graph``: an SVG
   that opens in any browser, with each leaf's gradient).
2. One neuron, out = tanh(w·x + b), with a squared error: the gradient written out
   step by step, the way backward() computes it.
3. A small two-layer network with a softmax cross-entropy: too long to do by hand, so
   the check is ``minidl.testing.gradcheck`` (central finite differences in float64).

Every gradient is also checked with ``gradcheck``; the script exits with status 1 if any
check fails.

Run:  python examples/01_autograd_by_hand.py            (a larger network for step 3)
      python examples/01_autograd_by_hand.py --quick    (seconds)
      ... --graph my_graph.svg                         (where to draw the graph of step 1;
                                                        default autograd_by_hand.svg)
"""

import argparse
import sys

import numpy as np

from minidl import Tensor, ops
from minidl.testing import gradcheck
from minidl.utils import plot_graph


def check(name, ours, expected):
    """Print a gradient next to the hand-computed one and say whether they agree."""
    ok = np.allclose(ours, expected, rtol=1e-10, atol=1e-12)
    print(f"  {name:<8} minidl {np.array2string(np.asarray(ours), precision=6):<32} "
          f"by hand {np.array2string(np.asarray(expected), precision=6):<32} "
          f"{'ok' if ok else 'MISMATCH'}")  # fmt: skip
    return ok


def print_graph(root):
    """Each op of the graph ending at ``root``, inputs first: ``a, b -> Mul -> e``."""
    lines, seen, stack = [], set(), [root]
    while stack:  # depth-first from the output; printed in reverse (inputs first)
        t = stack.pop()
        if id(t) in seen or t.op is None:
            continue
        seen.add(id(t))
        inputs = ", ".join(x.name or "?" for x in t.op.inputs)
        lines.append(f"    {inputs} -> {type(t.op).__name__} -> {t.name}")
        stack.extend(t.op.inputs)
    print("\n".join(reversed(lines)))


def scalar_expression(graph_path):
    """L = (a·b + c) · f.   dL/da = f·b, dL/db = f·a, dL/dc = f, dL/df = a·b + c."""
    print("1. L = (a*b + c) * f  with a=2, b=-3, c=10, f=-2")
    a, b, c, f = (Tensor(np.float64(v), requires_grad=True, name=name)
                  for v, name in ((2.0, "a"), (-3.0, "b"), (10.0, "c"), (-2.0, "f")))
    e = a * b  # each op records itself; e.op is a Mul
    d = e + c
    loss = d * f
    e.name, d.name, loss.name = "e", "d", "L"
    # backward walks Mul <- Add <- Mul, applying the chain rule; retain_graph keeps the
    # graph (and its saved values) so that it can be drawn afterwards.
    loss.backward(retain_graph=True)
    print(f"  L = {loss.item():g}; the graph backward() walked (from the leaves to L):")
    print_graph(loss)
    plot_graph(loss, graph_path, title="L = (a*b + c) * f, after backward()")
    print(f"  drawn in {graph_path} (each leaf with |grad|, the size of its gradient)")
    results = [
        check("dL/da", a.grad, f.data * b.data),  # L = (ab + c)f: ∂/∂a = f·b = 6
        check("dL/db", b.grad, f.data * a.data),  # -4
        check("dL/dc", c.grad, f.data),  # -2
        check("dL/df", f.grad, a.data * b.data + c.data),  # 4
    ]
    results.append(gradcheck(lambda a, b, c, f: (a * b + c) * f, [a, b, c, f]))
    print("  gradcheck (finite differences): ok")
    return all(results)


def neuron():
    """out = tanh(z), z = w·x + b, L = (out - t)².

    Backward, one step at a time (what each op's ``backward`` does):
        dL/dout = 2(out - t)                (Pow, then Sub)
        dL/dz   = dL/dout · (1 - out²)      (Tanh)
        dL/dw   = dL/dz · x,  dL/db = dL/dz (MatMul and Add; x is a constant here)
    """
    print("2. one neuron: L = (tanh(w.x + b) - t)^2")
    x = np.array([0.5, -1.5, 2.0])
    t = 0.25
    w = Tensor(np.array([0.1, 0.4, -0.3]), requires_grad=True)
    b = Tensor(np.float64(0.2), requires_grad=True)

    out = ops.tanh(w @ x + b)
    loss = (out - t) ** 2
    loss.backward()

    # The same chain rule, by hand, on plain NumPy numbers.
    z = w.data @ x + b.data
    o = np.tanh(z)
    dl_do = 2 * (o - t)
    dl_dz = dl_do * (1 - o**2)
    print(f"  L = {loss.item():.6f}")
    results = [check("dL/dw", w.grad, dl_dz * x), check("dL/db", b.grad, dl_dz)]
    results.append(gradcheck(lambda w, b: (ops.tanh(w @ x + b) - t) ** 2, [w, b]))
    print("  gradcheck (finite differences): ok")
    return all(results)


def small_network(batch, hidden):
    """A 2-layer network with softmax cross-entropy, checked by finite differences."""
    print(f"3. two-layer network, batch {batch}, hidden {hidden}: gradcheck only")
    rng = np.random.default_rng(0)
    features, classes = 4, 3
    x = rng.normal(size=(batch, features))
    y = rng.integers(0, classes, size=batch)
    params = [
        Tensor(rng.normal(size=(features, hidden)) * 0.5, requires_grad=True),
        Tensor(np.zeros(hidden), requires_grad=True),
        Tensor(rng.normal(size=(hidden, classes)) * 0.5, requires_grad=True),
        Tensor(np.zeros(classes), requires_grad=True),
    ]

    def loss_fn(w1, b1, w2, b2):
        # gelu rather than relu: finite differences need a function that is smooth at the
        # points they probe (relu has a kink at 0).
        h = ops.gelu(x @ w1 + b1)
        return ops.softmax_cross_entropy(h @ w2 + b2, y)

    loss = loss_fn(*params)
    loss.backward()
    print(f"  loss = {loss.item():.6f}; gradient shapes "
          f"{[tuple(p.grad.shape) for p in params]}")  # fmt: skip
    ok = gradcheck(loss_fn, params)
    print("  gradcheck (finite differences): ok")
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller network in step 3")
    parser.add_argument("--graph", default="autograd_by_hand.svg",
                        help="where to draw the graph of step 1 (.svg, .dot or .png)")
    args = parser.parse_args(argv)

    try:
        results = [
            scalar_expression(args.graph),
            neuron(),
            small_network(batch=3, hidden=4) if args.quick else small_network(8, 16),
        ]
    except AssertionError as error:  # gradcheck reports the worst element
        print(f"FAILED: {error}")
        return 1
    if not all(results):
        print("FAILED: a gradient differs from its hand computation")
        return 1
    print("All gradients agree with the hand computations and with finite differences.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
