"""Conv2DTranspose, DepthwiseConv2D and SeparableConv2D against torch (the same weights in
torch's layouts), Keras's output-size rules, configs, faults, and a model that fits, saves
and loads."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_raises

import minidl
from minidl import Tensor, layers
from minidl.errors import ShapeError

TOL = {"float32": {"rtol": 2e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-11}}


@pytest.fixture(autouse=True)
def _fresh():
    minidl.backend.clear_session()
    yield
    minidl.config.set_image_data_format("channels_last")


def _keras_same_pads(n, k, s, d):
    """TensorFlow's 'same' padding of a convolution: output ceil(n / s), the odd cell after."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _compare(layer, x, torch_fn, dtype, data_format):
    """Forward, input and weight gradients of ``layer`` vs ``torch_fn(x_nchw, *weights)``."""
    minidl.config.set_floatx(dtype)
    rng = np.random.default_rng(7)
    x = x.astype(dtype)
    xt = Tensor(x, requires_grad=True)
    layer(xt)
    layer.set_weights([rng.normal(size=w.shape).astype(dtype) for w in layer.weights])
    out = layer(xt)
    g = rng.normal(size=out.shape).astype(dtype)
    (out * Tensor(g)).sum().backward()
    weights = [torch.tensor(w.to_numpy(), requires_grad=True) for w in layer.weights]
    tx = torch.tensor(x, requires_grad=True)
    x_nchw = tx.permute(0, 3, 1, 2) if data_format == "channels_last" else tx
    ref = torch_fn(x_nchw, *weights)
    if data_format == "channels_last":
        ref = ref.permute(0, 2, 3, 1)
    (ref * torch.tensor(g)).sum().backward()
    assert out.shape == tuple(ref.shape), (out.shape, tuple(ref.shape))
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *out.shape[1:])
    np.testing.assert_allclose(out.to_numpy(), ref.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), **TOL[dtype])
    for w, tw in zip(layer.weights, weights):
        np.testing.assert_allclose(w.grad, tw.grad.numpy(), **TOL[dtype], err_msg=w.name)


# ---- Conv2DTranspose --------------------------------------------------------------------

TRANSPOSE_CASES = [
    # kernel, strides, padding, output_padding, dilation
    (3, 1, "valid", None, 1), (3, 2, "valid", None, 1), (2, 3, "valid", None, 1),
    (3, 2, "same", None, 1), (4, 2, "same", None, 1), ((3, 2), (2, 1), "same", None, 1),
    (3, 2, "valid", 1, 1), (3, 2, "same", 1, 1), (3, 3, "same", (2, 0), 1),
    (3, 1, "valid", None, 2), (3, 1, "same", None, 2),
]  # fmt: skip


