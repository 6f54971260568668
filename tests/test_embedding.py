"""Embedding against torch.nn.functional.embedding (same table), Keras's defaults and
config, the out-of-range fault, and a model with it that fits, saves and loads."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_raises

import minidl
from minidl import Tensor, layers
from minidl.errors import DTypeError

TOL = {"float32": {"rtol": 1e-6, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-12}}


@pytest.fixture(autouse=True)
def _fresh():
    minidl.backend.clear_session()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_shape", [(7,), (3, 5), (2, 3, 4)])
def test_embedding_matches_torch_with_repeated_indices(index_shape, dtype):
    minidl.config.set_floatx(dtype)
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 6, size=index_shape)  # 6 rows: many repeats
    layer = layers.Embedding(6, 4)
    out = layer(indices)
    table = rng.normal(size=(6, 4)).astype(dtype)
    layer.set_weights([table])
    out = layer(indices)
    g = rng.normal(size=out.shape).astype(dtype)
    (out * Tensor(g)).sum().backward()
    tt = torch.tensor(table, requires_grad=True)
    ref = F.embedding(torch.tensor(indices), tt)
    (ref * torch.tensor(g)).sum().backward()
    assert out.shape == (*index_shape, 4) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.to_numpy(), ref.detach().numpy(), **TOL[dtype])
    # The scatter-add: a row read k times gets the sum of k gradients, unread rows 0.
    np.testing.assert_allclose(layer.embeddings.grad, tt.grad.numpy(), **TOL[dtype])
    assert layer.compute_output_shape((None, *index_shape[1:])) == (None, *index_shape[1:], 4)


def test_embedding_defaults_follow_keras():
    layer = layers.Embedding(1000, 64)
    layer(np.array([[0, 999]]))
    table = layer.embeddings.to_numpy()
    assert table.shape == (1000, 64) and layer.embeddings.name.endswith("embeddings")
    # Keras's default "uniform" initializer: U(-0.05, 0.05).
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() <= 0.05
    config = layer.get_config()
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"
    assert config["mask_zero"] is False and config["input_dim"] == 1000
    clone = layers.Embedding.from_config(config)
    assert clone.get_config() == config


def test_embedding_index_out_of_range_names_layer_index_and_input_dim():
    layer = layers.Embedding(10, 3, name="tokens")
    layer(np.array([[1, 2]]))
    before = layer.get_weights()
    check_raises(ValueError, r"'tokens'.*index 12.*input_dim=10.*largest index received is 12",
                 layer, np.array([[3, 12, 11]]))
    check_raises(ValueError, r"index -1 is outside \[0, 10\)", layer, np.array([[-1, 2]]))
    check_raises(DTypeError, "integer indices", layer, np.array([[1.5, 2.0]]))
    np.testing.assert_array_equal(layer.get_weights()[0], before[0])
    check_raises(ValueError, "input_dim", layers.Embedding, 0, 3)
    check_raises(TypeError, "output_dim", layers.Embedding, 10, 2.5)


def test_a_model_with_embedding_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(64, 6))
    y = (x[:, 0] > 10).astype("int64")
    minidl.utils.set_random_seed(0)
    model = minidl.Sequential([
        minidl.Input(shape=(6,)),
        layers.Embedding(20, 8, mask_zero=True),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, 6, 8)" in line and "160" in line for line in lines)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    before = model.predict(x, verbose=0)
    path = tmp_path / "embedding.keras"
    model.save(path)
    np.testing.assert_array_equal(minidl.load_model(path).predict(x, verbose=0), before)
