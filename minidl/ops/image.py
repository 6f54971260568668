"""Image warps: each output pixel reads the input at a transformed position.

``AffineTransform`` is what the augmentation layers (``RandomRotation``, ``RandomZoom``,
``RandomTranslation``) run. Written as plain ``xp`` code on whole arrays (no loop over
pixels), so it runs unchanged on NumPy and CuPy.
"""

from minidl.array_backend import get_array_module
from minidl.tensor import Op

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _fold_index(i, n, fill_mode, xp):
    """Map integer positions ``i`` (any, possibly outside [0, n)) into the image along an
    axis of size ``n``, as the fill mode extends the image beyond its border:

    - reflect  (d c b a | a b c d | d c b a): mirror about the edge of the last pixel, so
      the pattern repeats every 2n cells;
    - wrap     (a b c d | a b c d | a b c d): repeat every n cells;
    - nearest  (a a a a | a b c d | d d d d): clip to the border pixel;
    - constant (k k k k | a b c d | k k k k): clip too, but the caller replaces the value
      by k where ``valid`` is False.

    Returns ``(index, valid)``.
    """
    valid = (i >= 0) & (i < n)
    if fill_mode == "reflect":
        i = i % (2 * n)  # NOTE: Python's % of a negative is non-negative, as xp's
        i = xp.where(i >= n, 2 * n - 1 - i, i)
    elif fill_mode == "wrap":
        i = i % n
    else:  # nearest, constant
        i = xp.clip(i, 0, n - 1)
    return i, valid


class AffineTransform(Op):
    """Warp each image by a projective transform of its pixel grid.

    For output pixel (row y, column x) of image b, with ``transforms[b] = (a0, a1, a2, b0,
    b1, b2, c0, c1)`` (Keras's layout):

        k = c0·x + c1·y + 1
        x_in = (a0·x + a1·y + a2) / k,     y_in = (b0·x + b1·y + b2) / k

    and the output is the input sampled at (y_in, x_in): bilinear interpolation mixes the
    four neighbours ``(y0 + dy, x0 + dx)``, dy, dx in {0, 1}, with weights
    ``(1 - |y_in - y0 - dy|)·(1 - |x_in - x0 - dx|)``; nearest takes the closest one. Points
    outside the image follow ``fill_mode`` (see ``_fold_index``).

    So out[b, y, x, c] = Σ_k w_k·x[b, idx_k, c] (+ Σ w_k·fill_value over the neighbours that
    fall outside, in ``constant`` mode): a fixed linear map of the image. Its gradient sends
    each output's gradient back to the pixels it read, with the same weights:

        dx[b, idx_k, c] += w_k·g[b, y, x, c]

    No gradient flows to ``transforms`` (augmentation parameters are random, not learned).

    Args (settings):
        transforms: (batch, 8) host or device array, as above.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or ``"nearest"``.
        fill_value: the constant of ``constant`` mode.
        data_format: ``"channels_last"`` (batch, H, W, C) or ``"channels_first"``.
    """

    def __init__(self, transforms, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, data_format="channels_last"):
        self.transforms, self.interpolation = transforms, interpolation
        self.fill_mode, self.fill_value, self.data_format = fill_mode, fill_value, data_format

    def forward(self, images):
        xp = get_array_module(images)
        if self.data_format == "channels_first":
            images = xp.transpose(images, (0, 2, 3, 1))  # one code path: channels last
        n, h, w, c = images.shape
        self.shape, dtype = images.shape, images.dtype
        t = xp.asarray(self.transforms, dtype="float64").reshape(n, 8, 1, 1)
        # The output grid, broadcast to (batch, H, W): columns x, rows y.
        x = xp.arange(w, dtype="float64").reshape(1, 1, w)
        y = xp.arange(h, dtype="float64").reshape(1, h, 1)
        k = t[:, 6] * x + t[:, 7] * y + 1.0
        x_in = (t[:, 0] * x + t[:, 1] * y + t[:, 2]) / k
        y_in = (t[:, 3] * x + t[:, 4] * y + t[:, 5]) / k

        if self.interpolation == "nearest":
            # (position, weight) pairs: the nearest pixel with weight 1.
            corners = [(xp.floor(y_in + 0.5), xp.floor(x_in + 0.5), None)]
        else:
            y0, x0 = xp.floor(y_in), xp.floor(x_in)
            fy, fx = y_in - y0, x_in - x0  # distances from the top-left neighbour, in [0, 1)
            corners = [(y0, x0, (1 - fy) * (1 - fx)), (y0, x0 + 1, (1 - fy) * fx),
                       (y0 + 1, x0, fy * (1 - fx)), (y0 + 1, x0 + 1, fy * fx)]

        flat = images.reshape(n * h * w, c)  # pixel (b, i, j) is row (b·H + i)·W + j
        batch = xp.arange(n).reshape(n, 1, 1)
        out = xp.zeros((n, h, w, c), dtype=dtype)
        self.reads = []  # (flat rows read, their weights as a (n, H, W, 1) array)
        for row, col, weight in corners:
            row, row_ok = _fold_index(row.astype("int64"), h, self.fill_mode, xp)
            col, col_ok = _fold_index(col.astype("int64"), w, self.fill_mode, xp)
            weight = xp.ones((n, h, w)) if weight is None else xp.broadcast_to(weight,
                                                                             (n, h, w))
            if self.fill_mode == "constant":
                outside = ~(row_ok & col_ok)
                out += (xp.where(outside, weight, 0.0) * self.fill_value)[..., None].astype(
                    dtype)
                weight = xp.where(outside, 0.0, weight)  # nothing read, no gradient
            index = ((batch * h + row) * w + col).reshape(-1)
            weight = weight.astype(dtype)[..., None]
            out += flat[index].reshape(n, h, w, c) * weight
            self.reads.append((index, weight))
        if self.data_format == "channels_first":
            out = xp.transpose(out, (0, 3, 1, 2))
        return out

    def backward(self, g):
        xp = get_array_module(g)
        if self.data_format == "channels_first":
            g = xp.transpose(g, (0, 2, 3, 1))
        n, h, w, c = self.shape
        dx = xp.zeros((n * h * w, c), dtype=g.dtype)
        for index, weight in self.reads:
            # NOTE: several outputs may read one pixel (a zoom in, a reflection): add.at
            # adds every copy, where dx[index] += ... would keep only the last.
            xp.add.at(dx, index, (g * weight).reshape(-1, c))
        dx = dx.reshape(n, h, w, c)
        if self.data_format == "channels_first":
            dx = xp.transpose(dx, (0, 3, 1, 2))
        return (dx,)


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="reflect",
                     fill_value=0.0, data_format="channels_last"):
    """Warp a batch of images by one projective transform each (see ``AffineTransform``).

    Raises:
        ValueError: an unknown ``interpolation`` or ``fill_mode``, or ``transforms`` not of
            shape (batch, 8).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"affine_transform: interpolation must be one of {INTERPOLATIONS}, "
                         f"got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {FILL_MODES}, got "
                         f"{fill_mode!r}")
    if tuple(transforms.shape) != (images.shape[0], 8):
        raise ValueError(f"affine_transform: transforms must have shape (batch, 8) = "
                         f"({images.shape[0]}, 8), got {tuple(transforms.shape)}")
    return AffineTransform.apply(images, transforms=transforms, interpolation=interpolation,
                                 fill_mode=fill_mode, fill_value=fill_value,
                                 data_format=data_format)
