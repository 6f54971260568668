"""CUDA kernels for the GPU hot spots, each beside the host twin it is tested against.

On a GPU every op already runs through CuPy (``xp = cupy``), one NumPy-like call per step.
Where the CPU side fuses several passes into one Numba kernel, the GPU side gets one CUDA
kernel: bias + ReLU, ReLU backward, softmax-cross-entropy forward and backward for integer
labels, dropout mask + scale, and the SGD-momentum and Adam updates.

Three layers, so that most of this file is checked without a GPU:

1. ``source(dtype)``: the CUDA C of every kernel for ``float`` or ``double``, as one string.
   The tests compile it to PTX with ``nvcc --ptx`` and check each kernel's entry point.
   They are ``RawModule`` kernels (complete CUDA C, not ``ElementwiseKernel`` fragments), so
   the text that ``nvcc`` compiles is exactly the text CuPy hands to NVRTC.
2. ``*_host(...)``: a NumPy twin of each kernel that walks the same grid-stride loop, thread
   by thread, over the same indices with the same arithmetic. The tests run them for several
   launch shapes (one thread, fewer threads than elements, more threads than elements) and
   compare them with minidl's plain ``xp`` code: that checks the index and tail logic.
3. ``bias_relu_forward(...)`` etc.: the launches on CuPy arrays. These run only on a GPU;
   they are thin (allocate, pick the launch shape with ``launch_config``, call).

Every kernel uses a grid-stride loop::

    for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)

so any launch shape covers all ``n`` elements exactly once: thread ``t`` of ``T`` handles
``t, t + T, t + 2T, ...``. NaN and Inf propagate as in the ``xp`` code (``maximum`` keeps a
NaN, ``g * mask`` turns ``inf * 0`` into NaN), so a GPU run fails as loudly as a CPU run.

Nothing here imports CuPy until a launch function is called.
"""

import functools
import math
import re
from string import Template

import numpy as np

THREADS_PER_BLOCK = 256
MAX_BLOCKS = 4096  # beyond this, the grid-stride loop makes each thread do more elements

_C_TYPES = {"float32": ("float", "f32"), "float64": ("double", "f64")}

