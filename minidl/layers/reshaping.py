"""Layers that change the shape of each sample: ``Flatten``, ``Reshape``, ``Permute``,
``ZeroPadding2D``, ``Cropping2D``, ``UpSampling2D``."""

import numpy as np

from minidl import config
from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.layers.base import Layer
from minidl.ops.reshaping import Reshape as ReshapeOp
from minidl.ops.reshaping import Transpose, broadcast_to, pad, reshape, transpose
from minidl.tensor import Tensor


class Flatten(Layer):
    """Flattens each sample: (batch, d1, d2, ...) -> (batch, d1·d2·...)."""

    def call(self, inputs, training=False):
        return ReshapeOp.apply(inputs, shape=(inputs.shape[0], -1))

    def compute_output_shape(self, input_shape):
        size = 1
        for n in input_shape[1:]:
            size = None if n is None or size is None else size * n
        return (input_shape[0], size)


# ---- helpers shared by the image layers -----------------------------------------------


def check_ndim(layer, input_shape, ndim, what="(batch, height, width, channels)"):
    """Keras's InputSpec check: inputs of rank ``ndim``, else a ShapeError naming the layer."""
    if len(input_shape) != ndim:
        raise ShapeError(
            f"Input 0 of layer '{layer.name}' is incompatible with the layer: expected "
            f"ndim={ndim} {what}, found ndim={len(input_shape)}. Full shape received: "
            f"{tuple(input_shape)}"
        )


def int_pairs(value, arg, owner, allow_zero=True):
    """Keras's forms of a 2-D padding/cropping: an int (all four sides), two ints
    (symmetric height, symmetric width) or two pairs ((top, bottom), (left, right)).

    Returns ``((top, bottom), (left, right))`` as Python ints.

    Raises:
        ValueError: another form or a negative entry, naming ``arg`` and the value.
    """
    error = ValueError(f"{owner}: {arg} must be an int, a tuple of 2 ints or a tuple of 2 "
                       f"tuples of 2 ints, all >= 0; got {arg}={value!r}")

    def as_int(n):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise error
        return int(n)

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        n = as_int(value)
        return ((n, n), (n, n))
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise error
    pairs = []
    for item in value:
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise error
            pairs.append((as_int(item[0]), as_int(item[1])))
        else:
            n = as_int(item)
            pairs.append((n, n))
    return tuple(pairs)


def spatial_axes(data_format):
    """The (height, width) axes of a 4-D image batch in ``data_format``."""
    return (1, 2) if data_format == "channels_last" else (2, 3)


