"""The v2 reshaping, regularization, preprocessing and embedding layers on the GPU path's
stand-in device (``tests/standin_device.py``): each gives on the device, forward and
backward, what it gives on the CPU; the stand-in refuses a stray NumPy call on device data,
as CuPy would."""

import numpy as np
import pytest
import standin_device as sd

import minidl
from minidl import Tensor, layers

sd.install()


def _normalization():
    layer = layers.Normalization()
    layer.adapt(np.random.default_rng(5).normal(size=(20, 6, 6, 3)))
    return layer


LAYERS = {
    "reshape": (lambda: layers.Reshape((3, -1)), (2, 6, 6, 3)),
    "permute": (lambda: layers.Permute((3, 1, 2)), (2, 6, 6, 3)),
    "zero_padding": (lambda: layers.ZeroPadding2D(((1, 2), (0, 1))), (2, 6, 6, 3)),
    "cropping": (lambda: layers.Cropping2D((1, 2)), (2, 6, 6, 3)),
    "upsampling_nearest": (lambda: layers.UpSampling2D((2, 3)), (2, 6, 6, 3)),
    "upsampling_bilinear": (lambda: layers.UpSampling2D(2, interpolation="bilinear"),
                            (2, 6, 6, 3)),
    "spatial_dropout2d": (lambda: layers.SpatialDropout2D(0.5, seed=1), (2, 6, 6, 3)),
    "spatial_dropout1d": (lambda: layers.SpatialDropout1D(0.5, seed=1), (2, 6, 3)),
    "rescaling": (lambda: layers.Rescaling(0.5, 1.0), (2, 6, 6, 3)),
    "normalization": (_normalization, (2, 6, 6, 3)),
    "flip": (lambda: layers.RandomFlip(seed=1), (8, 6, 6, 3)),
    "rotation": (lambda: layers.RandomRotation(0.3, seed=1), (2, 6, 6, 3)),
    "zoom_constant": (lambda: layers.RandomZoom(0.3, fill_mode="constant", seed=1),
                      (2, 6, 6, 3)),
    "translation_wrap": (lambda: layers.RandomTranslation(0.3, 0.3, fill_mode="wrap",
                                                          seed=1), (2, 6, 6, 3)),
}


def _run(make, shape, device):
    minidl.random.set_seed(0)
    layer = make()
    model = minidl.Sequential([layer])
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    model.build(x.shape)
    model.to(device)
    xt = Tensor(x).to(device)
    xt.requires_grad = True
    out = model(xt, training=True)
    g = Tensor(np.random.default_rng(1).normal(size=out.shape).astype("float32")).to(device)
    (out * g).sum().backward()
    assert out.device == device and xt.grad is not None
    return out.to_numpy(), minidl.backend.backend_of(xt.grad).to_numpy(xt.grad)


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gives_the_same_on_the_standin_device(name):
    make, shape = LAYERS[name]
    cpu_out, cpu_grad = _run(make, shape, "cpu")
    out, grad = _run(make, shape, "standin")
    # The stand-in computes with NumPy underneath and these layers have no Numba kernels.
    np.testing.assert_array_equal(out, cpu_out)
    np.testing.assert_array_equal(grad, cpu_grad)


def test_embedding_gives_the_same_on_the_standin_device():
    results = []
    for device in ("cpu", "standin"):
        minidl.random.set_seed(0)
        layer = layers.Embedding(7, 3)
        model = minidl.Sequential([layer])
        model.build((None, 4))
        model.to(device)
        indices = Tensor(np.array([[1, 2, 2, 6], [0, 0, 3, 1]])).to(device)
        out = model(indices)
        out.sum().backward()
        grad = layer.embeddings.grad
        results.append((out.to_numpy(), minidl.backend.backend_of(grad).to_numpy(grad)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