# ``${T}`` is the element type, ``${S}`` the name suffix (``f32``/``f64``). string.Template
# rather than str.format, because CUDA C is full of braces.
_TEMPLATE = Template(r"""
// ---- minidl CUDA kernels for ${T} ------------------------------------------------------
// Every loop is a grid-stride loop: thread t of T handles t, t + T, t + 2T, ... < n.

__device__ inline ${T} minidl_nan_max(${T} a, ${T} b) {
    // numpy.maximum: NaN if either is NaN (fmax would drop the NaN).
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
}

// y = max(x + b, 0) for x of shape (n / cols, cols) and b of shape (cols,).
extern "C" __global__ void bias_relu_forward_${S}(
        const ${T}* x, const ${T}* b, ${T}* y, long long n, long long cols) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        ${T} v = x[i] + b[i % cols];
        y[i] = (v > (${T})0 || v != v) ? v : (${T})0;  // keep NaN, as numpy.maximum does
    }
}

// dx = g * (y > 0), y the ReLU's output (y > 0 exactly where its input was > 0).
extern "C" __global__ void relu_backward_${S}(
        const ${T}* g, const ${T}* y, ${T}* dx, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        dx[i] = g[i] * (${T})(y[i] > (${T})0);  // a product, so inf * 0 is NaN as in xp
    }
}

// One row per thread: m = max z, log_s = log sum exp(z - m), loss = -(z[label] - m - log_s).
// m and log_s are kept for the backward pass. A label outside [0, C) gives a NaN loss.
extern "C" __global__ void softmax_xent_forward_${S}(
        const ${T}* z, const long long* labels, ${T}* m_out, ${T}* log_s_out, ${T}* loss,
        long long rows, long long C) {
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < rows;
         r += (long long)blockDim.x * gridDim.x) {
        const ${T}* zr = z + r * C;
        ${T} m = zr[0];
        for (long long c = 1; c < C; ++c) {
            m = minidl_nan_max(m, zr[c]);
        }
        ${T} s = 0;
        for (long long c = 0; c < C; ++c) {
            s += exp(zr[c] - m);
        }
        ${T} log_s = log(s);
        long long k = labels[r];
        loss[r] = (k >= 0 && k < C) ? -((zr[k] - m) - log_s) : (${T})nan("");
        m_out[r] = m;
        log_s_out[r] = log_s;
    }
}

// dz = (softmax(z) - onehot(label)) * g / divisor, one element per loop step.
// g has one value (g_stride = 0: "mean"/"sum") or one per row (g_stride = 1: "none").
extern "C" __global__ void softmax_xent_backward_${S}(
        const ${T}* z, const long long* labels, const ${T}* m, const ${T}* log_s,
        const ${T}* g, long long g_stride, ${T} divisor, ${T}* dz, long long rows,
        long long C) {
    long long n = rows * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        long long r = i / C;
        long long c = i - r * C;
        ${T} p = exp((z[i] - m[r]) - log_s[r]);
        ${T} coef = g[r * g_stride] / divisor;
        dz[i] = (c == labels[r] ? p - (${T})1 : p) * coef;
    }
}

// Inverted dropout from uniform numbers u in [0, 1): mask = (u >= rate) * scale, y = x * mask.
extern "C" __global__ void dropout_forward_${S}(
        const ${T}* x, const ${T}* u, ${T} rate, ${T} scale, ${T}* y, ${T}* mask, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        ${T} keep = u[i] >= rate ? scale : (${T})0;
        mask[i] = keep;
        y[i] = x[i] * keep;
    }
}

// SGD, Keras's rule: m = momentum * m - lr * g; w += m (Nesterov: w += momentum * m - lr * g).
// Moments below `tiny` are flushed to 0, as in minidl's CPU kernel.
extern "C" __global__ void sgd_update_${S}(
        ${T}* var, const ${T}* grad, ${T}* m, ${T} decay, ${T} lr, ${T} momentum, ${T} tiny,
        int use_momentum, int nesterov, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        ${T} w = var[i];
        if (decay != (${T})0) w = w - w * decay;
        ${T} g = grad[i];
        if (use_momentum) {
            ${T} mi = m[i] * momentum - g * lr;
            if (fabs(mi) < tiny) mi = (${T})0;
            m[i] = mi;
            w = nesterov ? w + (mi * momentum - g * lr) : w + mi;
        } else {
            w = w - g * lr;
        }
        var[i] = w;
    }
}

// Adam, Keras's rule, with lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) from the host:
// m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= lr_t * m / (sqrt(v) + eps).
// AMSGrad divides by v_hat = max(v_hat, v) instead. Moments below `tiny` are flushed to 0.
extern "C" __global__ void adam_update_${S}(
        ${T}* var, const ${T}* grad, ${T}* m, ${T}* v, ${T}* v_hat, ${T} decay, ${T} lr_t,
        ${T} one_minus_beta_1, ${T} one_minus_beta_2, ${T} epsilon, ${T} tiny, int amsgrad,
        long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        ${T} w = var[i];
        if (decay != (${T})0) w = w - w * decay;
        ${T} g = grad[i];
        ${T} mi = m[i] + (g - m[i]) * one_minus_beta_1;
        ${T} vi = v[i] + (g * g - v[i]) * one_minus_beta_2;
        if (fabs(mi) < tiny) mi = (${T})0;
        if (vi < tiny) vi = (${T})0;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            vi = minidl_nan_max(v_hat[i], vi);
            v_hat[i] = vi;
        }
        var[i] = w - lr_t * mi / (sqrt(vi) + epsilon);
    }
}
""")

KERNEL_NAMES = (
    "bias_relu_forward",
    "relu_backward",
    "softmax_xent_forward",
    "softmax_xent_backward",
    "dropout_forward",
    "sgd_update",
    "adam_update",
)


def source(dtype="float32"):
    """The CUDA C source of every kernel for ``dtype`` (``"float32"`` or ``"float64"``).

    Kernel names carry the type: ``bias_relu_forward_f32``, ``adam_update_f64``, ...

    Raises:
        ValueError: another dtype.
    """
    name = np.dtype(dtype).name
    if name not in _C_TYPES:
        raise ValueError(f"CUDA kernels exist for float32 and float64, got dtype {name}")
    c_type, suffix = _C_TYPES[name]
    return _TEMPLATE.substitute(T=c_type, S=suffix)


def kernel_name(name, dtype):
    """The entry-point name of kernel ``name`` for ``dtype``: ``adam_update_f32``."""
    return f"{name}_{_C_TYPES[np.dtype(dtype).name][1]}"


def launch_config(n, threads=THREADS_PER_BLOCK, max_blocks=MAX_BLOCKS):
    """``(blocks, threads)`` for ``n`` loop steps: enough blocks for one step per thread, at
    most ``max_blocks`` (the grid-stride loop does the rest), and at least one."""
    return max(1, min(math.ceil(n / threads), max_blocks)), threads


