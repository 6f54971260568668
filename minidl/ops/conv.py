"""Convolution and pooling over sliding windows: im2col + one BLAS product, col2im back.

Import from here (``from minidl.ops.conv import conv_transpose, Geometry``): the name
``minidl.ops.conv`` is the ``conv`` function, which ``minidl.ops`` exports.

API (all take and return Tensors; ``x`` is ``(N, *spatial, C)`` for ``channels_last``, Keras's
default, or ``(N, C, *spatial)`` for ``channels_first``, PyTorch's; 1-D and 2-D spatial):

- ``conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, *,
  bias=None, groups=1, kernel_layout="keras", activation="linear")``
- ``conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None,
  data_format=None, dilation_rate=1, *, bias=None, groups=1, kernel_layout="keras")``: the
  gradient of ``conv`` with respect to its input, run forward (``Conv2DTranspose``).
- ``depthwise_conv(x, kernel, strides=1, padding="valid", data_format=None,
  dilation_rate=1, *, bias=None, kernel_layout="keras")``: ``conv`` with ``groups = C``.

The positional arguments are ``keras.ops``'s (``minidl.ops`` is ``keras.ops``); minidl's
extras (bias, groups, the kernel layout, a fused ReLU) are keyword-only.
- ``max_pool(x, pool_size, strides=None, padding="valid", data_format=None)``
- ``avg_pool(x, pool_size, strides=None, padding="valid", data_format=None)``
- ``global_avg_pool(x, data_format=None, keepdims=False)``, ``global_max_pool(...)``

``data_format=None`` means ``channels_last``.

``strides``, ``dilation_rate``, ``pool_size``: an int or one int per spatial axis
(``strides=None`` in pooling means ``pool_size``). ``padding``:

- ``"valid"``: no padding; ``"same"``: Keras's rule (output size ``ceil(n / stride)``; the odd
  extra cell of padding goes to the end: bottom/right);
- an int or one int per spatial axis: PyTorch's symmetric padding (output size floors);
- one ``(before, after)`` pair per spatial axis (Conv1D's ``"causal"`` is
  ``((dilation·(k-1), 0),)``).

Pooling pads with -inf (max) or zeros (average). The average divides by the window size
(PyTorch's ``count_include_pad=True``) except with ``padding="same"``, where it divides by
the number of real cells in each window, as Keras does.

Kernel layouts (the op accepts both without copying them; no transposed copy is ever made):

- ``kernel_layout="keras"``: ``(*kernel_size, C // groups, filters)``, Keras's Conv layout;
- ``kernel_layout="torch"``: ``(filters, C // groups, *kernel_size)``, PyTorch's.

For ``conv_transpose`` the kernel is that of the convolution it transposes: Keras's
``Conv2DTranspose`` layout ``(kh, kw, out, in)`` is ``"keras"`` and PyTorch's
``ConvTranspose2d`` layout ``(in, out // groups, kh, kw)`` is ``"torch"``.

How it works: the input, padded, is viewed (``as_strided``, no copy) as one window per output
position; the windows become the rows of a matrix (im2col: one copy), and the convolution is
one matrix product with the kernel, on BLAS. The layout decides only the strides of that
view: ``channels_first`` data are the same windows seen through other strides, so there is
one implementation. The backward pass multiplies the output gradient by the kernel (input
gradient per window) and adds each window's gradient back to the cells it read (col2im);
the kernel gradient is one more product. Windows overlap, so col2im is a scatter-*add*: a
Numba loop on the CPU, with ``col2im_xp`` (one strided add per kernel offset) as the readable
reference that also runs on CuPy. Max pooling keeps the offset of each window's first
maximum and sends the gradient there only, as PyTorch does.
"""

import itertools
import math

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.jit import kernel as jit_kernel
from minidl.ops.fused import (
    activation_backward_xp,
    bias_activation_xp,
    bias_relu_kernel,
    relu_backward_kernel,
)
from minidl.tensor import Op, Tensor
from minidl.threads import note_product

DATA_FORMATS = ("channels_last", "channels_first")
KERNEL_LAYOUTS = ("keras", "torch")

# ---------------------------------------------------------------------------------------
# Argument checks and the geometry of the windows
# ---------------------------------------------------------------------------------------


