"""Gradient checks for your own ops and models.

Two independent references for the gradients minidl computes:

- ``gradcheck``: central finite differences, in float64. Needs nothing but NumPy.
- ``assert_matches_torch``: the same function written with PyTorch (when it is installed);
  forward values and gradients must agree.

- ``check_op``: both in one call, on random inputs of given shapes.

Both are what minidl's own test suite uses on every op, so a new op (or a layer's weights)
can be held to the same standard with a two-line test::

    from minidl.testing import gradcheck
    x = minidl.Tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    assert gradcheck(lambda t: my_op(t), [x])

A failure raises ``AssertionError`` with a report that names every input with a wrong
gradient; the frames of this module are hidden from pytest (``__tracebackhide__``), so a
failing test prints its own line and the report, not this file's source.
"""

import numpy as np

from minidl.errors import DTypeError, ShapeError
from minidl.tensor import Tensor, _topological_order, no_grad

# Default tolerances of ``assert_matches_torch``, per dtype: (rtol, atol) for forward values
# and for gradients. A gradient in float32 goes through more rounding steps than the value,
# hence its looser rtol.
_TOLERANCES = {
    np.dtype("float64"): {"forward": (1e-7, 1e-9), "grad": (1e-7, 1e-9)},
    np.dtype("float32"): {"forward": (1e-5, 1e-5), "grad": (1e-4, 1e-5)},
}


# --------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------


def _checked_inputs(inputs):
    """The tensors ``fn`` is called with, and the indices of those to differentiate.

    A Tensor is used as it is: the very object the caller passed (a layer's own weight stays
    the weight the layer uses), so perturbing its array changes what ``fn`` computes. A
    tensor made by an op is replaced by a leaf sharing its array. Other inputs (arrays,
    numbers) become new tensors; float ones are differentiated.
    """
    tensors, wrt = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            tensor = x if x._op is None else Tensor(x.data, requires_grad=x.requires_grad)
        else:
            array = np.array(x)  # a copy: the caller's array is never written to
            tensor = Tensor(array, requires_grad=array.dtype.kind == "f")
        if tensor.requires_grad:
            if tensor.dtype != np.float64:
                raise DTypeError(
                    f"gradcheck needs float64 inputs, but input {i} has dtype {tensor.dtype}: "
                    "finite differences in float32 are too noisy to tell a wrong gradient from "
                    "rounding error (a step of 1e-6 is below float32's resolution). Pass "
                    "Tensor(x, dtype='float64', requires_grad=True) instead, or call "
                    "minidl.config.set_floatx('float64') before building a layer to check."
                )
            wrt.append(i)
        tensors.append(tensor)
    return tensors, wrt


def _graph_leaves(out):
    """Every leaf tensor that requires grad in the graph ending at ``out``."""
    if out._op is None:
        return [out] if out.requires_grad else []
    leaves, seen = [], set()
    for node in _topological_order(out):
        for t in node._op.inputs or ():
            if t._op is None and t.requires_grad and id(t) not in seen:
                seen.add(id(t))
                leaves.append(t)
    return leaves


def _output_weights(out, output_weights):
    """The weights ``w`` of ``L = Σ w · out`` and the sentence that explains them."""
    if out.size == 1:
        return np.ones(out.shape), "of fn's scalar output"
    if isinstance(output_weights, str) and output_weights == "sum":
        return np.ones(out.shape), "of L = sum(fn(inputs)) (output_weights='sum')"
    if isinstance(output_weights, str) and output_weights == "random":
        weights = np.random.default_rng(0).normal(size=out.shape)
        return weights, (
            "of L = sum(w * fn(inputs)), w fixed random weights (seed 0) so that every "
            "output element counts with its own weight; output_weights='sum' uses w = 1"
        )
    weights = np.asarray(output_weights, dtype=np.float64)
    if weights.shape != tuple(out.shape):
        raise ShapeError(
            f"gradcheck: output_weights has shape {weights.shape} but fn's output has shape "
            f"{tuple(out.shape)}; pass 'random', 'sum' or an array of the output's shape"
        )
    return weights, "of L = sum(w * fn(inputs)) with the output_weights given"