class CudaCompileError(RuntimeError):
    """CUDA source that the compiler rejected; the message carries the compiler's log."""


def compile_ptx(code, nvcc="nvcc", arch=None):
    """Compile CUDA C ``code`` to PTX with ``nvcc --ptx`` and return the PTX text.

    This is how the tests check the kernels without a GPU (``nvcc`` needs no device). Every
    warning is an error, so a narrowing conversion or an unused variable fails too.

    Args:
        code: the CUDA C source (e.g. ``source("float32")``).
        nvcc: the path of ``nvcc``.
        arch: a virtual architecture such as ``"compute_80"`` (default: nvcc's own).

    Raises:
        CudaCompileError: nvcc failed; the message holds its full log.
    """
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cu, ptx = os.path.join(folder, "kernels.cu"), os.path.join(folder, "kernels.ptx")
        with open(cu, "w") as f:
            f.write(code)
        command = [nvcc, "--ptx", "-std=c++14", "-Werror", "all-warnings", "-o", ptx, cu]
        if arch is not None:
            command[2:2] = [f"--gpu-architecture={arch}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise CudaCompileError(
                f"nvcc failed (exit status {done.returncode}) on the CUDA source:\n"
                f"{done.stdout}{done.stderr}"
            )
        with open(ptx) as f:
            return f.read()


def ptx_entries(ptx):
    """``{kernel name: [PTX parameter types]}`` of the ``.entry`` points in ``ptx``
    (e.g. ``{"relu_backward_f32": [".u64", ".u64", ".u64", ".u64"]}``)."""
    entries = {}
    for name, params in re.findall(r"\.entry\s+(\w+)\s*\((.*?)\)", ptx, re.S):
        entries[name] = re.findall(r"\.param\s+(\.\w+)", params)
    return entries


# ---------------------------------------------------------------------------------------
# Host twins: the kernels' loops, thread by thread, in NumPy
# ---------------------------------------------------------------------------------------


def grid_stride(n, blocks, threads, visits=None):
    """The indices each CUDA thread handles in a grid-stride loop over ``n`` steps.

    Yields one index array per thread (``tid, tid + stride, ...`` with
    ``tid = blockIdx.x · blockDim.x + threadIdx.x`` and ``stride = blockDim.x · gridDim.x``),
    in thread order. If ``visits`` (an int array of length ``n``) is given, each step adds 1
    to its index, so a test can check that every index is handled exactly once.
    """
    stride = blocks * threads
    for block in range(blocks):
        for thread in range(threads):
            idx = np.arange(block * threads + thread, n, stride)
            if visits is not None:
                np.add.at(visits, idx, 1)
            yield idx


def _nan_max(a, b):
    return np.maximum(a, b)  # NaN if either is NaN, as minidl_nan_max


def bias_relu_forward_host(x, b, blocks, threads, visits=None):
    """Host twin of ``bias_relu_forward``: ``max(x + b, 0)``, NaN kept."""
    xf, cols = x.reshape(-1), b.size
    y = np.empty_like(xf)
    for i in grid_stride(xf.size, blocks, threads, visits):
        v = xf[i] + b[i % cols]
        y[i] = np.where((v > 0) | (v != v), v, x.dtype.type(0))
    return y.reshape(x.shape)


def relu_backward_host(g, y, blocks, threads, visits=None):
    """Host twin of ``relu_backward``: ``g * (y > 0)``."""
    gf, yf = g.reshape(-1), y.reshape(-1)
    dx = np.empty_like(gf)
    for i in grid_stride(gf.size, blocks, threads, visits):
        dx[i] = gf[i] * (yf[i] > 0).astype(g.dtype)
    return dx.reshape(g.shape)


def softmax_xent_forward_host(z, labels, blocks, threads, visits=None):
    """Host twin of ``softmax_xent_forward`` (one row per thread).

    Returns:
        ``(loss, m, log_s)``, one value per row each.
    """
    rows, C = z.shape
    t = z.dtype.type
    loss, m_out, log_s_out = (np.empty(rows, z.dtype) for _ in range(3))
    for rs in grid_stride(rows, blocks, threads, visits):
        for r in rs:  # the body of one loop step, as in CUDA: a row, column by column
            zr = z[r]
            m = zr[0]
            for c in range(1, C):
                m = _nan_max(m, zr[c])
            s = t(0)
            for c in range(C):
                s += np.exp(zr[c] - m)
            log_s = np.log(s)
            k = int(labels[r])
            loss[r] = -((zr[k] - m) - log_s) if 0 <= k < C else t(np.nan)
            m_out[r], log_s_out[r] = m, log_s
    return loss, m_out, log_s_out


