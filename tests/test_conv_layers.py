"""The convolution, pooling and batch-norm layers: Keras's behaviours, torch's numbers.

- each layer against the torch.nn module holding the same weights (forward and gradients);
- Keras's defaults, names, output shapes and configs (round trips, save and load);
- BatchNormalization's moving statistics by hand (momentum 0.99, biased variance), its
  modes, and its parameter counts;
- the faults of the catalogue: a clear error naming the layer, the argument and the value,
  with nothing changed.
"""

import numpy as np
import pytest
import torch
from helpers import check_raises

import minidl
from minidl import ShapeError, Tensor, layers
from minidl.ops.conv import resolve_padding

torch.set_num_threads(1)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _grads(layer, x, weights):
    """minidl's output and the gradients of Σ out · w w.r.t. the input and the weights."""
    t = Tensor(x, requires_grad=True)
    out = layer(t, training=True)
    (out * Tensor(weights)).sum().backward()
    return out.data, t.grad, [w.grad for w in layer.trainable_weights]


def _torch_grads(module, x, weights, params):
    t = torch.tensor(x, requires_grad=True)
    out = module(t)
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), t.grad.numpy(), [p.grad.numpy() for p in params]


# --------------------------------------------------------------------------------------
# Conv1D / Conv2D against torch.nn with the same weights
# --------------------------------------------------------------------------------------

CONV2D = [
    dict(filters=4, kernel_size=3),
    dict(filters=3, kernel_size=(2, 3), strides=2, padding="same"),
    dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
    dict(filters=4, kernel_size=3, groups=2, activation="relu"),
    dict(filters=2, kernel_size=2, data_format="channels_first"),
]