def _is_kink(left, right, atol):
    """True when the one-sided slopes differ by more than half their size (and more than
    ``atol``): a corner (ReLU at 0, |x| at 0, a max at a tie), not mere curvature, which
    moves them apart only by about f''·eps."""
    gap = abs(right - left)
    return gap > atol and gap > 0.5 * max(abs(left), abs(right))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, output_weights="random"):
    """Check minidl's gradients of ``fn`` against central finite differences.

    ``fn`` is called with the very tensors in ``inputs``: each element of each
    differentiated input is moved in place by ``±eps`` (and put back), so a layer's own
    weight can be passed and checked, ``gradcheck(lambda x, b: layer(x), [x, layer.bias])``.
    A non-scalar output ``y`` is reduced to ``L = Σ w · y`` with fixed random weights ``w``
    (seed 0), so every output element is checked at once, each with its own weight (a plain
    sum would hide a wrong gradient of ``softmax``, whose outputs always sum to 1). For each
    input element ``x_j`` the numeric derivative is

        (L(x + eps·e_j) - L(x - eps·e_j)) / (2·eps)       (error O(eps²))

    and it must agree with the analytic one from ``backward()``:
    ``|analytic - numeric| <= atol + rtol · |numeric|``.

    Every input is checked. The report lists each input with a wrong gradient: how many of
    its elements are wrong, and the worst one (index, the value of ``x`` there, analytic
    and numeric derivatives). Where the two one-sided slopes disagree, ``x`` sits on a kink
    (ReLU at 0), where no finite difference can judge a gradient: the report says so.

    ``fn`` must be deterministic (no dropout in training mode).

    Args:
        fn: a function of tensors returning a Tensor.
        inputs: a list of Tensors or arrays. Tensors with ``requires_grad=True`` and float
            arrays are differentiated; other tensors and integer arrays are constants.
            The tensors' values and ``.grad`` (and those of every other weight in ``fn``'s
            graph) are as before when gradcheck returns or raises.
        eps: the finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        output_weights: ``"random"`` (default), ``"sum"`` (w = 1) or an array of the
            output's shape: the weights of ``L = Σ w · y``. Ignored for a scalar output.

    Returns:
        True when every gradient element agrees.

    Raises:
        DTypeError: a differentiated input is not float64.
        ValueError: nothing to differentiate, or ``fn`` is not deterministic.
        TypeError: ``fn`` does not return a Tensor.
        AssertionError: some gradient elements disagree; the message names every input
            with a wrong gradient and its worst element.

    >>> import numpy as np
    >>> from minidl import Tensor
    >>> x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    >>> gradcheck(lambda t: (t * t).tanh(), [x])
    True
    """
    __tracebackhide__ = True  # pytest shows the test's line and the report, not our frames
    tensors, wrt = _checked_inputs(inputs)
    if not wrt:
        raise ValueError(
            "gradcheck got no input to differentiate: pass float64 arrays or Tensors created "
            "with requires_grad=True"
        )

    out = fn(*tensors)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    weights, explained = _output_weights(out, output_weights)

    def scalar_loss():
        with no_grad():
            return float((np.asarray(fn(*tensors).data, dtype=np.float64) * weights).sum())

    # Analytic gradients: backward of L = Σ out · w is backward(grad=w). It accumulates into
    # every leaf of the graph (a layer's other weights too), so their .grad is saved first
    # and put back afterwards.
    leaves = {id(t): t for t in _graph_leaves(out)}
    leaves.update((id(tensors[i]), tensors[i]) for i in wrt)
    saved = [(t, t.grad) for t in leaves.values()]
    try:
        for t, _ in saved:
            t.grad = None
        if out.requires_grad:
            out.backward(grad=weights.astype(out.dtype))
        analytic = {
            i: np.zeros(tensors[i].shape) if tensors[i].grad is None else tensors[i].grad
            for i in wrt
        }
    finally:
        for t, grad in saved:
            t.grad = grad

    center = scalar_loss()
    first = float((np.asarray(out.data, dtype=np.float64) * weights).sum())
    if not abs(center - first) <= 1e-10 * max(1.0, abs(first)):
        raise ValueError(
            f"gradcheck: fn is not deterministic: two calls on the same inputs gave "
            f"{first:.10g} and {center:.10g}. Finite differences need the same result for "
            "the same input: call layers with training=False (no dropout), or fix the seed "
            "inside fn"
        )

    reports = []
    for i in wrt:
        data = tensors[i].data
        wrong, worst = 0, None
        for j in np.ndindex(data.shape):
            original = data[j]
            try:
                data[j] = original + eps
                plus = scalar_loss()
                data[j] = original - eps
                minus = scalar_loss()
            finally:
                data[j] = original  # the exact value back: fn's tensors end as they began
            numeric = (plus - minus) / (2 * eps)
            a = float(analytic[i][j])
            if a == numeric:
                continue
            excess = abs(a - numeric) - (atol + rtol * abs(numeric))
            if not excess <= 0:  # also true for NaN
                wrong += 1
                excess = np.inf if np.isnan(excess) else excess
                if worst is None or excess > worst[0]:
                    worst = (excess, j, float(original), a, numeric, plus, minus)
        if wrong:
            reports.append(_input_report(i, data.shape, wrong, worst, center, eps, atol))

    if reports:
        raise AssertionError(
            f"gradcheck: wrong gradients for {len(reports)} of {len(wrt)} differentiated "
            f"inputs\n  (derivatives {explained};\n  an element is wrong when "
            f"|analytic - numeric| > atol {atol:g} + rtol {rtol:g} * |numeric|)\n"
            + "\n".join(reports)
        )
    return True