def normalize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` positive ints.

    Raises:
        TypeError: an entry is not an int (bools are refused).
        ValueError: the length is not ``n``, or an entry is < 1 (< 0 with ``allow_zero``).
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be an int or a tuple of {n} ints, got "
                            f"{value!r}") from None
        if len(values) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints (one per spatial "
                             f"axis), got {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must contain ints, got {value!r}")
        if v < (0 if allow_zero else 1):
            least = "non-negative" if allow_zero else "positive"
            raise ValueError(f"{name} must be {least}, got {value!r}")
    return tuple(int(v) for v in values)


def check_data_format(data_format):
    """``data_format`` if it is ``channels_last`` or ``channels_first`` (None: the default,
    ``channels_last``), else a ValueError naming the argument and the value."""
    if data_format is None:
        return "channels_last"
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    return data_format


def resolve_padding(padding, sizes, kernel, strides, dilation):
    """One ``(before, after)`` pair per spatial axis for the ``padding`` argument.

    ``"same"`` follows Keras (and TensorFlow): the output has ``ceil(n / s)`` cells, the
    total padding is what that needs, and when it is odd the extra cell goes after.
    """
    nd = len(sizes)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * nd
        if mode == "same":
            pairs = []
            for n, k, s, d in zip(sizes, kernel, strides, dilation):
                out = -(-n // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        raise ValueError(f"padding must be 'valid', 'same', an int or one int per spatial "
                         f"axis, got {padding!r}")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        entries = [padding] * nd
    else:
        entries = list(padding)
        if len(entries) != nd:
            raise ValueError(f"padding must have one entry per spatial axis ({nd}), got "
                             f"{padding!r}")
    pairs = []
    for entry in entries:
        pair = (entry, entry) if np.ndim(entry) == 0 else tuple(entry)
        if len(pair) != 2 or any(isinstance(p, bool) or not isinstance(p, (int, np.integer))
                                 or p < 0 for p in pair):
            raise ValueError(f"padding entries must be non-negative ints or (before, after) "
                             f"pairs, got {padding!r}")
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


class Geometry:
    """Where the windows of a convolution or pooling are: everything but the numbers.

    Attributes:
        kernel, strides, dilation: one int per spatial axis.
        pads: one ``(before, after)`` pair per spatial axis.
        in_size: the spatial size of the input (unpadded).
        out_size: the spatial size of the output:
            ``(n + before + after - dilation·(k - 1) - 1) // stride + 1``.
        groups: the channel groups (1 for an ordinary convolution).
        order: ``"kc"`` (a window's cells, then its channels: Keras's kernel layout) or
            ``"ck"`` (channels, then cells: PyTorch's).
    """

    def __init__(self, in_size, kernel, strides, dilation, padding, groups=1, order="kc",
                 what="conv"):
        self.in_size, self.kernel = tuple(in_size), tuple(kernel)
        self.strides, self.dilation = tuple(strides), tuple(dilation)
        self.pads = resolve_padding(padding, in_size, kernel, strides, dilation)
        self.groups, self.order = groups, order
        out = []
        for axis, (n, k, s, d, (lo, hi)) in enumerate(
                zip(in_size, kernel, strides, dilation, self.pads)):
            span = d * (k - 1) + 1
            if n + lo + hi < span:
                raise ShapeError(
                    f"{what}: the window ({k} cells, dilation {d}: it spans {span}) is larger "
                    f"than the padded input ({n} + {lo + hi} padding) along spatial axis "
                    f"{axis}; use padding='same' or a smaller window"
                )
            out.append((n + lo + hi - span) // s + 1)
        self.out_size = tuple(out)

    @property
    def padded_size(self):
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.in_size, self.pads))

    @property
    def is_padded(self):
        return any(lo or hi for lo, hi in self.pads)

    def offsets(self):
        """Every kernel offset ``(i, j, ...)``, in row-major order."""
        return itertools.product(*(range(k) for k in self.kernel))

    def region(self, offset):
        """The cells of a padded channels-last array that kernel ``offset`` reads, one per
        output position: a basic index (strided slices) of shape (N, *out_size, C)."""
        return (slice(None),) + tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, self.dilation, self.strides, self.out_size)
        ) + (slice(None),)


def channels_last_view(x, data_format):
    """``x`` seen as (N, *spatial, C): itself, or a transposed view (no copy)."""
    if data_format == "channels_first":
        return get_array_module(x).moveaxis(x, 1, -1)
    return x


def restore_layout(y, data_format):
    """The inverse of ``channels_last_view``."""
    if data_format == "channels_first":
        return get_array_module(y).moveaxis(y, -1, 1)
    return y


def pad_spatial(x, pads, value=0):
    """A channels-last ``x`` padded with ``value`` on its spatial axes (x itself if no pad).

    The result is always C-contiguous channels-last (a copy of a channels-first view)."""
    xp = get_array_module(x)
    if not any(lo or hi for lo, hi in pads):
        return x
    padded_shape = (x.shape[0],) + tuple(
        n + lo + hi for n, (lo, hi) in zip(x.shape[1:-1], pads)) + (x.shape[-1],)
    out = xp.full(padded_shape, value, dtype=x.dtype)
    inner = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in
                                   zip(x.shape[1:-1], pads)) + (slice(None),)
    out[inner] = x
    return out


def crop_spatial(x, pads):
    """The inverse of ``pad_spatial``: the unpadded cells of a padded channels-last array."""
    if not any(lo or hi for lo, hi in pads):
        return x
    return x[(slice(None),) + tuple(slice(lo, n - hi) for n, (lo, hi) in
                                    zip(x.shape[1:-1], pads)) + (slice(None),)]


def windows(xpad, geom):
    """All windows of a padded channels-last array, as a view (no copy).

    Shape ``(G, N, *out_size, *kernel, C // G)`` for ``order="kc"`` and
    ``(G, N, *out_size, C // G, *kernel)`` for ``"ck"``: window (n, p) of group g holds
    ``xpad[n, p·stride + offset·dilation, g·C/G + c]``. Only strides change, never data.
    """
    xp = get_array_module(xpad)
    groups = geom.groups
    cg = xpad.shape[-1] // groups
    s_batch, *s_spatial, s_channel = xpad.strides
    shape = (groups, xpad.shape[0], *geom.out_size)
    strides = (s_channel * cg, s_batch,
               *(s * st for s, st in zip(s_spatial, geom.strides)))
    k_shape = geom.kernel
    k_strides = tuple(s * d for s, d in zip(s_spatial, geom.dilation))
    if geom.order == "kc":
        shape, strides = shape + k_shape + (cg,), strides + k_strides + (s_channel,)
    else:
        shape, strides = shape + (cg,) + k_shape, strides + (s_channel,) + k_strides
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def im2col(xpad, geom):
    """The windows as matrices, one per group: (G, N·prod(out_size), K), K = cells · C/G.

    This is the one copy of the forward pass (rows of the matrix BLAS multiplies)."""
    view = windows(xpad, geom)
    rows = xpad.shape[0] * math.prod(geom.out_size)
    return view.reshape(geom.groups, rows, -1)


# ---------------------------------------------------------------------------------------
# col2im: each window's gradient added back to the cells it read
# ---------------------------------------------------------------------------------------


def col2im_xp(cols, padded_shape, geom):
    """The adjoint of ``im2col`` (the readable reference; what runs on CuPy).

    For each kernel offset the windows read a strided grid of cells, one cell per window and
    no cell twice, so each offset is one strided ``+=``; the overlaps between windows are
    summed across the offsets.
    """
    xp = get_array_module(cols)
    groups, nd = geom.groups, len(geom.kernel)
    n, c = padded_shape[0], padded_shape[-1]
    cg = c // groups
    if geom.order == "kc":
        blocks = cols.reshape(groups, n, *geom.out_size, *geom.kernel, cg)
        lead = (slice(None),) * (2 + nd)
    else:
        blocks = cols.reshape(groups, n, *geom.out_size, cg, *geom.kernel)
        lead = (slice(None),) * (3 + nd)
    dxpad = xp.zeros(padded_shape, dtype=cols.dtype)
    for offset in geom.offsets():
        piece = blocks[lead + offset]  # (G, N, *out_size, C/G)
        piece = xp.moveaxis(piece, 0, -2).reshape(n, *geom.out_size, c)
        dxpad[geom.region(offset)] += piece
    return dxpad


@jit_kernel
def col2im_kernel(blocks, dxpad, sh, sw, dh, dw):
    """dxpad[n, ho·sh + i·dh, wo·sw + j·dw, g, c] += blocks[g, n, ho, wo, i, j, c].

    The 2-D loop of ``col2im_xp`` (1-D inputs come with a size-1 first spatial axis). Any
    strides: a ``"ck"`` layout or a channels-first gradient arrives as a transposed view.
    """
    groups, n_batch, ho_n, wo_n, kh, kw, cg = blocks.shape
    for n in range(n_batch):
        for ho in range(ho_n):
            for wo in range(wo_n):
                for i in range(kh):
                    h = ho * sh + i * dh
                    for j in range(kw):
                        w = wo * sw + j * dw
                        for g in range(groups):
                            for c in range(cg):
                                dxpad[n, h, w, g, c] += blocks[g, n, ho, wo, i, j, c]


def _kernel_ok(*arrays):
    """Numba kernels run on NumPy float arrays of one dtype, with the JIT on."""
    if not config.JIT_ENABLED:
        return False
    dtype = arrays[0].dtype
    return all(type(a) is np.ndarray and a.dtype == dtype for a in arrays)


def _as_2d(geom):
    """(kernel, strides, dilation, out_size) padded to two spatial axes for the 2-D kernels."""
    extra = 2 - len(geom.kernel)
    return ((1,) * extra + geom.kernel, (1,) * extra + geom.strides,
            (1,) * extra + geom.dilation, (1,) * extra + geom.out_size)


def col2im(cols, padded_shape, geom):
    """``col2im_xp``, by the Numba kernel for 1-D and 2-D NumPy arrays."""
    if len(geom.kernel) > 2 or not _kernel_ok(cols):
        return col2im_xp(cols, padded_shape, geom)
    kernel, strides, dilation, out_size = _as_2d(geom)
    groups, n, c = geom.groups, padded_shape[0], padded_shape[-1]
    cg = c // groups
    if geom.order == "kc":
        blocks = cols.reshape(groups, n, *out_size, *kernel, cg)
    else:  # (G, N, ho, wo, C/G, kh, kw) seen as (G, N, ho, wo, kh, kw, C/G)
        blocks = cols.reshape(groups, n, *out_size, cg, *kernel).transpose(0, 1, 2, 3, 5, 6, 4)
    dxpad = np.zeros(padded_shape, dtype=cols.dtype)
    spatial = ((1,) if len(geom.kernel) == 1 else ()) + tuple(padded_shape[1:-1])
    col2im_kernel(blocks, dxpad.reshape(n, *spatial, groups, cg), *strides, *dilation)
    return dxpad


# ---------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------


def _kernel_matrix(w, layout, groups):
    """The kernel as (G, K, filters/G) views, K ordered as the windows of ``layout``."""
    xp = get_array_module(w)
    if layout == "keras":  # (*k, C/G, F): rows already (cells, channels)
        f = w.shape[-1]
        return xp.moveaxis(w.reshape(-1, groups, f // groups), 1, 0)
    f = w.shape[0]  # torch: (F, C/G, *k)
    return xp.swapaxes(w.reshape(groups, f // groups, -1), 1, 2)


def _kernel_from_matrix(dwm, layout, shape):
    """The inverse of ``_kernel_matrix`` (for the kernel gradient)."""
    xp = get_array_module(dwm)
    if layout == "keras":
        return xp.moveaxis(dwm, 0, 1).reshape(shape)
    return xp.swapaxes(dwm, 1, 2).reshape(shape)


def _spatial_kernel(w_shape, layout):
    return tuple(w_shape[:-2]) if layout == "keras" else tuple(w_shape[2:])


def _matmul_groups(a, b):
    """a @ b for (G, ·, ·) stacks; one plain BLAS product when G = 1."""
    xp = get_array_module(a)
    note_product(a.shape[1], a.shape[2], b.shape[2])
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0])[None]
    return xp.matmul(a, b)


def _check_conv_shapes(x_cl, w, layout, groups, what):
    """Raise ShapeError unless input, kernel and groups fit together."""
    c = x_cl.shape[-1]
    if layout == "keras":
        w_in, w_out = w.shape[-2], w.shape[-1]
    else:
        w_in, w_out = w.shape[1], w.shape[0]
    if c % groups or w_out % groups:
        raise ShapeError(f"{what}: groups={groups} must divide the input channels ({c}) and "
                         f"the filters ({w_out})")
    if w_in * groups != c:
        raise ShapeError(f"{what}: the kernel of shape {tuple(w.shape)} expects "
                         f"{w_in * groups} input channels, got an input with {c} channels "
                         f"(channels-last shape {tuple(x_cl.shape)})")


class Conv(Op):
    """N-d convolution (a cross-correlation, as in Keras and PyTorch), with bias and ReLU.

    Forward, with W the kernel as a matrix (K = cells · C/G rows, F/G columns per group g):

        cols = im2col(pad(x))                   (rows: one window per output position)
        z[g] = cols[g] @ W[g] + b               y = act(z)   (act: linear or relu)

    Backward, with dz = g · act'(z):

        dW[g] = cols[g]ᵀ @ dz[g]      db = Σ_rows dz      dx = crop(col2im(dz[g] @ W[g]ᵀ))

    Settings: see the module docstring (``conv``).
    """

    def __init__(self, strides, padding, dilation, groups, data_format, kernel_layout,
                 activation="linear"):
        self.strides, self.padding, self.dilation = strides, padding, dilation
        self.groups, self.data_format = groups, data_format
        self.kernel_layout, self.activation = kernel_layout, activation

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        x_cl = channels_last_view(x, self.data_format)
        _check_conv_shapes(x_cl, w, self.kernel_layout, self.groups, "conv")
        geom = Geometry(x_cl.shape[1:-1], _spatial_kernel(w.shape, self.kernel_layout),
                        self.strides, self.dilation, self.padding, self.groups,
                        "kc" if self.kernel_layout == "keras" else "ck")
        xpad = pad_spatial(x_cl, geom.pads)
        cols = im2col(xpad, geom)
        wm = _kernel_matrix(w, self.kernel_layout, self.groups)
        z = _matmul_groups(cols, wm)  # (G, M, F/G)
        if self.groups > 1:
            z = xp.moveaxis(z, 0, 1).reshape(z.shape[1], -1)
        else:
            z = z[0]
        if b is not None and self.activation == "relu" and _kernel_ok(z, b) \
                and z.flags.c_contiguous:
            bias_relu_kernel(z, b, z.dtype.type(0))
            out = z
        else:
            out = bias_activation_xp(z, 0 if b is None else b, self.activation)
        self.geom, self.cols, self.wm = geom, cols, wm
        self.x_shape, self.w_shape, self.padded_shape = x_cl.shape, w.shape, xpad.shape
        self.out = out
        y = out.reshape(x_cl.shape[0], *geom.out_size, -1)
        return restore_layout(y, self.data_format)

    def backward(self, g):
        xp = get_array_module(g)
        g = channels_last_view(g, self.data_format).reshape(self.out.shape)  # (M, F)
        if self.activation == "relu" and _kernel_ok(g, self.out) and g.flags.c_contiguous:
            dz = np.empty_like(g)
            relu_backward_kernel(g, self.out, dz, g.dtype.type(0))
        else:
            dz = activation_backward_xp(g, self.out, self.activation)
        groups = self.groups
        dzg = xp.moveaxis(dz.reshape(dz.shape[0], groups, -1), 1, 0)  # (G, M, F/G)
        needs = self.needs_grad
        dx = dw = db = None
        if needs[0]:
            dcols = _matmul_groups(dzg, xp.swapaxes(self.wm, 1, 2))  # (G, M, K)
            dxpad = col2im(dcols, self.padded_shape, self.geom)
            dx = restore_layout(crop_spatial(dxpad, self.geom.pads), self.data_format)
        if needs[1]:
            dwm = _matmul_groups(xp.swapaxes(self.cols, 1, 2), dzg)  # (G, K, F/G)
            dw = _kernel_from_matrix(dwm, self.kernel_layout, self.w_shape)
        if len(needs) > 2 and needs[2]:
            # Σ over the rows as a product with ones: BLAS reads dz once, 3x faster than
            # NumPy's axis-0 sum (which also accumulates row by row).
            db = xp.matmul(xp.ones(dz.shape[0], dtype=dz.dtype), dz)
        return dx, dw, db


class ConvTranspose(Op):
    """The transposed convolution: the input gradient of ``Conv``, run as a forward pass.

    With W the kernel of the convolution it transposes (its input has this op's output
    channels; its filters are this op's input channels):

        y = crop(col2im(x[g] @ W[g]ᵀ)) + b
        dx[g] = im2col(pad(dy))[g] @ W[g]      dW[g] = im2col(pad(dy))[g]ᵀ @ x[g]
        db = Σ dy over all but the channel axis

    The output size L per spatial axis is the input size of that convolution: with
    ``padding="same"`` L = n·s; ``"valid"``: n·s + max(span - s, 0) (Keras); explicit pads
    p (PyTorch): (n - 1)·s - 2p + span + output_padding, span = dilation·(k - 1) + 1.
    """

    def __init__(self, strides, padding, output_padding, dilation, groups, data_format,
                 kernel_layout):
        self.strides, self.padding, self.output_padding = strides, padding, output_padding
        self.dilation, self.groups = dilation, groups
        self.data_format, self.kernel_layout = data_format, kernel_layout

    def output_size(self, in_size, kernel):
        sizes = []
        for axis, (n, k, s, d) in enumerate(zip(in_size, kernel, self.strides, self.dilation)):
            span = d * (k - 1) + 1
            extra = 0 if self.output_padding is None else self.output_padding[axis]
            if isinstance(self.padding, str) and self.output_padding is None:
                mode = self.padding.lower()
                sizes.append(n * s if mode == "same" else n * s + max(span - s, 0))
                continue
            if isinstance(self.padding, str):  # Keras with output_padding: pad = span // 2
                pad = 2 * (span // 2) if self.padding.lower() == "same" else 0
            else:
                pairs = resolve_padding(self.padding, in_size, kernel, self.strides,
                                        self.dilation)
                pad = sum(pairs[axis])
            sizes.append((n - 1) * s - pad + span + extra)
        return tuple(sizes)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        x_cl = channels_last_view(x, self.data_format)
        layout, groups = self.kernel_layout, self.groups
        kernel = _spatial_kernel(w.shape, layout)
        f = w.shape[-1] if layout == "keras" else w.shape[0]  # the transposed conv's filters
        c_out = (w.shape[-2] if layout == "keras" else w.shape[1]) * groups
        if x_cl.shape[-1] != f or f % groups:
            raise ShapeError(f"conv_transpose: the kernel of shape {tuple(w.shape)} expects "
                             f"{f} input channels (divisible by groups={groups}), got an "
                             f"input of channels-last shape {tuple(x_cl.shape)}")
        out_size = self.output_size(x_cl.shape[1:-1], kernel)
        padding = self.padding
        if isinstance(padding, str) and self.output_padding is not None:
            padding = tuple((((d * (k - 1) + 1) // 2),) * 2 if padding.lower() == "same"
                            else (0, 0) for k, d in zip(kernel, self.dilation))
        geom = Geometry(out_size, kernel, self.strides, self.dilation, padding, groups,
                        "kc" if layout == "keras" else "ck", what="conv_transpose")
        if any(o < n for o, n in zip(geom.out_size, x_cl.shape[1:-1])):
            raise ShapeError(f"conv_transpose: padding={self.padding!r} leaves no room for "
                             f"the input of channels-last shape {tuple(x_cl.shape)}")
        # NOTE: output_padding >= stride (PyTorch allows it below the dilation) leaves room
        # for more windows than there are inputs: only the first n exist.
        geom.out_size = tuple(x_cl.shape[1:-1])
        wm = _kernel_matrix(w, layout, groups)  # (G, K, F/G)
        xg = xp.moveaxis(x_cl.reshape(-1, groups, f // groups), 1, 0)  # (G, M, F/G)
        cols = _matmul_groups(xg, xp.swapaxes(wm, 1, 2))  # (G, M, K)
        padded_shape = (x_cl.shape[0], *geom.padded_size, c_out)
        y = crop_spatial(col2im(cols, padded_shape, geom), geom.pads)
        if b is not None:
            y = y + b
        self.geom, self.wm, self.xg = geom, wm, xg
        self.x_shape, self.w_shape = x_cl.shape, w.shape
        return restore_layout(y, self.data_format)

    def backward(self, g):
        xp = get_array_module(g)
        g_cl = channels_last_view(g, self.data_format)
        geom, needs = self.geom, self.needs_grad
        cols = im2col(pad_spatial(g_cl, geom.pads), geom)  # (G, M, K)
        dx = dw = db = None
        if needs[0]:
            dxg = _matmul_groups(cols, self.wm)  # (G, M, F/G)
            dx = restore_layout(xp.moveaxis(dxg, 0, 1).reshape(self.x_shape),
                                self.data_format)
        if needs[1]:
            dwm = _matmul_groups(xp.swapaxes(cols, 1, 2), self.xg)
            dw = _kernel_from_matrix(dwm, self.kernel_layout, self.w_shape)
        if len(needs) > 2 and needs[2]:
            db = g_cl.sum(axis=tuple(range(g_cl.ndim - 1)))
        return dx, dw, db


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------


@jit_kernel
def max_pool_kernel(x, kh, kw, sh, sw, dh, dw, out, arg):
    """out[n, ho, wo, c] = max over the window of x; arg = the offset i·kw + j of its first
    maximum (a NaN counts as the maximum, its first one wins: as ``np.argmax``)."""
    n_batch, ho_n, wo_n, channels = out.shape
    for n in range(n_batch):
        for ho in range(ho_n):
            for wo in range(wo_n):
                h0, w0 = ho * sh, wo * sw
                for c in range(channels):
                    out[n, ho, wo, c] = x[n, h0, w0, c]
                    arg[n, ho, wo, c] = 0
                for i in range(kh):
                    for j in range(kw):
                        if i == 0 and j == 0:
                            continue
                        h, w = h0 + i * dh, w0 + j * dw
                        k = i * kw + j
                        for c in range(channels):
                            v = x[n, h, w, c]
                            best = out[n, ho, wo, c]
                            if v > best or (v != v and best == best):
                                out[n, ho, wo, c] = v
                                arg[n, ho, wo, c] = k


@jit_kernel
def max_pool_backward_kernel(g, arg, kh, kw, sh, sw, dh, dw, dxpad):
    """dxpad[n, ho·sh + i·dh, wo·sw + j·dw, c] += g[n, ho, wo, c] where the window's first
    maximum is at offset (i, j), i.e. arg == i·kw + j.

    Offsets outside, channels inside: the writes run along contiguous channels (twice as
    fast as jumping to each channel's maximum), as ``max_pool_backward_xp`` does per offset.
    """
    n_batch, ho_n, wo_n, channels = g.shape
    for n in range(n_batch):
        for ho in range(ho_n):
            for wo in range(wo_n):
                for i in range(kh):
                    for j in range(kw):
                        k = i * kw + j
                        h, w = ho * sh + i * dh, wo * sw + j * dw
                        for c in range(channels):
                            if arg[n, ho, wo, c] == k:
                                dxpad[n, h, w, c] += g[n, ho, wo, c]


def max_pool_xp(xpad, geom):
    """(max over each window, offset of its first maximum): the readable reference."""
    xp = get_array_module(xpad)
    n, c = xpad.shape[0], xpad.shape[-1]
    cols = windows(xpad, geom).reshape(n, *geom.out_size, -1, c)  # (N, *out, cells, C)
    arg = xp.argmax(cols, axis=-2)
    out = xp.take_along_axis(cols, arg[..., None, :], axis=-2)[..., 0, :]
    return out, arg


def max_pool_backward_xp(g, arg, padded_shape, geom):
    """Each window's gradient added at its maximum: one masked strided add per offset."""
    xp = get_array_module(g)
    dxpad = xp.zeros(padded_shape, dtype=g.dtype)
    for k, offset in enumerate(geom.offsets()):
        dxpad[geom.region(offset)] += xp.where(arg == k, g, 0)
    return dxpad


class MaxPool(Op):
    """out[n, p, c] = max over window p of x[n, ·, c] (padding counts as -inf).

    dx: each output's gradient goes to its window's first maximum (PyTorch's convention,
    so tied maxima, common after ReLU, do not share it); windows that overlap add up.
    """

    def __init__(self, pool_size, strides, padding, data_format):
        self.pool_size, self.strides, self.padding = pool_size, strides, padding
        self.data_format = data_format

    def forward(self, x):
        x_cl = channels_last_view(x, self.data_format)
        geom = Geometry(x_cl.shape[1:-1], self.pool_size, self.strides,
                        (1,) * len(self.pool_size), self.padding, what="max_pool")
        xpad = pad_spatial(x_cl, geom.pads, value=-np.inf)
        if len(geom.kernel) <= 2 and _kernel_ok(xpad):
            kernel, strides, dilation, out_size = _as_2d(geom)
            n, c = xpad.shape[0], xpad.shape[-1]
            out = np.empty((n, *out_size, c), dtype=xpad.dtype)
            arg = np.empty(out.shape, dtype=np.int32)
            max_pool_kernel(xpad.reshape(n, -1, xpad.shape[-2], c),
                            *kernel, *strides, *dilation, out, arg)
            out = out.reshape(n, *geom.out_size, c)
            arg = arg.reshape(out.shape)
        else:
            out, arg = max_pool_xp(xpad, geom)
        self.geom, self.arg, self.padded_shape = geom, arg, xpad.shape
        return restore_layout(out, self.data_format)

    def backward(self, g):
        g = channels_last_view(g, self.data_format)
        geom = self.geom
        if len(geom.kernel) <= 2 and _kernel_ok(g) and type(self.arg) is np.ndarray \
                and self.arg.dtype == np.int32:
            kernel, strides, dilation, out_size = _as_2d(geom)
            n, c = g.shape[0], g.shape[-1]
            dxpad = np.zeros(self.padded_shape, dtype=g.dtype)
            spatial = ((1,) if len(geom.kernel) == 1 else ()) + self.padded_shape[1:-1]
            max_pool_backward_kernel(g.reshape(n, *out_size, c), self.arg.reshape(
                n, *out_size, c), *kernel, *strides, *dilation, dxpad.reshape(n, *spatial, c))
        else:
            dxpad = max_pool_backward_xp(g, self.arg, self.padded_shape, geom)
        return (restore_layout(crop_spatial(dxpad, geom.pads), self.data_format),)


class AvgPool(Op):
    """out[n, p, c] = Σ over window p of x[n, ·, c] / count[p]   (padding counts as 0).

    count[p] is the window size (PyTorch's ``count_include_pad=True``), or with Keras's
    ``padding="same"`` the number of real (unpadded) cells in window p.
    dx: each output's gradient, divided by its count, is added to every cell of its window.
    """

    def __init__(self, pool_size, strides, padding, data_format):
        self.pool_size, self.strides, self.padding = pool_size, strides, padding
        self.data_format = data_format

    def forward(self, x):
        xp = get_array_module(x)
        x_cl = channels_last_view(x, self.data_format)
        nd = len(self.pool_size)
        geom = Geometry(x_cl.shape[1:-1], self.pool_size, self.strides, (1,) * nd,
                        self.padding, what="avg_pool")
        xpad = pad_spatial(x_cl, geom.pads)
        cells = math.prod(geom.kernel)
        total = windows(xpad, geom).sum(axis=tuple(range(2 + nd, 2 + 2 * nd)))[0]
        if isinstance(self.padding, str) and self.padding.lower() == "same" and geom.is_padded:
            ones = pad_spatial(xp.ones((1, *x_cl.shape[1:-1], 1), dtype=x.dtype), geom.pads)
            count = windows(ones, geom).sum(axis=tuple(range(2 + nd, 2 + 2 * nd)))[0]
        else:
            count = x.dtype.type(cells)
        self.geom, self.count, self.padded_shape = geom, count, xpad.shape
        return restore_layout(total / count, self.data_format)

    def backward(self, g):
        xp = get_array_module(g)
        share = channels_last_view(g, self.data_format) / self.count
        dxpad = xp.zeros(self.padded_shape, dtype=g.dtype)
        for offset in self.geom.offsets():
            dxpad[self.geom.region(offset)] += share
        return (restore_layout(crop_spatial(dxpad, self.geom.pads), self.data_format),)


# ---------------------------------------------------------------------------------------
# Functional forms
# ---------------------------------------------------------------------------------------


def _spatial_rank(x, what):
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{what} expects a 3-D (batch, length, channels) or 4-D (batch, "
                         f"height, width, channels) input (channels first or last), got "
                         f"shape {tuple(x.shape)}")
    return x, x.ndim - 2


def _check_layout(kernel_layout):
    if kernel_layout not in KERNEL_LAYOUTS:
        raise ValueError(f"kernel_layout must be 'keras' or 'torch', got {kernel_layout!r}")
    return kernel_layout


def conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, *,
         bias=None, groups=1, kernel_layout="keras", activation="linear"):
    """N-d convolution (cross-correlation) of ``x`` with ``kernel``, plus ``bias``.

    Args:
        x: (N, *spatial, C) or (N, C, *spatial) with ``data_format="channels_first"``.
        kernel: ``(*k, C // groups, F)`` (``kernel_layout="keras"``) or
            ``(F, C // groups, *k)`` (``"torch"``).
        bias: (F,) or None.
        strides, dilation_rate: an int or one per spatial axis.
        padding: ``"valid"``, ``"same"`` (Keras's rule), ints (PyTorch's), or pairs.
        groups: channel groups; ``groups = C`` is a depthwise convolution.
        activation: ``"linear"`` or ``"relu"`` (fused with the bias, one pass).

    Returns:
        (N, *out, F) (or (N, F, *out)), out = (n + pads - dilation·(k-1) - 1) // stride + 1.

    Raises:
        ShapeError: wrong rank, channels that do not match the kernel, or a window larger
            than the padded input.
        ValueError / TypeError: a bad setting (named in the message).
    """
    x, nd = _spatial_rank(x, "conv")
    data_format = check_data_format(data_format)
    _check_layout(kernel_layout)
    kernel = kernel if isinstance(kernel, Tensor) else Tensor(kernel)
    if kernel.ndim != nd + 2:
        raise ShapeError(f"conv: a {nd}-D convolution needs a kernel with {nd + 2} axes, got "
                         f"shape {tuple(kernel.shape)}")
    settings = dict(strides=normalize_tuple(strides, nd, "strides"), padding=padding,
                    dilation=normalize_tuple(dilation_rate, nd, "dilation_rate"),
                    groups=normalize_tuple(groups, 1, "groups")[0], data_format=data_format,
                    kernel_layout=kernel_layout, activation=activation)
    if bias is None:
        return Conv.apply(x, kernel, **settings)
    return Conv.apply(x, kernel, bias, **settings)


def depthwise_conv(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1,
                   *, bias=None, kernel_layout="keras"):
    """A depthwise convolution: each input channel with its own filters (``groups = C``).

    ``kernel``: Keras's DepthwiseConv2D layout ``(*k, C, multiplier)`` (made a
    ``(*k, 1, C·multiplier)`` view here), or PyTorch's ``(C·multiplier, 1, *k)``.
    """
    x, nd = _spatial_rank(x, "depthwise_conv")
    data_format = check_data_format(data_format)
    c = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    kernel = kernel if isinstance(kernel, Tensor) else Tensor(kernel)
    if kernel_layout == "keras" and kernel.shape[-2] != 1:
        kernel = kernel.reshape(*kernel.shape[:-2], 1, -1)
    return conv(x, kernel, strides, padding, data_format, dilation_rate, bias=bias,
                groups=c, kernel_layout=kernel_layout)


def conv_transpose(x, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1, *, bias=None, groups=1,
                   kernel_layout="keras"):
    """Transposed convolution: the gradient of ``conv`` with respect to its input.

    Args:
        x: (N, *spatial, F) or channels first.
        kernel: the kernel of the convolution this transposes: ``(*k, C // groups, F)``
            (``"keras"``: Keras's Conv2DTranspose ``(kh, kw, out, in)``) or
            ``(F, C // groups, *k)`` (``"torch"``: PyTorch's ConvTranspose2d weight).
        bias: (C,) or None.
        output_padding: None, an int or one per spatial axis, added at the end.

    Returns:
        (N, *L, C) with L as ``ConvTranspose`` documents.
    """
    x, nd = _spatial_rank(x, "conv_transpose")
    data_format = check_data_format(data_format)
    _check_layout(kernel_layout)
    if output_padding is not None:
        output_padding = normalize_tuple(output_padding, nd, "output_padding", allow_zero=True)
    settings = dict(strides=normalize_tuple(strides, nd, "strides"), padding=padding,
                    output_padding=output_padding,
                    dilation=normalize_tuple(dilation_rate, nd, "dilation_rate"),
                    groups=normalize_tuple(groups, 1, "groups")[0], data_format=data_format,
                    kernel_layout=kernel_layout)
    if bias is None:
        return ConvTranspose.apply(x, kernel, **settings)
    return ConvTranspose.apply(x, kernel, bias, **settings)


def _pool_settings(x, pool_size, strides, padding, data_format, what):
    x, nd = _spatial_rank(x, what)
    pool_size = normalize_tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else normalize_tuple(strides, nd, "strides")
    return x, dict(pool_size=pool_size, strides=strides, padding=padding,
                   data_format=check_data_format(data_format))


def max_pool(x, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling (1-D or 2-D). ``strides=None`` means ``pool_size``; see the module
    docstring for ``padding``. Returns (N, *out, C) (or channels first)."""
    x, settings = _pool_settings(x, pool_size, strides, padding, data_format, "max_pool")
    return MaxPool.apply(x, **settings)


def avg_pool(x, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling (1-D or 2-D); ``"same"`` divides by the real cells (Keras), explicit
    int padding by the window size (PyTorch's ``count_include_pad=True``)."""
    x, settings = _pool_settings(x, pool_size, strides, padding, data_format, "avg_pool")
    return AvgPool.apply(x, **settings)


def _spatial_axes(x, data_format):
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"global pooling expects an input with a batch, spatial and channel "
                         f"axes (rank >= 3), got shape {tuple(x.shape)}")
    first = check_data_format(data_format) == "channels_first"
    return x, tuple(range(2, x.ndim)) if first else tuple(range(1, x.ndim - 1))


def global_avg_pool(x, data_format=None, keepdims=False):
    """The mean over the spatial axes: (N, C), or (N, 1, ..., C) with ``keepdims``."""
    x, axes = _spatial_axes(x, data_format)
    return x.mean(axis=axes, keepdims=keepdims)


def global_max_pool(x, data_format=None, keepdims=False):
    """The max over the spatial axes (ties share the gradient, as ``max``)."""
    x, axes = _spatial_axes(x, data_format)
    return x.max(axis=axes, keepdims=keepdims)