@pytest.mark.parametrize("config", CONV2D, ids=[str(c) for c in CONV2D])
def test_conv2d_matches_torch_conv2d(config):
    minidl.config.set_floatx("float64")
    first = config.get("data_format") == "channels_first"
    x = _rng().normal(size=(2, 4, 7, 6) if first else (2, 7, 6, 4))
    layer = layers.Conv2D(**config)
    layer(x)  # build
    kernel = layer.kernel.data  # Keras's (kh, kw, in/groups, out)
    assert kernel.shape == (*layer.kernel_size, 4 // layer.groups, config["filters"])
    # torch's 'same' is symmetric; Keras's puts the odd cell after: pad by hand for both.
    pads = resolve_padding(
        layer.padding, (7, 6), layer.kernel_size, layer.strides, layer.dilation_rate)
    module = torch.nn.Sequential(
        torch.nn.ZeroPad2d((pads[1][0], pads[1][1], pads[0][0], pads[0][1])),
        torch.nn.Conv2d(4, config["filters"], layer.kernel_size, layer.strides,
                        dilation=layer.dilation_rate, groups=layer.groups,
                        bias=layer.use_bias).double())
    conv = module[1]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(kernel).permute(3, 2, 0, 1))
        if layer.use_bias:
            conv.bias.copy_(torch.tensor(_rng(1).normal(size=config["filters"])))
            layer.bias.assign(conv.bias.numpy())
    if config.get("activation") == "relu":
        module.append(torch.nn.ReLU())
    tx = x if first else x.transpose(0, 3, 1, 2)
    w = _rng(2).normal(size=layer(x).shape)
    out, dx, dws = _grads(layer, x, w)
    tw = w if first else w.transpose(0, 3, 1, 2)
    ref, ref_dx, ref_dws = _torch_grads(module, tx, tw, list(conv.parameters()))
    back = (lambda a: a) if first else (lambda a: a.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(out, back(ref), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, back(ref_dx), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dws[0], ref_dws[0].transpose(2, 3, 1, 0), rtol=1e-10,
                               atol=1e-12)
    if layer.use_bias:
        np.testing.assert_allclose(dws[1], ref_dws[1], rtol=1e-10, atol=1e-12)


def test_conv1d_causal_sees_only_the_past():
    minidl.config.set_floatx("float64")
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = _rng().normal(size=(1, 9, 3))
    y = layer(x).data
    assert y.shape == (1, 9, 2)  # causal keeps the length
    # Changing input step 5 changes no output before step 5 (independent of any library).
    x2 = x.copy()
    x2[0, 5] += 1.0
    y2 = layer(x2).data
    np.testing.assert_array_equal(y[0, :5], y2[0, :5])
    assert not np.allclose(y[0, 5:], y2[0, 5:])
    # ... and it is torch's conv1d of the input padded by dilation·(k - 1) = 4 on the left.
    w = torch.tensor(layer.kernel.data).permute(2, 1, 0)
    ref = torch.nn.functional.conv1d(torch.nn.functional.pad(
        torch.tensor(x).transpose(1, 2), (4, 0)), w, torch.tensor(layer.bias.data), dilation=2)
    np.testing.assert_allclose(y, ref.transpose(1, 2).numpy(), rtol=1e-12)


def test_conv_keras_defaults_names_and_kernel_init():
    minidl.layers.clear_session()
    conv = layers.Conv2D(8, 3)
    assert (conv.strides, conv.padding, conv.dilation_rate, conv.data_format) == (
        (1, 1), "valid", (1, 1), "channels_last")
    assert (conv.name, layers.Conv2D(1, 1).name, layers.Conv1D(1, 1).name) == (
        "conv2d", "conv2d_1", "conv1d")
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert layers.BatchNormalization().name == "batch_normalization"
    conv(np.zeros((1, 5, 5, 16), dtype="float32"))
    # glorot_uniform with Keras's fans for a conv kernel: receptive field · channels.
    limit = np.sqrt(6 / (3 * 3 * 16 + 3 * 3 * 8))
    assert np.abs(conv.kernel.data).max() <= limit
    assert np.abs(conv.kernel.data).max() > 0.9 * limit
    np.testing.assert_array_equal(conv.bias.data, np.zeros(8))


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------


def test_pooling_layers_match_torch_and_keras_defaults():
    x = _rng().normal(size=(2, 7, 6, 3))
    tx = torch.tensor(x).permute(0, 3, 1, 2)
    pool = layers.MaxPooling2D()  # pool 2, strides = pool size
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)
    np.testing.assert_array_equal(
        pool(x).data, torch.nn.MaxPool2d(2)(tx).permute(0, 2, 3, 1).numpy())
    avg = layers.AveragePooling2D((3, 2), strides=(2, 1))
    np.testing.assert_allclose(
        avg(x).data, torch.nn.AvgPool2d((3, 2), (2, 1))(tx).permute(0, 2, 3, 1).numpy(),
        rtol=1e-12)
    x1 = x[:, :, 0, :]
    np.testing.assert_array_equal(layers.MaxPooling1D()(x1).data, torch.nn.MaxPool1d(2)(
        torch.tensor(x1).transpose(1, 2)).transpose(1, 2).numpy())
    with pytest.raises(TypeError):
        layers.AveragePooling2D()  # Keras 3: no default pool_size


def test_average_pooling_same_divides_by_the_real_cells():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = layers.AveragePooling2D(2, strides=1, padding="same")(x).data[0, :, :, 0]
    # Bottom-right window holds only x[2, 2] = 9; the right column windows hold 2 cells.
    assert y[2, 2] == 9.0 and y[0, 2] == (3.0 + 6.0) / 2 and y[0, 0] == (1 + 2 + 4 + 5) / 4