def softmax_xent_backward_host(z, labels, m, log_s, g, divisor, blocks, threads, visits=None):
    """Host twin of ``softmax_xent_backward``: ``(softmax(z) - onehot) * g / divisor``.

    ``g`` is a 0-d array (reductions "mean"/"sum") or one value per row ("none").
    """
    rows, C = z.shape
    zf = z.reshape(-1)
    gf = g.reshape(-1)
    g_stride = 0 if g.size == 1 else 1
    divisor = z.dtype.type(divisor)
    dz = np.empty_like(zf)
    for i in grid_stride(rows * C, blocks, threads, visits):
        r = i // C
        c = i - r * C
        p = np.exp((zf[i] - m[r]) - log_s[r])
        coef = gf[r * g_stride] / divisor
        dz[i] = np.where(c == labels[r], p - z.dtype.type(1), p) * coef
    return dz.reshape(z.shape)


def dropout_forward_host(x, u, rate, blocks, threads, visits=None):
    """Host twin of ``dropout_forward``. Returns ``(y, mask)``."""
    t = x.dtype.type
    rate_t, scale = t(rate), t(1 / (1 - rate))
    xf, uf = x.reshape(-1), u.reshape(-1)
    y, mask = np.empty_like(xf), np.empty_like(xf)
    for i in grid_stride(xf.size, blocks, threads, visits):
        keep = np.where(uf[i] >= rate_t, scale, t(0))
        mask[i] = keep
        y[i] = xf[i] * keep
    return y.reshape(x.shape), mask.reshape(x.shape)


def sgd_update_host(var, grad, m, decay, lr, momentum, tiny, use_momentum, nesterov,
                    blocks, threads, visits=None):
    """Host twin of ``sgd_update``; updates ``var`` and ``m`` (1-D) in place."""
    zero = var.dtype.type(0)
    for i in grid_stride(var.size, blocks, threads, visits):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        if use_momentum:
            mi = m[i] * momentum - g * lr
            mi = np.where(np.abs(mi) < tiny, zero, mi)
            m[i] = mi
            w = w + (mi * momentum - g * lr) if nesterov else w + mi
        else:
            w = w - g * lr
        var[i] = w


