"""The reshaping, regularization and preprocessing layers of v2: each against torch (F.pad,
F.interpolate, grid_sample, permute), SciPy's map_coordinates (Keras's own reference for
its image warps) or a hand computation of Keras's documented behaviour; config round trips,
faults, and a Sequential model holding them that fits, saves and loads."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_raises

import minidl
from minidl import Tensor, layers
from minidl.errors import ShapeError
from minidl.ops.image import affine_transform

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
DTYPES = ["float32", "float64"]


@pytest.fixture(autouse=True)
def _fresh():
    minidl.backend.clear_session()
    yield
    minidl.config.set_image_data_format("channels_last")


def _vs_torch(layer, torch_fn, x, dtype):
    """Forward and input gradient (against a random cotangent) of ``layer`` vs torch."""
    rng = np.random.default_rng(1)
    x = x.astype(dtype)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    w = rng.normal(size=out.shape).astype(dtype)
    (out * Tensor(w)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ref = torch_fn(tx)
    (ref * torch.tensor(w)).sum().backward()
    assert out.shape == tuple(ref.shape) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.to_numpy(), ref.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), **TOL[dtype])
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *out.shape[1:])
    return out


def _round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


# ---- image_data_format ------------------------------------------------------------------


def test_image_data_format_defaults_to_channels_last_and_is_settable():
    assert minidl.config.image_data_format() == "channels_last"
    assert minidl.backend.image_data_format() == "channels_last"
    minidl.config.set_image_data_format("channels_first")
    assert minidl.backend.image_data_format() == "channels_first"
    # Layers created with data_format=None read it (as Keras's do).
    assert layers.ZeroPadding2D(1).data_format == "channels_first"
    assert layers.ZeroPadding2D(1, data_format="channels_last").data_format == "channels_last"
    assert layers.Conv2D(2, 3).data_format == "channels_first"
    assert layers.SeparableConv2D(2, 3).data_format == "channels_first"
    minidl.backend.set_image_data_format("channels_last")
    assert minidl.config.image_data_format() == "channels_last"


def test_unknown_data_format_is_refused_naming_the_value():
    check_raises(ValueError, "set_image_data_format.*'nhwc'",
                 minidl.config.set_image_data_format, "nhwc")
    assert minidl.config.image_data_format() == "channels_last"  # unchanged
    check_raises(ValueError, "UpSampling2D.*channels_lst", layers.UpSampling2D,
                 data_format="channels_lst")


# ---- Reshape, Permute --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", [(3, 4), (-1, 2), (2, -1, 3), (12,)])
def test_reshape_matches_torch(target, dtype):
    x = np.random.default_rng(0).normal(size=(5, 2, 6))
    _vs_torch(layers.Reshape(target), lambda t: t.reshape(5, *target), x, dtype)


def test_reshape_output_shape_infers_minus_one_and_refuses_a_mismatch():
    assert layers.Reshape((-1, 4)).compute_output_shape((None, 3, 8)) == (None, 6, 4)
    assert layers.Reshape((-1, 4)).compute_output_shape((None, None, 8)) == (None, None, 4)
    check_raises(ShapeError, r"24 values per sample.*\(5, 5\)",
                 layers.Reshape((5, 5)).compute_output_shape, (None, 3, 8))
    check_raises(ValueError, "at most one -1", layers.Reshape, (-1, -1))
    assert _round_trip(layers.Reshape((2, -1))).target_shape == (2, -1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [(2, 1), (3, 1, 2), (1, 2, 3)])
def test_permute_matches_torch(dims, dtype):
    shape = (4, 2, 3) if len(dims) == 2 else (4, 2, 3, 5)
    x = np.random.default_rng(0).normal(size=shape)
    _vs_torch(layers.Permute(dims), lambda t: t.permute(0, *dims), x, dtype)


def test_permute_refuses_a_non_permutation_and_the_wrong_rank():
    check_raises(ValueError, r"permutation of 1..2.*\(0, 1\)", layers.Permute, (0, 1))
    layer = layers.Permute((2, 1))
    check_raises(ShapeError, "permutes 2 axes", layer, np.zeros((2, 3, 4, 5)))
    assert _round_trip(layer).dims == (2, 1)


# ---- ZeroPadding2D, Cropping2D ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding, pairs", [
    (1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((0, 1), (2, 3)), ((0, 1), (2, 3))),
])  # fmt: skip
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_padding2d_matches_torch_pad(padding, pairs, data_format, dtype):
    (top, bottom), (left, right) = pairs
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3))
    layer = layers.ZeroPadding2D(padding, data_format=data_format)
    if data_format == "channels_last":  # F.pad lists pairs from the last axis backwards
        def ref(t):
            return F.pad(t, (0, 0, left, right, top, bottom))
    else:
        def ref(t):
            return F.pad(t, (left, right, top, bottom))
    _vs_torch(layer, ref, x, dtype)
    assert _round_trip(layer).padding == pairs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cropping2d_matches_torch_slicing(data_format, dtype):
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 6))
    layer = layers.Cropping2D(((1, 2), (0, 3)), data_format=data_format)
    if data_format == "channels_last":
        def ref(t):
            return t[:, 1:4, 0:4, :]
    else:
        def ref(t):
            return t[:, :, 1:5, 0:3]
    _vs_torch(layer, ref, x, dtype)
    assert _round_trip(layer).cropping == ((1, 2), (0, 3))


def test_padding_and_cropping_faults_name_the_argument():
    check_raises(ValueError, r"padding=-1", layers.ZeroPadding2D, -1)
    check_raises(ValueError, r"cropping=\(1, 2, 3\)", layers.Cropping2D, (1, 2, 3))
    check_raises(ShapeError, "expected ndim=4.*found ndim=3", layers.ZeroPadding2D(1),
                 np.zeros((2, 3, 4)))
    layer = layers.Cropping2D((2, 0))
    check_raises(ValueError, "removes 4 of the 4 cells", layer, np.zeros((1, 4, 4, 1)))


# ---- UpSampling2D ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 2)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_upsampling2d_matches_torch_interpolate(size, interpolation, data_format, dtype):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    layer = layers.UpSampling2D(size, data_format=data_format, interpolation=interpolation)
    options = {"align_corners": False} if interpolation == "bilinear" else {}

    def ref(t):
        if data_format == "channels_last":
            t = t.permute(0, 3, 1, 2)
        t = F.interpolate(t, scale_factor=size, mode=interpolation, **options)
        return t.permute(0, 2, 3, 1) if data_format == "channels_last" else t

    _vs_torch(layer, ref, x, dtype)


def test_upsampling2d_config_and_faults():
    layer = layers.UpSampling2D(3, interpolation="bilinear")
    assert layer.size == (3, 3)
    assert _round_trip(layer).get_config()["interpolation"] == "bilinear"
    check_raises(ValueError, r"size=\(0, 2\)", layers.UpSampling2D, (0, 2))
    check_raises(ValueError, "interpolation='bicubic'", layers.UpSampling2D,
                 interpolation="bicubic")


# ---- SpatialDropout ---------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape, data_format, spatial", [
    (layers.SpatialDropout1D, (64, 7, 32), None, (1,)),
    (layers.SpatialDropout2D, (64, 5, 6, 32), "channels_last", (1, 2)),
    (layers.SpatialDropout2D, (64, 32, 5, 6), "channels_first", (2, 3)),
])  # fmt: skip
def test_spatial_dropout_drops_whole_channels(cls, shape, data_format, spatial):
    kwargs = {} if data_format is None else {"data_format": data_format}
    layer = cls(0.25, seed=3, **kwargs)
    x = np.random.default_rng(0).uniform(1, 2, size=shape).astype("float32")
    assert layer(x) is not None and np.array_equal(layer(x).to_numpy(), x)  # inference
    xt = Tensor(x, requires_grad=True)
    out = layer(xt, training=True)
    out.sum().backward()
    ratio = out.to_numpy() / x
    # Each (sample, channel) map is all kept (scaled by 1/(1 - rate)) or all dropped.
    assert np.allclose(ratio.min(axis=spatial), ratio.max(axis=spatial))
    assert np.all((ratio == 0) | np.isclose(ratio, 1 / 0.75, rtol=1e-6))
    dropped = (ratio == 0).mean()
    assert 0.15 < dropped < 0.35  # 2048 channel draws at rate 0.25
    np.testing.assert_allclose(xt.grad, ratio, rtol=1e-6)  # d out / d x = the mask
    assert _round_trip(layer).rate == 0.25


def test_spatial_dropout_refuses_the_wrong_rank():
    check_raises(ShapeError, "expected ndim=3", layers.SpatialDropout1D(0.5),
                 np.zeros((2, 3, 4, 5)))
    check_raises(ShapeError, "expected ndim=4", layers.SpatialDropout2D(0.5),
                 np.zeros((2, 3, 4)))


# ---- Rescaling, Normalization -------------------------------------------------------------


def test_rescaling_scales_and_offsets_and_turns_uint8_into_floats():
    x = np.array([[0, 128, 255]], dtype="uint8")
    out = layers.Rescaling(1 / 127.5, offset=-1)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.to_numpy(), [[-1.0, 128 / 127.5 - 1, 1.0]], atol=1e-6)
    assert _round_trip(layers.Rescaling(0.5, 2.0)).get_config()["offset"] == 2.0


def test_normalization_adapt_uses_the_mean_and_population_variance():
    rng = np.random.default_rng(0)
    data = rng.normal(3, 2, size=(200, 4)).astype("float32")
    layer = layers.Normalization()
    layer.adapt(data)
    np.testing.assert_allclose(layer.mean, data.mean(axis=0, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(layer.variance, data.var(axis=0, keepdims=True), rtol=1e-5)
    assert layer.mean.shape == (1, 4)
    out = layer(data).to_numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)  # population std: exactly 1
    # The weights: mean (4,), variance (4,), count (), all non-trainable: 2n + 1 params.
    assert [w.shape for w in layer.weights] == [(4,), (4,), ()]
    assert layer.count_params() == 9 and layer.trainable_weights == []


def test_normalization_matches_kerass_documented_examples():
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]], "float32")
    layer = layers.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[0., 7., 4.]], "float32")).to_numpy(),
                               [[-1., -1., -1.]])
    layer = layers.Normalization(mean=3., variance=2.)
    np.testing.assert_allclose(layer(np.array([[1.], [2.], [3.]], "float32")).to_numpy(),
                               [[-1.4142135], [-0.70710677], [0.]], rtol=1e-6)
    assert layer.weights == []  # given statistics are constants, not weights
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[1., 2., 3.]], "float32")).to_numpy(),
                               [[2., 10., 8.]])


def test_normalization_axis_none_and_batches():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(30, 5, 2))
    layer = layers.Normalization(axis=None)
    layer.adapt(data)
    assert layer.count_params() == 3
    np.testing.assert_allclose(float(layer.adapt_mean.to_numpy()), data.mean(), rtol=1e-6)
    # An iterable of batches gives the statistics of their concatenation.
    per_feature = layers.Normalization(axis=(1, 2))
    per_feature.adapt([data[:7], data[7:19], data[19:]])
    np.testing.assert_allclose(per_feature.adapt_mean.to_numpy(), data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(per_feature.adapt_variance.to_numpy(), data.var(axis=0),
                               rtol=1e-5)
    assert float(per_feature.count.to_numpy()) == 30


def test_normalization_before_adapt_is_a_clear_error():
    layer = layers.Normalization()
    check_raises(ValueError, "'normalization' has no statistics yet.*adapt", layer,
                 np.ones((2, 3), "float32"))
    check_raises(ValueError, "both mean and variance", layers.Normalization, mean=1.0)
    check_raises(ValueError, r"mean of shape \(2,\).*0 axes", layers.Normalization,
                 axis=None, mean=[1.0, 2.0], variance=[1.0, 1.0])
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    check_raises(ShapeError, "built for inputs of shape", layer.adapt, np.ones((4, 5)))
    np.testing.assert_array_equal(layer.adapt_mean.to_numpy(), 1.0)  # unchanged


def test_normalization_config_round_trip():
    layer = layers.Normalization(axis=None, mean=1.0, variance=4.0, invert=True)
    clone = _round_trip(layer)
    assert clone.axis == () and clone.invert
    np.testing.assert_allclose(clone(np.array([[1.0]])).to_numpy(), [[3.0]])


# ---- the image warp ---------------------------------------------------------------------


def _rotations(angles, h, w):
    cos, sin = np.cos(angles), np.sin(angles)
    x_off = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2
    y_off = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2
    zeros = np.zeros_like(angles)
    return np.stack([cos, -sin, x_off, sin, cos, y_off, zeros, zeros], axis=1)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_scipy_map_coordinates(fill_mode, interpolation):
    # Keras's own tests check its warps against scipy.ndimage.map_coordinates with these
    # mode names; scipy is a dependency of torch's test stack here.
    ndimage = pytest.importorskip("scipy.ndimage")
    scipy_mode = {"constant": "grid-constant", "wrap": "grid-wrap"}.get(fill_mode, fill_mode)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 9, 2))
    h, w = 7, 9
    transforms = _rotations(rng.uniform(-1, 1, 3), h, w)
    transforms[:, 6:] = rng.uniform(-0.02, 0.02, size=(3, 2))  # a projective part too
    out = affine_transform(Tensor(x), transforms, interpolation, fill_mode, 0.5).to_numpy()
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for b, t in enumerate(transforms):
        k = t[6] * cols + t[7] * rows + 1
        coords = [(t[3] * cols + t[4] * rows + t[5]) / k, (t[0] * cols + t[1] * rows + t[2]) / k]
        for c in range(2):
            ref = ndimage.map_coordinates(x[b, :, :, c], coords, order=int(
                interpolation == "bilinear"), mode=scipy_mode, cval=0.5)
            np.testing.assert_allclose(out[b, :, :, c], ref, atol=1e-12)


@pytest.mark.parametrize("fill_mode, padding_mode", [
    ("constant", "zeros"), ("nearest", "border"), ("reflect", "reflection")])
def test_affine_transform_matches_torch_grid_sample(fill_mode, padding_mode):
    # grid_sample with align_corners=False puts pixel centres where Keras does, and its
    # padding modes are Keras's fill modes; its backward gives the input gradient.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, 8, 3))
    n, h, w, _ = x.shape
    transforms = _rotations(rng.uniform(-0.6, 0.6, n), h, w)
    xt = Tensor(x, requires_grad=True)
    out = affine_transform(xt, transforms, "bilinear", fill_mode, 0.0)
    g = rng.normal(size=out.shape)
    (out * Tensor(g)).sum().backward()
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    grid = []
    for t in transforms:
        x_in, y_in = t[0] * cols + t[1] * rows + t[2], t[3] * cols + t[4] * rows + t[5]
        grid.append(np.stack([(2 * x_in + 1) / w - 1, (2 * y_in + 1) / h - 1], axis=-1))
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    ref = F.grid_sample(tx, torch.tensor(np.array(grid)), mode="bilinear",
                        padding_mode=padding_mode, align_corners=False)
    (ref * torch.tensor(g.transpose(0, 3, 1, 2))).sum().backward()
    np.testing.assert_allclose(out.to_numpy(), ref.detach().numpy().transpose(0, 2, 3, 1),
                               atol=1e-12)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


def test_affine_transform_channels_first_equals_channels_last():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 6, 3))
    t = _rotations(np.array([0.3, -1.0]), 5, 6)
    last = affine_transform(Tensor(x), t).to_numpy()
    first = affine_transform(Tensor(x.transpose(0, 3, 1, 2)), t,
                             data_format="channels_first").to_numpy()
    np.testing.assert_allclose(first.transpose(0, 2, 3, 1), last, atol=1e-14)


# ---- the augmentation layers -----------------------------------------------------------

AUGMENTATIONS = [
    lambda **kw: layers.RandomFlip(**kw),
    lambda **kw: layers.RandomRotation(0.2, **kw),
    lambda **kw: layers.RandomZoom(0.3, **kw),
    lambda **kw: layers.RandomZoom((-0.3, 0.2), (0.1, 0.4), **kw),
    lambda **kw: layers.RandomTranslation(0.2, 0.3, **kw),
]
AUG_IDS = ["flip", "rotation", "zoom", "zoom_hw", "translation"]


@pytest.mark.parametrize("make", AUGMENTATIONS, ids=AUG_IDS)
def test_augmentation_is_the_identity_outside_training_and_seeded_inside(make):
    x = np.random.default_rng(0).uniform(size=(8, 6, 7, 3)).astype("float32")

    def fresh(seed):  # as Dropout: a seed fixes the stream of the n-th layer of a kind
        minidl.utils.set_random_seed(0)
        return make(seed=seed)

    layer = fresh(5)
    assert layer(x).to_numpy() is x or np.array_equal(layer(x).to_numpy(), x)
    first = layer(x, training=True).to_numpy()
    assert first.shape == x.shape and first.dtype == np.float32
    assert not np.allclose(first, x)  # eight images, none left unchanged by chance
    again = fresh(5)(x, training=True).to_numpy()
    np.testing.assert_array_equal(first, again)  # same seed, same output
    other = fresh(6)(x, training=True).to_numpy()
    assert not np.array_equal(first, other)
    one = layer(x[0], training=True)  # a single image (3-D), as Keras accepts
    assert one.shape == x[0].shape
    assert _round_trip(layer).get_config() == layer.get_config()


def test_augmentation_follows_the_global_seed():
    x = np.random.default_rng(0).uniform(size=(4, 5, 5, 1)).astype("float32")
    outs = []
    for _ in range(2):
        minidl.utils.set_random_seed(11)
        outs.append(layers.RandomRotation(0.3)(x, training=True).to_numpy())
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_flip_exactly_reverses_an_axis(mode, data_format):
    x = np.random.default_rng(0).normal(size=(64, 4, 5, 3))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    xt = Tensor(x, requires_grad=True)
    out = layers.RandomFlip(mode, seed=1, data_format=data_format)(xt, training=True)
    out.to_numpy()
    seen = set()
    for img, res in zip(x, out.to_numpy()):
        options = {"none": img, "h": np.flip(img, w_axis - 1), "v": np.flip(img, h_axis - 1),
                   "hv": np.flip(np.flip(img, w_axis - 1), h_axis - 1)}
        match = [k for k, v in options.items() if np.array_equal(v, res)]
        assert match, "each image is itself or an exact flip"
        seen.add(match[0])
    allowed = {"horizontal": {"none", "h"}, "vertical": {"none", "v"},
               "horizontal_and_vertical": {"none", "h", "v", "hv"}}[mode]
    assert seen == allowed  # 64 images: every allowed outcome occurs, no other
    g = np.random.default_rng(1).normal(size=x.shape)
    (out * Tensor(g)).sum().backward()
    # The gradient goes back through the same flips: <g, flip(x)> = <flip⁻¹(g), x>.
    np.testing.assert_allclose((xt.grad * x).sum(), (g * out.to_numpy()).sum(), rtol=1e-12)


def test_random_rotation_by_half_a_turn_flips_both_axes():
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 1))
    out = layers.RandomRotation((0.5, 0.5))(x, training=True).to_numpy()
    np.testing.assert_allclose(out, x[:, ::-1, ::-1, :], atol=1e-12)


def test_random_translation_by_whole_pixels_shifts_and_fills():
    x = np.random.default_rng(0).normal(size=(1, 4, 5, 1))
    # height factor 0.25 of 4 rows = 1 row down; width -0.4 of 5 columns = 2 columns left.
    layer = layers.RandomTranslation((0.25, 0.25), (-0.4, -0.4), fill_mode="constant",
                                     fill_value=7.0)
    out = layer(x, training=True).to_numpy()[0, :, :, 0]
    expected = np.full((4, 5), 7.0)
    expected[1:, :3] = x[0, :3, 2:, 0]
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_random_zoom_out_by_two_samples_every_other_pixel_about_the_centre():
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 1))
    # zoom 2 (factor +1: zoom out): output pixel i reads input 2·i - 2 (centre 2 fixed).
    out = layers.RandomZoom((1.0, 1.0), fill_mode="constant")(x, training=True).to_numpy()
    np.testing.assert_allclose(out[0, 1:4, 1:4, 0], x[0, ::2, ::2, 0], atol=1e-12)
    assert np.all(out[0, 0] == 0) and np.all(out[0, :, 4] == 0)


def test_augmentation_faults_name_the_argument():
    check_raises(ValueError, "mode='diagonal'", layers.RandomFlip, "diagonal")
    check_raises(ValueError, "factor=1.5", layers.RandomRotation, 1.5)
    check_raises(ValueError, "fill_mode='mirror'", layers.RandomZoom, 0.1, fill_mode="mirror")
    check_raises(ValueError, "interpolation='cubic'", layers.RandomTranslation, 0.1, 0.1,
                 interpolation="cubic")
    check_raises(ShapeError, "ndim=4.*ndim=3.*found ndim=2", layers.RandomFlip(),
                 np.zeros((3, 4)))


# ---- in a model ---------------------------------------------------------------------------


def test_a_sequential_model_with_the_new_layers_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, size=64)
    minidl.utils.set_random_seed(0)
    norm = layers.Normalization(axis=None)
    norm.adapt(x / 255.0)
    model = minidl.Sequential([
        minidl.Input(shape=(8, 8, 1)),
        layers.Rescaling(1 / 255.0),
        norm,
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.05),
        layers.RandomZoom(0.1),
        layers.RandomTranslation(0.1, 0.1),
        layers.ZeroPadding2D(1),
        layers.Cropping2D(((1, 1), (0, 2))),
        layers.UpSampling2D((1, 2)),
        layers.SpatialDropout2D(0.1),
        layers.Permute((2, 1, 3)),
        layers.Reshape((16, -1)),
        layers.SpatialDropout1D(0.1),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])  # fmt: skip
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "normalization (Normalization)" in text and "(None, 16, 8)" in text
    assert "Non-trainable params: 3 " in text  # the statistics: mean, variance, count
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    before = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = minidl.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    assert float(loaded.layers[1].count.to_numpy()) == x.size


def test_fit_with_an_unadapted_normalization_fails_before_any_change():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.zeros(16, dtype="int64")
    model = minidl.Sequential([minidl.Input(shape=(4,)), layers.Normalization(),
                               layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    check_raises(ValueError, "no statistics yet: call layer.adapt", model.fit, x, y,
                 verbose=0)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert int(model.optimizer.iterations) == 0
    # After adapt, the same model trains; summary counts 2n + 1 statistics (n = 4).
    model.layers[0].adapt(x)
    model.fit(x, y, epochs=1, verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Non-trainable params: 9 " in line for line in lines)