@pytest.mark.parametrize("cls, fn", [(layers.GlobalAveragePooling2D, np.mean),
                                     (layers.GlobalMaxPooling2D, np.max),
                                     (layers.GlobalAveragePooling1D, np.mean),
                                     (layers.GlobalMaxPooling1D, np.max)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pooling_shapes_and_values(cls, fn, keepdims, data_format):
    rank = 2 if cls.__name__.endswith("2D") else 1
    x = _rng().normal(size=(2, 3, 4, 5)[:rank + 2])
    layer = cls(data_format=data_format, keepdims=keepdims)
    y = layer(x)
    axes = tuple(range(2, rank + 2)) if data_format == "channels_first" else tuple(
        range(1, rank + 1))
    np.testing.assert_allclose(y.data, fn(x, axis=axes, keepdims=keepdims), rtol=1e-12)
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *y.shape[1:])


# --------------------------------------------------------------------------------------
# BatchNormalization
# --------------------------------------------------------------------------------------


def test_batch_norm_moving_update_by_hand():
    minidl.config.set_floatx("float64")
    bn = layers.BatchNormalization()
    x = _rng().normal(2.0, 3.0, size=(8, 4, 4, 3))
    bn(x, training=True)
    mean = x.mean(axis=(0, 1, 2))
    biased_var = x.var(axis=(0, 1, 2))  # ddof=0: Keras's moving variance uses this one
    np.testing.assert_allclose(bn.moving_mean.data, 0.99 * 0 + 0.01 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.data, 0.99 * 1 + 0.01 * biased_var,
                               rtol=1e-12)
    # Inference uses the moving statistics and changes nothing.
    before = [w.data.copy() for w in bn.weights]
    y = bn(x, training=False).data
    expected = (x - bn.moving_mean.data) / np.sqrt(bn.moving_variance.data + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    for w, b in zip(bn.weights, before):
        np.testing.assert_array_equal(w.data, b)


def test_batch_norm_training_matches_torch_batchnorm2d():
    minidl.config.set_floatx("float64")
    x = _rng().normal(size=(4, 3, 5, 5))
    bn = layers.BatchNormalization(axis=1)
    bn(x)
    bn.gamma.assign(_rng(1).normal(size=3))
    bn.beta.assign(_rng(2).normal(size=3))
    module = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.01).double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(bn.gamma.data))
        module.bias.copy_(torch.tensor(bn.beta.data))
    w = _rng(3).normal(size=x.shape)
    out, dx, (dgamma, dbeta) = _grads(bn, x, w)
    ref, ref_dx, (ref_dg, ref_db) = _torch_grads(module, x, w, [module.weight, module.bias])
    for a, e in ((out, ref), (dx, ref_dx), (dgamma, ref_dg), (dbeta, ref_db)):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)
    # torch keeps the *unbiased* variance in its running statistics; Keras the biased one.
    m = x.size // 3
    np.testing.assert_allclose(
        (bn.moving_variance.data - 0.99) * m / (m - 1),
        module.running_var.numpy() - 0.99, rtol=1e-9)


def test_batch_norm_trainable_false_means_inference_and_no_update():
    bn = layers.BatchNormalization(trainable=False)
    x = _rng().normal(5.0, 1.0, size=(16, 4)).astype("float32")
    y = bn(x, training=True).data
    np.testing.assert_array_equal(bn.moving_mean.data, np.zeros(4))
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)


def test_batch_norm_param_counts_and_fit_leaves_moving_stats_to_the_layer():
    model = minidl.Sequential([layers.Input(shape=(6, 6, 64)), layers.BatchNormalization(),
                               layers.GlobalAveragePooling2D(), layers.Dense(2)])
    bn = model.layers[0]
    assert bn.count_params() == 256
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Non-trainable params: 128" in line for line in lines)
    assert all(w is not bn.moving_mean for w in model.trainable_weights)
    model.compile(optimizer=minidl.optimizers.SGD(learning_rate=0.1), loss="mse")
    x = _rng().normal(1.0, 2.0, size=(8, 6, 6, 64)).astype("float32")
    model.fit(x, np.zeros((8, 2), "float32"), batch_size=8, epochs=1, verbose=0)
    # One training step: the moving mean moved by exactly one momentum update.
    np.testing.assert_allclose(bn.moving_mean.data, 0.01 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    before = bn.moving_mean.data.copy()
    model.predict(x, verbose=0)
    model.evaluate(x, np.zeros((8, 2), "float32"), verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.data, before)


# --------------------------------------------------------------------------------------
# Configs, output shapes, saving
# --------------------------------------------------------------------------------------

LAYERS = [
    lambda: layers.Conv2D(3, (3, 2), strides=2, padding="same", activation="relu",
                          kernel_regularizer="l2"),
    lambda: layers.Conv1D(4, 3, padding="causal", dilation_rate=2, use_bias=False),
    lambda: layers.Conv2D(4, 2, groups=2, data_format="channels_first"),
    lambda: layers.MaxPooling2D((3, 3), strides=2, padding="same"),
    lambda: layers.AveragePooling1D(2),
    lambda: layers.GlobalMaxPooling2D(keepdims=True),
    lambda: layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False),
]
INPUTS = [(2, 9, 7, 4), (2, 10, 3), (2, 4, 6, 5), (2, 9, 7, 4), (2, 10, 3), (2, 5, 5, 3),
          (2, 5, 4)]