def _input_report(i, shape, wrong, worst, center, eps, atol):
    """One input's lines of the gradcheck report: its worst element, and a kink flag."""
    _, j, x, a, numeric, plus, minus = worst
    text = (
        f"  input {i} (shape {tuple(shape)}): {wrong} of {int(np.prod(shape))} elements "
        f"wrong; worst at index {j}: x = {x:.10g}, analytic {a:.10g}, numeric {numeric:.10g}"
    )
    left, right = (center - minus) / eps, (plus - center) / eps
    if _is_kink(left, right, atol):
        text += (
            f"\n    probable kink at x = {x:.10g}: the slope from the left is {left:.6g}, "
            f"from the right {right:.6g}; finite differences cannot judge a gradient there "
            "(ReLU at 0, |x| at 0, a max at a tie): move the input away from it"
        )
    return text


# --------------------------------------------------------------------------------------
# PyTorch comparison
# --------------------------------------------------------------------------------------


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(
            "assert_matches_torch needs PyTorch, which is not installed: "
            "pip install torch (or pip install 'minidl[test]'); gradcheck needs only NumPy"
        ) from None
    return torch


def _check_close(actual, expected, rtol, atol, what):
    """The failure line of ``|a - e| <= atol·scale + rtol·|e|`` elementwise, or None.

    ``scale = max(1, max|e|)`` makes ``atol`` relative to the size of the whole result, so an
    element that is tiny only by cancellation next to large ones is not held to an absolute
    1e-9. NaN and Inf must appear at the same positions in both.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    finite = np.isfinite(expected)
    same_nonfinite = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    scale = max(1.0, float(np.abs(expected[finite]).max())) if finite.any() else 1.0
    with np.errstate(invalid="ignore"):
        ok = np.where(
            finite, np.abs(actual - expected) <= atol * scale + rtol * np.abs(expected),
            same_nonfinite,
        )
    if ok.all():
        return None
    with np.errstate(invalid="ignore"):
        err = np.where(ok, -1.0, np.where(finite, np.abs(actual - expected), np.inf))
    worst = tuple(int(v) for v in np.unravel_index(int(np.argmax(err)), ok.shape))
    # Plain numbers (float(), not repr): "1.5", never "np.float64(1.5)".
    return (
        f"{what}: {int((~ok).sum())} of {ok.size} elements differ (rtol {rtol:g}, "
        f"atol {atol:g} x scale {scale:.3g}); worst at index {worst}: minidl "
        f"{float(actual[worst]):.10g} vs torch {float(expected[worst]):.10g}"
    )


def _check_array(actual, expected, rtol, atol, what):
    """The failure line for shape, then dtype, then values (exact for integer and boolean
    results), or None when they agree."""
    if actual.shape != expected.shape:
        return (f"{what}: shape differs: minidl {tuple(actual.shape)} vs torch "
                f"{tuple(expected.shape)}")
    if actual.dtype != expected.dtype:
        return f"{what}: dtype differs: minidl {actual.dtype} vs torch {expected.dtype}"
    if expected.dtype.kind == "f":
        return _check_close(actual, expected, rtol, atol, what)
    if not np.array_equal(actual, expected):
        wrong = np.argwhere(np.asarray(actual) != np.asarray(expected))
        j = tuple(int(v) for v in wrong[0]) if len(wrong) else ()
        return (f"{what}: {len(wrong)} of {expected.size} values differ; first at index {j}: "
                f"minidl {np.asarray(actual)[j].item()} vs torch {expected[j].item()}")
    return None


def _fail(lines):
    """Raise one AssertionError listing every failure, first one first."""
    __tracebackhide__ = True
    if lines:
        raise AssertionError("\n".join(lines))


def assert_matches_torch(
    minidl_fn, torch_fn, inputs, rtol=None, atol=None, grad_rtol=None, grad_atol=None,
    nondiff=(), forward_only=False,
):
    """Check a minidl function against the same function written with PyTorch.

    The same input values go to both. The checks: the output's shape, its dtype, its
    values, then the gradient of ``fn(*inputs).sum()`` with respect to each float input (via
    ``torch.autograd.grad``), then the gradient of ``(fn(*inputs) · w).sum()`` for fixed
    random weights ``w`` (which catches a backward that ignores the gradient it is given).
    Every failing check is reported, one line each (the first line is the first failure),
    with plain numbers: how many elements differ, the worst index, both values.

    Values pass when ``|a - e| <= atol · max(1, max|e|) + rtol · |e|`` elementwise.

    Args:
        minidl_fn: a function of minidl Tensors returning a Tensor.
        torch_fn: the same function of torch tensors.
        inputs: a list of NumPy arrays (or Tensors). Float arrays are differentiated
            unless their index is in ``nondiff``; integer and boolean arrays (labels,
            indices, masks) are passed as they are and never differentiated.
        rtol, atol: forward tolerances; default by dtype (float64: 1e-7 and 1e-9,
            float32: 1e-5 and 1e-5).
        grad_rtol, grad_atol: gradient tolerances; default by dtype (float64: 1e-7 and
            1e-9, float32: 1e-4 and 1e-5).
        nondiff: indices of float inputs that are constants (e.g. target probabilities).
        forward_only: compare forward values only.

    Returns:
        ``(minidl_output, torch_output)`` as NumPy arrays.

    Raises:
        ImportError: PyTorch is not installed.
        AssertionError: mismatches, one line per failing check (shape, dtype, forward,
            gradient of input i), each naming the worst element.

    >>> import numpy as np, torch
    >>> from minidl import Tensor
    >>> x = np.array([[0.5, -1.0], [2.0, 0.25]])
    >>> _ = assert_matches_torch(lambda t: t.tanh() * t, lambda t: t.tanh() * t, [x])
    """
    __tracebackhide__ = True
    torch = _import_torch()
    arrays = [x.to_numpy() if isinstance(x, Tensor) else np.asarray(x) for x in inputs]
    wrt = [
        i for i, a in enumerate(arrays)
        if a.dtype.kind == "f" and i not in nondiff and not forward_only
    ]  # fmt: skip

    ours = [Tensor(a.copy(), requires_grad=i in wrt) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a.copy(), requires_grad=i in wrt) for i, a in enumerate(arrays)]
    out = minidl_fn(*ours)
    ref = torch_fn(*theirs)
    if not isinstance(out, Tensor):
        raise AssertionError(f"forward: minidl_fn returned {type(out).__name__}, not a Tensor")
    ref_array = ref.detach().numpy()

    dtype = ref_array.dtype if ref_array.dtype.kind == "f" else np.dtype("float32")
    tolerances = _TOLERANCES.get(dtype, _TOLERANCES[np.dtype("float32")])
    f_rtol, f_atol = tolerances["forward"]
    g_rtol, g_atol = tolerances["grad"]
    rtol = f_rtol if rtol is None else rtol
    atol = f_atol if atol is None else atol
    grad_rtol = g_rtol if grad_rtol is None else grad_rtol
    grad_atol = g_atol if grad_atol is None else grad_atol

    out_array = out.to_numpy()
    forward = _check_array(np.asarray(out_array), ref_array, rtol, atol, "forward")
    if forward is not None and ("shape differs" in forward or "dtype differs" in forward):
        _fail([forward])  # without the right shape and dtype, gradients cannot be compared
    failures = [forward] if forward is not None else []
    if not wrt or not ref.requires_grad:
        if out.requires_grad and not forward_only and wrt:
            failures.append("gradient: the torch output needs no gradient, minidl's does")
        _fail(failures)
        return out_array, ref_array
    if not out.requires_grad:
        failures.append(
            "gradient: minidl's output does not require grad (the op recorded no graph), "
            "but torch's does"
        )
        _fail(failures)

    # Two backward passes. The sum seeds every output with 1; random weights w then check
    # that each op really multiplies by the gradient it receives (with g = 1, a backward
    # that ignored g would still pass). An input already wrong in the first pass is not
    # reported again in the second.
    weights = np.random.default_rng(0).normal(size=ref_array.shape).astype(ref_array.dtype)
    passes = [
        ("", lambda: out.sum().backward(retain_graph=True), ref.sum(), None),
        (" (weighted)", lambda: out.backward(weights), ref, torch.from_numpy(weights)),
    ]
    wrong_inputs = set()
    for label, run_backward, torch_out, torch_seed in passes:
        for t in ours:
            t.zero_grad()
        run_backward()
        expected = torch.autograd.grad(
            torch_out, [theirs[i] for i in wrt], torch_seed, retain_graph=True,
            allow_unused=True,
        )  # fmt: skip
        for i, e in zip(wrt, expected):
            e = np.zeros_like(arrays[i]) if e is None else e.numpy()
            g = ours[i].grad
            if g is None:
                g = np.zeros_like(arrays[i])
            line = _check_array(np.asarray(g), e, grad_rtol, grad_atol,
                                f"gradient of input {i}{label}")
            if line is not None and i not in wrong_inputs:
                wrong_inputs.add(i)
                failures.append(line)
    _fail(failures)
    return out_array, ref_array


# --------------------------------------------------------------------------------------
# Both checks in one call
# --------------------------------------------------------------------------------------


def check_op(op, *shapes, settings=None, torch_fn=None, low=-2.0, high=2.0, seed=0):
    """Gradient-check an op on random inputs; with ``torch_fn``, compare it with PyTorch too.

    One call for a new op's test: random float64 inputs of the given shapes (uniform in
    ``[low, high)``, seeded) go to ``gradcheck``; when ``torch_fn`` is given and PyTorch is
    installed, ``assert_matches_torch`` then compares values and gradients in float64 and
    in float32.

    Args:
        op: an ``Op`` subclass (applied as ``op.apply(*tensors, **settings)``) or any
            function of tensors returning a Tensor.
        *shapes: one shape per input, e.g. ``(3, 4), (4,)``.
        settings: keyword arguments of the op (``{"axis": 0}``).
        torch_fn: the same function of torch tensors; skipped when torch is not installed.
        low, high: the range of the random inputs (keep them off kinks: ``low=0.1`` for an
            op defined for positive inputs).
        seed: the seed of the inputs.

    Returns:
        A dict: ``{"gradcheck": True, "torch": True}`` (``"torch"`` is ``None`` when no
        comparison ran).

    Raises:
        AssertionError: a gradient or value disagrees (the report of the failing check).

    >>> from minidl import ops
    >>> check_op(ops.elementwise.Tanh, (2, 3))
    {'gradcheck': True, 'torch': None}
    """
    __tracebackhide__ = True
    from minidl.tensor import Op

    settings = dict(settings or {})
    if isinstance(op, type) and issubclass(op, Op):
        def fn(*tensors):
            return op.apply(*tensors, **settings)
    elif callable(op):
        def fn(*tensors):
            return op(*tensors, **settings)
    else:
        raise TypeError(f"check_op: op must be an Op subclass or a function, got {op!r}")
    if not shapes:
        raise ValueError("check_op needs at least one input shape, e.g. check_op(MyOp, (3, 4))")
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(low, high, size=tuple(shape)) for shape in shapes]
    result = {"gradcheck": gradcheck(fn, [Tensor(a, requires_grad=True) for a in arrays])}
    result["torch"] = None
    if torch_fn is not None:
        try:
            _import_torch()
        except ImportError:
            return result
        for dtype in ("float64", "float32"):
            assert_matches_torch(fn, torch_fn, [a.astype(dtype) for a in arrays])
        result["torch"] = True
    return result


__all__ = ["gradcheck", "assert_matches_torch", "check_op"]
