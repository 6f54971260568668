"""Preprocessing layers: ``Rescaling``, ``Normalization``, and the image augmentation layers
``RandomFlip``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation``.

The augmentation layers are active only with ``training=True`` (what ``fit`` passes) and
the identity otherwise, as in Keras. Their random draws come from the layer's own stream
of minidl's generator (as ``Dropout``'s masks), so ``set_random_seed`` makes them
reproducible and ``fit`` restarts them each epoch (``reseed``).
"""

import math

import numpy as np

from minidl import config
from minidl import random as mrandom
from minidl.array_backend import get_array_module
from minidl.errors import ShapeError
from minidl.layers.base import Layer
from minidl.ops import image as image_ops
from minidl.tensor import Tensor


class Rescaling(Layer):
    """``output = inputs · scale + offset``, e.g. ``Rescaling(1 / 255)`` for pixel values.

    Args:
        scale: a number (or an array broadcast against the inputs).
        offset: a number (or an array), default 0.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)  # elementwise: the shape is the input's

    def call(self, inputs, training=False):
        dtype = self.dtype or (inputs.dtype if inputs.dtype.kind == "f" else config.floatx())
        if inputs.dtype != dtype:  # integer pixels (uint8) become floats, as in Keras
            inputs = inputs.astype(dtype)
        xp = get_array_module(inputs.data)
        scale = Tensor(xp.asarray(self.scale, dtype=dtype))
        offset = Tensor(xp.asarray(self.offset, dtype=dtype))
        return inputs * scale + offset

    def get_config(self):
        def plain(value):
            return np.asarray(value).tolist() if np.ndim(value) else float(value)

        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Normalization(Layer):
    """Standardizes features: ``(inputs - mean) / max(sqrt(variance), 1e-7)``.

    The mean and variance are either given (``mean=``, ``variance=``) or computed from
    data by ``adapt(data)``, over every axis except those in ``axis``, as Keras does: the
    mean and the population variance (dividing by the count, not count - 1). Adapted
    statistics are non-trainable weights, saved with the model: ``mean`` and ``variance``
    (one value per position of the kept axes) and ``count`` (so ``summary`` shows 2n + 1
    parameters for n features, 3 with ``axis=None``).

        >>> import numpy as np
        >>> layer = Normalization()
        >>> layer.adapt(np.array([[0.0, 7.0], [2.0, 9.0]], dtype="float32"))
        >>> layer(np.array([[1.0, 9.0]], dtype="float32")).tolist()
        [[0.0, 1.0]]

    NOTE: Keras 3 keeps ``count`` only for old files and leaves it 0. Here ``adapt`` stores
    the number of values each statistic was computed from (Keras 2's meaning), so a layer
    loaded from a file knows it was adapted.

    Args:
        axis: the axis or axes that keep their own statistics (default -1: one per feature);
            None for one mean and variance over everything.
        mean, variance: given statistics (both or neither), broadcast to the kept axes.
        invert: apply the inverse, ``mean + inputs · sqrt(variance)``.

    Raises:
        ValueError: only one of mean/variance given; (at call) neither given nor adapted.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization: give both mean and variance, or neither (and "
                             f"call adapt); got mean={mean!r}, variance={variance!r}")
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        self.axis = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if mean is not None and np.ndim(mean) > len(self.axis):
            raise ValueError(f"Normalization: a mean of shape {np.shape(mean)} has more axes "
                             f"than the {len(self.axis)} axes kept by axis={axis!r}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self.adapt_mean = self.adapt_variance = self.count = None

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ShapeError(f"Normalization '{self.name}': axis={self.axis} is out of range "
                             f"for inputs of shape {tuple(input_shape)}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        for a in self._keep:
            if input_shape[a] is None:
                raise ShapeError(f"Normalization '{self.name}': axis {a} of the input shape "
                                 f"{tuple(input_shape)} keeps its own statistics, so its size "
                                 f"must be known")
        self._reduce = tuple(a for a in range(ndim) if a not in self._keep)
        # The statistics broadcast against inputs: size 1 on every reduced axis.
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep else 1
                                      for a in range(ndim))
        stats_shape = tuple(input_shape[a] for a in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(stats_shape, "zeros", "mean", trainable=False)
            self.adapt_variance = self.add_weight(stats_shape, "ones", "variance",
                                                  trainable=False)
            self.count = self.add_weight((), "zeros", "count", trainable=False)

    def adapt(self, data):
        """Compute the mean and population variance of ``data`` over the reduced axes.

        Args:
            data: an array, or an iterable of batches (arrays), combined exactly as one
                array would be (the running mean and the lack-of-fit sum of squares).

        Raises:
            ValueError: empty data, or a layer given ``mean``/``variance``.
            ShapeError: data whose kept axes differ from the layer's.
        """
        if self.input_mean is not None:
            raise ValueError(f"Normalization '{self.name}' was given mean and variance; adapt "
                             "would be ignored. Create it without them to adapt it")
        if isinstance(data, (list, tuple)) and not any(hasattr(b, "shape") for b in data):
            data = np.asarray(data)  # nested lists of numbers: one array, not batches
        batches = [data] if hasattr(data, "shape") else data
        total_mean = total_var = None
        total = 0
        for batch in batches:
            batch = np.asarray(batch.to_numpy() if isinstance(batch, Tensor) else batch,
                               dtype="float64")
            if not self.built:
                self.build_for(batch.shape)
            self._check_kept_axes(batch.shape)
            mean = batch.mean(axis=self._reduce)
            var = batch.var(axis=self._reduce)
            n = math.prod(batch.shape[a] for a in self._reduce)
            if total_mean is None:
                total_mean, total_var, total = mean, var, n
                continue
            # Merge two groups: the new mean is the weighted mean; the variance adds each
            # group's spread about the new mean (the lack-of-fit sum of squares).
            total += n
            w_new = n / total
            merged = total_mean * (1 - w_new) + mean * w_new
            total_var = ((total_var + (total_mean - merged) ** 2) * (1 - w_new)
                         + (var + (mean - merged) ** 2) * w_new)
            total_mean = merged
        if total_mean is None or total == 0:
            raise ValueError(f"Normalization '{self.name}': adapt received no data")
        for weight, value in ((self.adapt_mean, total_mean), (self.adapt_variance, total_var),
                              (self.count, total)):
            weight.assign(np.asarray(value, dtype=weight.dtype))

    def _check_kept_axes(self, shape):
        expected = self.input_shape or self._broadcast_shape
        if len(shape) != len(self._broadcast_shape) or any(
                shape[a] != self._broadcast_shape[a] for a in self._keep):
            raise ShapeError(f"Normalization '{self.name}' was built for inputs of shape "
                             f"{tuple(expected)} but got data of shape {tuple(shape)}")

    @property
    def mean(self):
        """The mean, broadcastable against inputs (shape (1, n) for axis=-1 on 2-D data)."""
        return self._statistic(self.input_mean, self.adapt_mean)

    @property
    def variance(self):
        return self._statistic(self.input_variance, self.adapt_variance)

    def _statistic(self, given, weight):
        if not self.built:
            return None
        if given is not None:
            value = np.asarray(given, dtype=self.dtype or config.floatx())
            if value.ndim:  # align the given axes with the kept axes, from the right
                shape = [1] * len(self._broadcast_shape)
                for i in range(1, value.ndim + 1):
                    shape[self._keep[-i]] = value.shape[-i]
                value = value.reshape(shape)
            return np.broadcast_to(value, self._broadcast_shape)
        return weight.data.reshape(self._broadcast_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)  # elementwise: the shape is the input's

    def call(self, inputs, training=False):
        if self.input_mean is None and float(self.count.to_numpy()) == 0:
            raise ValueError(
                f"Normalization layer '{self.name}' has no statistics yet: call "
                f"layer.adapt(data) before using it, or create it with mean=... and "
                f"variance=..."
            )
        xp = get_array_module(inputs.data)
        dtype = np.dtype(inputs.dtype if inputs.dtype.kind == "f" else config.floatx())
        if inputs.dtype != dtype:
            inputs = inputs.astype(dtype)
        mean = Tensor(xp.asarray(self.mean, dtype=dtype))
        # The floor 1e-7 keeps a constant feature (variance 0) finite, as Keras does.
        std = Tensor(xp.maximum(xp.sqrt(xp.asarray(self.variance, dtype=dtype)),
                                dtype.type(config.epsilon())))
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def get_config(self):
        def plain(value):
            return None if value is None else np.asarray(value).tolist()

        axis = None if self.axis == () else list(self.axis)
        return {**super().get_config(), "axis": axis, "invert": self.invert,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance)}


# ---------------------------------------------------------------------------------------
# Image augmentation
# ---------------------------------------------------------------------------------------


def _factor_range(value, arg, owner, symmetric=True):
    """Keras's factor forms: a number f gives [-|f|, |f|]; a pair gives [low, high] (sorted).
    Each number must lie in [-1, 1]."""
    message = (f"{owner}: {arg} must be a number or a tuple of 2 numbers in [-1, 1], "
               f"got {arg}={value!r}")
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(_is_number(v) and -1 <= v <= 1 for v in value):
            raise ValueError(message)
        return tuple(sorted(float(v) for v in value))
    if not _is_number(value) or not -1 <= value <= 1:
        raise ValueError(message)
    return (-abs(float(value)), abs(float(value)))


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool)


class _RandomImageLayer(Layer):
    """What the augmentation layers share: the data format, the random stream, the rank
    check (a batch (4-D) or one image (3-D)), and the identity outside training."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        self.data_format = config.standardize_data_format(data_format, type(self).__name__)
        super().__init__(**kwargs)
        self.seed = seed
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            self._generator = mrandom.generator(f"{self.random_key}/augment", seed=self.seed)
        return self._generator

    def reseed(self, key):
        self._generator = mrandom.generator(f"{self.random_key}/augment/{key}",
                                            seed=self.seed)

    def build(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ShapeError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"a batch of images (ndim=4) or one image (ndim=3), found ndim="
                f"{len(input_shape)}. Full shape received: {tuple(input_shape)}"
            )

    def __call__(self, inputs, training=False):
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        if x.ndim == 3:  # one image: Keras accepts it; run it as a batch of one
            if not self.built:
                self.build_for((None, *x.shape))
            return super().__call__(x[None], training=training)[0]
        return super().__call__(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)  # elementwise: the shape is the input's

    def call(self, inputs, training=False):
        if not training:
            return inputs
        if inputs.dtype.kind != "f":
            inputs = inputs.astype(config.floatx())
        return self.augment(inputs)

    def _height_width(self, shape):
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2],
                                                                                 shape[3])

    def _warp(self, inputs, transforms):
        return image_ops.affine_transform(inputs, transforms, self.interpolation,
                                          self.fill_mode, self.fill_value, self.data_format)

    def _check_warp_options(self, fill_mode, interpolation):
        name = type(self).__name__
        if fill_mode not in image_ops.FILL_MODES:
            raise ValueError(f"{name}: fill_mode must be one of {image_ops.FILL_MODES}, got "
                             f"fill_mode={fill_mode!r}")
        if interpolation not in image_ops.INTERPOLATIONS:
            raise ValueError(f"{name}: interpolation must be one of "
                             f"{image_ops.INTERPOLATIONS}, got interpolation={interpolation!r}")

    def _warp_config(self):
        """The warp options of Rotation, Zoom and Translation, for their ``get_config``."""
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_RandomImageLayer):
    """Flips each image left-right and/or upside down, each with probability 1/2, in
    training; the identity otherwise.

    A flip reverses an axis exactly (a gather of the same values in reverse order; its
    gradient sends each value back to where it came from).

    Args:
        mode: ``"horizontal"`` (reverse the width axis), ``"vertical"`` (the height axis) or
            ``"horizontal_and_vertical"`` (each independently).
        seed: an int for a stream independent of the global seed.
        data_format: ``"channels_last"`` or ``"channels_first"``.
    """

    _MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None,
                 **kwargs):
        if mode not in self._MODES:
            raise ValueError(f"RandomFlip: mode must be one of {self._MODES}, got "
                             f"mode={mode!r}")
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = mode

    def augment(self, inputs):
        xp = get_array_module(inputs.data)
        n = inputs.shape[0]
        h, w = self._height_width(inputs.shape)
        # Per image: the source row of each output row (reversed where flipped), same for
        # columns; then one gather with index arrays broadcast to the batch's shape.
        rows = np.broadcast_to(np.arange(h), (n, h))
        cols = np.broadcast_to(np.arange(w), (n, w))
        if self.mode != "horizontal":
            flip = self.generator.random(n) < 0.5
            rows = np.where(flip[:, None], rows[:, ::-1], rows)
        if self.mode != "vertical":
            flip = self.generator.random(n) < 0.5
            cols = np.where(flip[:, None], cols[:, ::-1], cols)
        batch = xp.arange(n).reshape(n, 1, 1, 1)
        if self.data_format == "channels_last":
            c = inputs.shape[3]
            index = (batch, xp.asarray(rows).reshape(n, h, 1, 1),
                     xp.asarray(cols).reshape(n, 1, w, 1), xp.arange(c).reshape(1, 1, 1, c))
        else:
            c = inputs.shape[1]
            index = (batch, xp.arange(c).reshape(1, c, 1, 1),
                     xp.asarray(rows).reshape(n, 1, h, 1), xp.asarray(cols).reshape(n, 1, 1, w))
        return inputs[index]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_RandomImageLayer):
    """Rotates each image about its centre by a random angle, in training.

    The angle is drawn uniformly from ``factor`` × 2π (a positive angle turns the image
    counter-clockwise); the output pixel (x, y) reads the input at that point rotated
    about the centre ((W - 1)/2, (H - 1)/2), with ``interpolation``; points from outside
    the image follow ``fill_mode``.

    Args:
        factor: a fraction of a full turn: f gives [-f, f]; (low, high) gives that range.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"``, ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: an int for a stream independent of the global seed.
        fill_value: the value of ``constant`` mode.
        data_format: ``"channels_last"`` or ``"channels_first"``.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        self.lower, self.upper = _factor_range(factor, "factor", "RandomRotation")
        self._check_warp_options(fill_mode, interpolation)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def augment(self, inputs):
        n = inputs.shape[0]
        h, w = self._height_width(inputs.shape)
        angle = self.generator.uniform(self.lower * 2 * np.pi, self.upper * 2 * np.pi, n)
        cos, sin = np.cos(angle), np.sin(angle)
        # Rotation about the centre: x_in = cos·x - sin·y + x_off, y_in = sin·x + cos·y +
        # y_off, with the offsets that map the centre onto itself.
        x_off = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2
        y_off = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2
        zeros = np.zeros(n)
        transforms = np.stack([cos, -sin, x_off, sin, cos, y_off, zeros, zeros], axis=1)
        return self._warp(inputs, transforms)

    def get_config(self):
        return {**super().get_config(), "factor": _plain(self.factor), **self._warp_config()}


class RandomZoom(_RandomImageLayer):
    """Zooms each image in or out about its centre by a random amount, in training.

    For a zoom z = 1 + u, u drawn from the factor's range, the output pixel x reads the
    input at ``z·x + (W - 1)/2·(1 - z)`` (and likewise for rows): z > 1 (a positive
    factor) shows more of the image, i.e. zooms out; z < 1 zooms in.

    Args:
        height_factor: f gives u in [-f, f]; (low, high) that range; each in [-1, 1].
        width_factor: the same for columns; None (default) uses the height's zoom, keeping
            the aspect ratio.
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        self.height_range = _factor_range(height_factor, "height_factor", "RandomZoom")
        self.width_range = (None if width_factor is None else
                            _factor_range(width_factor, "width_factor", "RandomZoom"))
        self._check_warp_options(fill_mode, interpolation)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def augment(self, inputs):
        n = inputs.shape[0]
        h, w = self._height_width(inputs.shape)
        zoom_y = 1.0 + self.generator.uniform(*self.height_range, n)
        zoom_x = zoom_y if self.width_range is None else \
            1.0 + self.generator.uniform(*self.width_range, n)
        zeros = np.zeros(n)
        transforms = np.stack([zoom_x, zeros, (w - 1) / 2 * (1 - zoom_x),
                               zeros, zoom_y, (h - 1) / 2 * (1 - zoom_y), zeros, zeros], axis=1)
        return self._warp(inputs, transforms)

    def get_config(self):
        return {**super().get_config(), "height_factor": _plain(self.height_factor),
                "width_factor": _plain(self.width_factor), **self._warp_config()}


class RandomTranslation(_RandomImageLayer):
    """Shifts each image by a random fraction of its height and width, in training.

    For shifts (dy, dx) = (u·H, v·W), u and v drawn from the factors' ranges, the output
    pixel (x, y) reads the input at (x - dx, y - dy): a positive factor moves the content
    down / right.

    Args:
        height_factor: f gives u in [-f, f]; (low, high) that range; each in [-1, 1].
        width_factor: the same for v.
        fill_mode, interpolation, seed, fill_value, data_format: as ``RandomRotation``.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        self.height_range = _factor_range(height_factor, "height_factor", "RandomTranslation")
        self.width_range = _factor_range(width_factor, "width_factor", "RandomTranslation")
        self._check_warp_options(fill_mode, interpolation)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, fill_value

    def augment(self, inputs):
        n = inputs.shape[0]
        h, w = self._height_width(inputs.shape)
        dy = self.generator.uniform(*self.height_range, n) * h
        dx = self.generator.uniform(*self.width_range, n) * w
        ones, zeros = np.ones(n), np.zeros(n)
        transforms = np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)
        return self._warp(inputs, transforms)

    def get_config(self):
        return {**super().get_config(), "height_factor": _plain(self.height_factor),
                "width_factor": _plain(self.width_factor), **self._warp_config()}


def _plain(value):
    """A factor as JSON: a number stays a number, a pair becomes a list."""
    return list(value) if isinstance(value, (tuple, list)) else value