@pytest.mark.parametrize("make, shape", list(zip(LAYERS, INPUTS)))
def test_config_round_trip_and_output_shape(make, shape):
    layer = make()
    y = layer(_rng().normal(size=shape).astype("float32"))
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_convnet_save_load_predicts_bitwise_the_same(tmp_path):
    model = minidl.Sequential([
        layers.Input(shape=(10, 10, 2)),
        layers.Conv2D(4, 3, activation="relu", padding="same"),
        layers.BatchNormalization(),
        layers.MaxPooling2D(),
        layers.Conv2D(3, 2, strides=2),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = _rng().normal(size=(16, 10, 10, 2)).astype("float32")
    model.fit(x, np.arange(16) % 2, batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "convnet.keras"
    model.save(path)
    loaded = minidl.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.data, b.data)


# --------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, exc, match", [
    (lambda: layers.Conv2D(0, 3), ValueError, "filters must be a positive integer, got 0"),
    (lambda: layers.Conv2D(4, 0), ValueError, r"Conv2D: kernel_size must be positive, got 0"),
    (lambda: layers.Conv2D(4, (3, -1)), ValueError, r"kernel_size must be positive, got \(3, "
                                                    r"-1\)"),
    (lambda: layers.Conv2D(4, 3, strides=0), ValueError, "strides must be positive, got 0"),
    (lambda: layers.Conv2D(4, 2.5), TypeError,
     r"kernel_size must be an int or a tuple of 2 ints, got 2.5"),
    (lambda: layers.Conv2D(4, 3, padding="causal"), ValueError,
     r"padding must be one of \['valid', 'same'\], got 'causal'"),
    (lambda: layers.Conv2D(4, 3, data_format="NHWC"), ValueError,
     "data_format must be 'channels_last' or 'channels_first', got 'NHWC'"),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), ValueError,
     "strides > 1 cannot be combined with dilation_rate > 1"),
    (lambda: layers.MaxPooling2D(0), ValueError, "MaxPooling2D: pool_size must be positive"),
    (lambda: layers.AveragePooling1D(-2), ValueError, "pool_size must be positive, got -2"),
    (lambda: layers.MaxPooling2D(2, data_format="nchw"), ValueError, "got 'nchw'"),
    (lambda: layers.BatchNormalization(momentum=1.5), ValueError, "momentum must be in"),
])  # fmt: skip
def test_bad_arguments_name_the_layer_argument_and_value(make, exc, match):
    check_raises(exc, match, make)


def test_wrong_rank_and_channels_name_the_layer_and_change_nothing():
    conv = layers.Conv2D(4, 3, name="c")
    check_raises(ShapeError, r"layer 'c'.*expected ndim=4 .*\(None, 28, 28\).*expand_dims",
                 conv, np.zeros((2, 28, 28), "float32"))
    assert not conv.built
    conv(np.zeros((2, 8, 8, 1), "float32"))
    kernel = conv.kernel.data.copy()
    check_raises(ShapeError, r"layer 'c'.*axis -1 .*value 1.*\(None, 8, 8, 3\)",
                 conv, np.zeros((2, 8, 8, 3), "float32"))
    np.testing.assert_array_equal(conv.kernel.data, kernel)


def test_window_larger_than_a_valid_input_is_a_clear_error():
    # Found when the model is built (here: at once, from Input), naming the layer.
    check_raises(ShapeError, r"layer 'big': the kernel .*larger than the input .*"
                 r"padding='same'", minidl.Sequential,
                 [layers.Input(shape=(4, 4, 1)), layers.Conv2D(2, 5, name="big")])
    check_raises(ShapeError, r"pool_size=\(3, 3\) is larger than the input",
                 layers.MaxPooling2D(3), np.zeros((1, 2, 2, 1), "float32"))