def _torch_transpose(kernel, strides, padding, output_padding, dilation, in_size):
    """torch's conv_transpose2d arranged to Keras's output-size rule: pad 0 then crop."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    s = (strides, strides) if isinstance(strides, int) else strides
    op = (output_padding,) * 2 if isinstance(output_padding, int) else output_padding

    def fn(x, w, b):
        # Keras's kernel (kh, kw, out, in) is torch's weight (in, out, kh, kw).
        full = F.conv_transpose2d(x, w.permute(3, 2, 0, 1), stride=s, dilation=dilation)
        crops = []
        for axis in range(2):
            n, span = in_size[axis], dilation * (k[axis] - 1) + 1
            if output_padding is None:
                if padding == "same":  # the convolution it transposes had TF's 'same' pads
                    before = _keras_same_pads(n * s[axis], k[axis], s[axis], dilation)[0]
                    crops.append((before, n * s[axis]))
                else:
                    crops.append((0, n * s[axis] + max(span - s[axis], 0)))
            else:
                pad = span // 2 if padding == "same" else 0
                crops.append((pad, (n - 1) * s[axis] + span - 2 * pad + op[axis]))
        # Cells past the full product (output_padding, or k < s) receive nothing: zeros.
        need = [start + length for start, length in crops]
        full = F.pad(full, (0, max(need[1] - full.shape[3], 0),
                            0, max(need[0] - full.shape[2], 0)))
        out = full[:, :, crops[0][0]:need[0], crops[1][0]:need[1]]
        return out + b[None, :, None, None]

    return fn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=[str(c) for c in TRANSPOSE_CASES])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_transpose_matches_torch(case, data_format, dtype):
    kernel, strides, padding, output_padding, dilation = case
    shape = (2, 5, 4, 3) if data_format == "channels_last" else (2, 3, 5, 4)
    x = np.random.default_rng(0).normal(size=shape)
    layer = layers.Conv2DTranspose(4, kernel, strides=strides, padding=padding,
                                   output_padding=output_padding, data_format=data_format,
                                   dilation_rate=dilation)
    fn = _torch_transpose(kernel, strides, padding, output_padding, dilation, (5, 4))
    _compare(layer, x, fn, dtype, data_format)


def test_conv2d_transpose_kernel_layout_and_output_sizes_are_kerass():
    layer = layers.Conv2DTranspose(8, 3, strides=2, padding="same")
    y = layer(np.zeros((1, 7, 5, 2), "float32"))
    assert layer.kernel.shape == (3, 3, 8, 2) and layer.bias.shape == (8,)  # (kh, kw, out, in)
    assert y.shape == (1, 14, 10, 8)  # n·s with 'same'
    valid = layers.Conv2DTranspose(8, 5, strides=2)
    assert valid.compute_output_shape((None, 7, 5, 2)) == (None, 17, 13, 8)  # n·s + k - s
    assert valid.compute_output_shape((None, None, 5, 2)) == (None, None, 13, 8)
    config = layers.Conv2DTranspose(4, (3, 2), strides=(2, 1), output_padding=(1, 0),
                                    activation="relu").get_config()
    clone = layers.Conv2DTranspose.from_config(config)
    assert clone.get_config() == config and clone.output_padding == (1, 0)


# ---- DepthwiseConv2D, SeparableConv2D ---------------------------------------------------

DEPTHWISE_CASES = [
    # kernel, strides, padding, multiplier, dilation
    (3, 1, "valid", 1, 1), (3, 2, "same", 2, 1), ((2, 3), (1, 2), "same", 3, 1),
    (3, 1, "same", 1, 2), (1, 1, "valid", 2, 1),
]  # fmt: skip


def _torch_same_pad(x, k, s, d, padding):
    if padding != "same":
        return x
    rows = _keras_same_pads(x.shape[2], k[0], s[0], d)
    cols = _keras_same_pads(x.shape[3], k[1], s[1], d)
    return F.pad(x, (*cols, *rows))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=[str(c) for c in DEPTHWISE_CASES])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_depthwise_conv2d_matches_torch_grouped_conv(case, data_format, dtype):
    kernel, strides, padding, multiplier, dilation = case
    k = (kernel,) * 2 if isinstance(kernel, int) else kernel
    s = (strides,) * 2 if isinstance(strides, int) else strides
    shape = (2, 7, 6, 3) if data_format == "channels_last" else (2, 3, 7, 6)
    x = np.random.default_rng(0).normal(size=shape)
    layer = layers.DepthwiseConv2D(kernel, strides, padding, depth_multiplier=multiplier,
                                   data_format=data_format, dilation_rate=dilation)

    def fn(x, w, b):
        # (kh, kw, C, M) -> torch's grouped weight (C·M, 1, kh, kw): output c·M + m.
        weight = w.permute(2, 3, 0, 1).reshape(-1, 1, *k)
        return F.conv2d(_torch_same_pad(x, k, s, dilation, padding), weight, b, stride=s,
                        dilation=dilation, groups=3)

    _compare(layer, x, fn, dtype, data_format)
    assert layer.kernel.shape == (*k, 3, multiplier)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=[str(c) for c in DEPTHWISE_CASES])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_separable_conv2d_matches_torch_depthwise_then_pointwise(case, data_format, dtype):
    kernel, strides, padding, multiplier, dilation = case
    k = (kernel,) * 2 if isinstance(kernel, int) else kernel
    s = (strides,) * 2 if isinstance(strides, int) else strides
    shape = (2, 7, 6, 3) if data_format == "channels_last" else (2, 3, 7, 6)
    x = np.random.default_rng(0).normal(size=shape)
    layer = layers.SeparableConv2D(5, kernel, strides, padding, data_format=data_format,
                                   dilation_rate=dilation, depth_multiplier=multiplier)

    def fn(x, depthwise, pointwise, b):
        mid = F.conv2d(_torch_same_pad(x, k, s, dilation, padding),
                       depthwise.permute(2, 3, 0, 1).reshape(-1, 1, *k), stride=s,
                       dilation=dilation, groups=3)
        return F.conv2d(mid, pointwise.permute(3, 2, 0, 1), b)  # (1, 1, in·M, F) -> (F, in·M)

    _compare(layer, x, fn, dtype, data_format)
    assert [w.shape for w in layer.weights] == [(*k, 3, multiplier), (1, 1, 3 * multiplier, 5),
                                                (5,)]


def test_depthwise_and_separable_configs_round_trip():
    for layer in (layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                  layers.SeparableConv2D(4, (3, 1), strides=2, activation="relu")):
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config


# ---- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls, args", [
    (layers.Conv2DTranspose, (4,)), (layers.DepthwiseConv2D, ()), (layers.SeparableConv2D, (4,)),
])  # fmt: skip
def test_conv_layers_refuse_bad_settings_naming_them(cls, args):
    name = cls.__name__
    check_raises(ValueError, f"{name}.*kernel_size.*positive", cls, *args, 0)
    check_raises(ValueError, f"{name}.*strides.*positive", cls, *args, 3, strides=(1, -1))
    check_raises(ValueError, f"{name}.*padding='full'", cls, *args, 3, padding="full")
    check_raises(ValueError, f"{name}.*data_format.*'nchw'", cls, *args, 3, data_format="nchw")
    layer = cls(*args, 3)
    check_raises(ShapeError, f"'{layer.name}'.*expected ndim=4, found ndim=3", layer,
                 np.zeros((2, 8, 3), "float32"))
    assert not layer.built
    layer(np.zeros((1, 8, 8, 3), "float32"))
    before = layer.get_weights()
    check_raises(ShapeError, f"'{layer.name}'.*value 3.*received input with shape "
                 r"\(1, 8, 8, 2\)", layer, np.zeros((1, 8, 8, 2), "float32"))
    for w, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(w, b)


def test_a_window_larger_than_a_valid_input_is_a_clear_error():
    layer = layers.DepthwiseConv2D(5)
    check_raises(ShapeError, r"kernel_size=\(5, 5\).*spans 5 cells, more than the 4.*"
                 "padding='same'", layer, np.zeros((1, 4, 9, 2), "float32"))
    check_raises(ValueError, "output_padding must be smaller than its stride",
                 layers.Conv2DTranspose, 4, 3, strides=2, output_padding=2)
    check_raises(TypeError, "depth_multiplier", layers.DepthwiseConv2D, 3,
                 depth_multiplier=1.5)


# ---- in a model -------------------------------------------------------------------------


def test_a_model_with_the_conv_layers_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 2, size=32)
    minidl.utils.set_random_seed(0)
    model = minidl.Sequential([
        minidl.Input(shape=(8, 8, 2)),
        layers.SeparableConv2D(4, 3, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2),
        layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # separable: 3·3·2 + 2·4 + 4 = 30; depthwise: 3·3·4·2 + 8 = 80; transpose: 3·3·3·8 + 3
    for row in ("(None, 8, 8, 4)", "30", "(None, 3, 3, 8)", "80", "(None, 6, 6, 3)", "219"):
        assert row in text
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    before = model.predict(x, verbose=0)
    path = tmp_path / "convs.keras"
    model.save(path)
    np.testing.assert_array_equal(minidl.load_model(path).predict(x, verbose=0), before)