# ---- the layers -----------------------------------------------------------------------


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    One entry of ``target_shape`` may be -1: it is inferred from the sample's size, as in
    NumPy.

        >>> import numpy as np
        >>> Reshape((3, -1))(np.zeros((2, 12), dtype="float32")).shape
        (2, 3, 4)

    Args:
        target_shape: the new shape of one sample (a tuple of ints, at most one -1).

    Raises:
        ValueError: more than one -1, or an entry that is 0 or below -1.
        ShapeError: a sample's size that cannot fill ``target_shape``.
    """

    def __init__(self, target_shape, **kwargs):
        target_shape = (target_shape,) if isinstance(target_shape, int) else target_shape
        target_shape = tuple(int(n) for n in target_shape)
        if sum(n == -1 for n in target_shape) > 1 or any(n == 0 or n < -1
                                                          for n in target_shape):
            raise ValueError(f"Reshape: target_shape must hold positive ints and at most one "
                             f"-1, got target_shape={target_shape}")
        super().__init__(**kwargs)
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        size = 1
        for n in input_shape[1:]:
            size = None if n is None or size is None else size * n
        known = 1
        for n in self.target_shape:
            known *= n if n != -1 else 1
        if -1 not in self.target_shape:
            if size is not None and size != known:
                raise ShapeError(
                    f"Reshape '{self.name}': the input has {size} values per sample (shape "
                    f"{tuple(input_shape)}), target_shape {self.target_shape} needs {known}"
                )
            return (input_shape[0], *self.target_shape)
        if size is not None and size % known:
            raise ShapeError(
                f"Reshape '{self.name}': the input has {size} values per sample (shape "
                f"{tuple(input_shape)}), which is not a multiple of the {known} that "
                f"target_shape {self.target_shape} fixes"
            )
        missing = None if size is None else size // known
        return (input_shape[0], *(missing if n == -1 else n for n in self.target_shape))

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)  # a clear error before NumPy's
        return ReshapeOp.apply(inputs, shape=(inputs.shape[0], *self.target_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permutes the axes of each sample: ``dims`` counts from 1 (the batch axis stays).

        >>> import numpy as np
        >>> Permute((2, 1))(np.zeros((4, 10, 64), dtype="float32")).shape
        (4, 64, 10)

    Args:
        dims: a permutation of ``1 .. rank - 1``.

    Raises:
        ValueError: ``dims`` is not such a permutation.
    """

    def __init__(self, dims, **kwargs):
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(dims)} (the batch "
                             f"axis 0 is not permuted), got dims={dims}")
        super().__init__(**kwargs)
        self.dims = dims

    def build(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ShapeError(f"Permute '{self.name}': dims={self.dims} permutes "
                             f"{len(self.dims)} axes but each sample of the input (shape "
                             f"{tuple(input_shape)}) has {len(input_shape) - 1}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=False):
        return Transpose.apply(inputs, axes=(0, *self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: an int (the same on all four sides), a tuple of 2 ints (symmetric height
            padding, symmetric width padding) or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None:
            ``keras.config.image_data_format()``).

    Raises:
        ValueError: a negative or malformed ``padding``, an unknown ``data_format``.
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        self.padding = int_pairs(padding, "padding", "ZeroPadding2D")
        self.data_format = config.standardize_data_format(data_format, "ZeroPadding2D")
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_ndim(self, input_shape, 4)

    def _pad_width(self):
        rows, cols = self.padding
        if self.data_format == "channels_last":
            return ((0, 0), rows, cols, (0, 0))
        return ((0, 0), (0, 0), rows, cols)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in enumerate(self._pad_width()):
            if out[axis] is not None:
                out[axis] += before + after
        return tuple(out)

    def call(self, inputs, training=False):
        return pad(inputs, self._pad_width())

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding],
                "data_format": self.data_format}


class Cropping2D(Layer):
    """Cuts rows and columns off the borders of each image.

    Args:
        cropping: an int (the same on all four sides), a tuple of 2 ints (symmetric height
            cropping, symmetric width cropping) or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` or ``"channels_first"`` (None:
            ``keras.config.image_data_format()``).

    Raises:
        ValueError: a negative or malformed ``cropping``, an unknown ``data_format``, or
            (at build) a cropping that leaves no row or column.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        self.cropping = int_pairs(cropping, "cropping", "Cropping2D")
        self.data_format = config.standardize_data_format(data_format, "Cropping2D")
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_ndim(self, input_shape, 4)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.cropping):
            if out[axis] is not None:
                if before + after >= out[axis]:
                    raise ValueError(
                        f"Cropping2D '{self.name}': cropping={self.cropping} removes "
                        f"{before + after} of the {out[axis]} cells of axis {axis} of inputs "
                        f"of shape {tuple(input_shape)}; it must leave at least one"
                    )
                out[axis] -= before + after
        return tuple(out)

    def call(self, inputs, training=False):
        self.compute_output_shape(inputs.shape)
        index = [slice(None)] * 4
        for axis, (before, after) in zip(spatial_axes(self.data_format), self.cropping):
            index[axis] = slice(before, inputs.shape[axis] - after)
        return inputs[tuple(index)]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping],
                "data_format": self.data_format}


def _bilinear_matrix(n_in, scale, dtype):
    """The (n_in·scale, n_in) matrix A with ``A @ row`` = the row resized by ``scale`` with
    linear interpolation at half-pixel centres (``align_corners=False``), as Keras's and
    PyTorch's bilinear resizing: output cell i reads the input at ``(i + 0.5)/scale - 0.5``
    (clamped at 0), mixing its two neighbours by distance."""
    n_out = n_in * scale
    src = np.maximum((np.arange(n_out) + 0.5) / scale - 0.5, 0.0)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.arange(n_out), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(n_out), hi), frac)
    return matrix.astype(dtype)


class UpSampling2D(Layer):
    """Repeats the rows and columns of each image ``size`` times (nearest), or resizes it
    by ``size`` with bilinear interpolation.

    Nearest is a broadcast then a reshape: (N, H, 1, W, 1, C) -> (N, H, sh, W, sw, C) ->
    (N, H·sh, W·sw, C); its gradient sums each block back (the engine's broadcast rule).
    Bilinear is two matrix products, ``A_h @ image @ A_wᵀ`` (each output cell is a fixed
    mix of its input neighbours), so its gradient is the transposed products.

    Args:
        size: an int or (rows, cols) factors (positive ints).
        data_format: ``"channels_last"`` or ``"channels_first"`` (None:
            ``keras.config.image_data_format()``).
        interpolation: ``"nearest"`` or ``"bilinear"``.

    Raises:
        ValueError: a factor that is not a positive int, an unknown ``data_format`` or
            ``interpolation``.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                                 or s < 1 for s in size):
            raise ValueError(f"UpSampling2D: size must be a positive int or a tuple of 2 "
                             f"positive ints, got size={size!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', "
                             f"got interpolation={interpolation!r}")
        self.size = tuple(int(s) for s in size)
        self.data_format = config.standardize_data_format(data_format, "UpSampling2D")
        self.interpolation = interpolation
        super().__init__(**kwargs)

    def build(self, input_shape):
        check_ndim(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for axis, s in zip(spatial_axes(self.data_format), self.size):
            out[axis] = None if out[axis] is None else out[axis] * s
        return tuple(out)

    def call(self, inputs, training=False):
        channels_last = self.data_format == "channels_last"
        x = inputs if not channels_last else transpose(inputs, (0, 3, 1, 2))
        n, c, h, w = x.shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            x = reshape(x, (n, c, h, 1, w, 1))
            x = broadcast_to(x, (n, c, h, sh, w, sw))
            x = reshape(x, (n, c, h * sh, w * sw))
        else:
            xp = get_array_module(x.data)
            rows = Tensor(xp.asarray(_bilinear_matrix(h, sh, x.dtype)))
            cols = Tensor(xp.asarray(_bilinear_matrix(w, sw, x.dtype).T))
            x = rows @ x @ cols  # (H', H) @ (N, C, H, W) @ (W, W')
        return x if not channels_last else transpose(x, (0, 2, 3, 1))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size),
                "data_format": self.data_format, "interpolation": self.interpolation}