def adam_update_host(var, grad, m, v, v_hat, decay, lr_t, one_minus_beta_1, one_minus_beta_2,
                     epsilon, tiny, amsgrad, blocks, threads, visits=None):
    """Host twin of ``adam_update``; updates ``var``, ``m``, ``v`` (and ``v_hat``) in place."""
    zero = var.dtype.type(0)
    for i in grid_stride(var.size, blocks, threads, visits):
        w = var[i]
        if decay != 0:
            w = w - w * decay
        g = grad[i]
        mi = m[i] + (g - m[i]) * one_minus_beta_1
        vi = v[i] + (g * g - v[i]) * one_minus_beta_2
        mi = np.where(np.abs(mi) < tiny, zero, mi)
        vi = np.where(vi < tiny, zero, vi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = _nan_max(v_hat[i], vi)
            v_hat[i] = vi
        var[i] = w - lr_t * mi / (np.sqrt(vi) + epsilon)


# ---------------------------------------------------------------------------------------
# Launches on CuPy arrays (run only on a GPU; see docs/GPU.md)
# ---------------------------------------------------------------------------------------
# Each function prepares its arguments with the arrays' own namespace and hands them to
# ``_launch``, the one place that touches the GPU. The tests replace ``_launch`` by a
# recorder and call these functions with NumPy arrays, to check every argument list against
# the kernel's C signature (count, order, and float vs double: CuPy passes a Python float
# as a double, which a ``float`` parameter would misread).


@functools.cache
def _module(dtype_name):
    import cupy

    return cupy.RawModule(code=source(dtype_name), options=("--std=c++14",))


def _launch(name, dtype, n, args):
    """Launch kernel ``name`` for ``dtype`` over ``n`` loop steps with ``args``."""
    if n == 0:
        return
    blocks, threads = launch_config(n)
    function = _module(np.dtype(dtype).name).get_function(kernel_name(name, dtype))
    function((blocks,), (threads,), args)


def _xp(array):
    from minidl.array_backend import get_array_module

    return get_array_module(array)


def bias_relu_forward(x, b):
    """``max(x + b, 0)`` on the GPU, for ``x`` (..., cols) and ``b`` (cols,)."""
    xp = _xp(x)
    x = xp.ascontiguousarray(x)
    b = xp.ascontiguousarray(b, dtype=x.dtype)
    y = xp.empty_like(x)
    _launch("bias_relu_forward", x.dtype, x.size,
            (x, b, y, np.int64(x.size), np.int64(b.size)))
    return y


def relu_backward(g, y):
    """``g * (y > 0)`` on the GPU (``y`` the ReLU output)."""
    xp = _xp(g)
    g, y = xp.ascontiguousarray(g), xp.ascontiguousarray(y, dtype=g.dtype)
    dx = xp.empty_like(g)
    _launch("relu_backward", g.dtype, g.size, (g, y, dx, np.int64(g.size)))
    return dx


def softmax_xent_forward(z, labels):
    """Per-row cross-entropy of softmax(z) with integer labels; returns ``(loss, m, log_s)``."""
    xp = _xp(z)
    z = xp.ascontiguousarray(z)
    labels = xp.ascontiguousarray(labels, dtype=np.int64)
    rows, C = z.shape
    loss, m, log_s = (xp.empty(rows, z.dtype) for _ in range(3))
    _launch("softmax_xent_forward", z.dtype, rows,
            (z, labels, m, log_s, loss, np.int64(rows), np.int64(C)))
    return loss, m, log_s


def softmax_xent_backward(z, labels, m, log_s, g, divisor):
    """``(softmax(z) - onehot(labels)) * g / divisor`` on the GPU (see the host twin)."""
    xp = _xp(z)
    z = xp.ascontiguousarray(z)
    labels = xp.ascontiguousarray(labels, dtype=np.int64)
    g = xp.ascontiguousarray(g, dtype=z.dtype)
    rows, C = z.shape
    dz = xp.empty_like(z)
    _launch("softmax_xent_backward", z.dtype, rows * C,
            (z, labels, m, log_s, g, np.int64(0 if g.size == 1 else 1),
             z.dtype.type(divisor), dz, np.int64(rows), np.int64(C)))
    return dz


def dropout_forward(x, u, rate):
    """Inverted dropout on the GPU from uniform numbers ``u``; returns ``(y, mask)``."""
    xp = _xp(x)
    x, u = xp.ascontiguousarray(x), xp.ascontiguousarray(u, dtype=x.dtype)
    y, mask = xp.empty_like(x), xp.empty_like(x)
    t = x.dtype.type
    _launch("dropout_forward", x.dtype, x.size,
            (x, u, t(rate), t(1 / (1 - rate)), y, mask, np.int64(x.size)))
    return y, mask


def sgd_update(var, grad, m, decay, lr, momentum, tiny, use_momentum, nesterov):
    """In-place SGD step on flat contiguous device arrays. The arguments and their order are
    those of ``minidl.optimizers._sgd_kernel``; scalars are cast to the arrays' dtype."""
    t = var.dtype.type
    _launch("sgd_update", var.dtype, var.size,
            (var, grad, m, t(decay), t(lr), t(momentum), t(tiny),
             np.int32(bool(use_momentum)), np.int32(bool(nesterov)), np.int64(var.size)))


def adam_update(var, grad, m, v, v_hat, decay, lr_t, one_minus_beta_1, one_minus_beta_2,
                epsilon, tiny, amsgrad):
    """In-place Adam step on flat contiguous device arrays. The arguments and their order are
    those of ``minidl.optimizers._adam_kernel``; scalars are cast to the arrays' dtype."""
    t = var.dtype.type
    _launch("adam_update", var.dtype, var.size,
            (var, grad, m, v, v_hat, t(decay), t(lr_t), t(one_minus_beta_1),
             t(one_minus_beta_2), t(epsilon), t(tiny), np.int32(bool(amsgrad)),
             np.int64(var.size)))


def c_signature(name, dtype="float32"):
    """The C parameter types of kernel ``name`` for ``dtype``, read from ``source(dtype)``:
    e.g. ``("const float*", "const float*", "float*", "long long", "long long")``."""
    entry = kernel_name(name, dtype)
    found = re.search(r'extern "C" __global__ void ' + entry + r"\((.*?)\)", source(dtype),
                      re.S)
    if found is None:
        raise ValueError(f"no kernel {entry} in the CUDA source")
    params = [" ".join(p.split()) for p in found.group(1).split(",")]
    return tuple(p.rsplit(" ", 1)[0] for p in params)
