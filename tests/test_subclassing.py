"""Subclassed layers and models, as the keras.io subclassing guide writes them.

Each subclassed form is compared with the same computation built another way (a
``Sequential`` model with the same weights, or the formula by hand / in PyTorch), and
each Keras behaviour is pinned: ``training`` passed only to a ``call`` that takes it,
output shapes from running ``call``, non-trainable weights, ``add_loss``, attribute
tracking, saving rules and custom objects.
"""

import os

import numpy as np
import pytest
import torch

import minidl as keras
from minidl import layers
from minidl.errors import CheckpointError


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 4)).astype("float32")
Y = RNG.standard_normal((12, 1)).astype("float32")


class Linear(layers.Layer):
    """The keras.io guide's layer: no ``training`` argument, no compute_output_shape."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return inputs @ self.w + self.b


class MLP(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.5, name="drop")
        self.out = layers.Dense(1)

    def call(self, inputs, training=False):
        return self.out(self.dropout(self.hidden(inputs), training=training))


def _same_as_sequential(model):
    seq = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                            layers.Dropout(0.5, name="drop"), layers.Dense(1)])
    seq.set_weights(model.get_weights())
    return seq


# ---- the three failures of the issue ------------------------------------------------------


def test_a_layer_whose_call_takes_no_training_works_in_every_kind_of_model():
    inputs = keras.Input(shape=(4,))
    functional = keras.Model(inputs, Linear(1)(inputs))
    sequential = keras.Sequential([keras.Input(shape=(4,)), Linear(1)])
    for model in (functional, sequential):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(X, Y, epochs=1, verbose=0)  # fit passes training=True: not to this call
        assert model.predict(X, verbose=0).shape == (12, 1)


def test_the_output_shape_comes_from_running_call_not_from_the_input():
    model = keras.Sequential([keras.Input(shape=(4,)), Linear(1)])
    assert model.output_shape == (None, 1)
    lines = []
    model.summary(print_fn=lines.append)
    assert "(None, 1)" in "\n".join(lines) and "(None, 4)" not in "\n".join(lines)
    assert Linear(3)(keras.Input(shape=(4,))).shape == (None, 3)

    class Tile(layers.Layer):  # a shape that depends on the input's unknown sizes
        def call(self, inputs):
            return keras.ops.concatenate([inputs, inputs], axis=1)

    assert Tile()(keras.Input(shape=(None, 3))).shape == (None, None, 3)


def test_a_subclassed_model_runs_its_own_call_and_trains_like_sequential():
    model = MLP()
    with pytest.raises(ValueError, match="input shape"):
        model.summary()  # not built yet
    out = model.predict(X, verbose=0)
    assert out.shape == (12, 1) and not np.allclose(out, X[:, :1])
    seq = _same_as_sequential(model)
    np.testing.assert_array_equal(out, seq.predict(X, verbose=0))
    histories = []
    for m in (model, seq):  # same seed, same Dropout name: the same masks and shuffles
        m.compile(optimizer="adam", loss="mse")
        keras.utils.set_random_seed(3)
        histories.append(m.fit(X, Y, epochs=2, batch_size=4, verbose=0).history)
    assert histories[0] == histories[1]
    for a, b in zip(model.get_weights(), seq.get_weights()):
        np.testing.assert_array_equal(a, b)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "mlp"' in text and "dense (Dense)" in text and "(None, 8)" in text


def test_gradients_of_a_subclassed_model_equal_the_composition_in_torch():
    model = MLP()
    model(X)
    k1, b1, k2, b2 = (torch.tensor(w, dtype=torch.float64, requires_grad=True)
                      for w in model.get_weights())
    ref = torch.relu(torch.tensor(X, dtype=torch.float64) @ k1 + b1) @ k2 + b2
    ((ref - torch.tensor(Y, dtype=torch.float64)) ** 2).mean().backward()
    loss = keras.losses.MeanSquaredError()(Y, model(X, training=False))
    loss.backward()
    for w, r in zip(model.weights, (k1, b1, k2, b2)):
        np.testing.assert_allclose(w.grad, r.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_training_reaches_a_dropout_even_when_call_does_not_pass_it():
    class Quiet(keras.Model):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)

        def call(self, inputs):  # no training argument, Dropout called without it
            return self.drop(inputs)

    model = Quiet()
    x = np.ones((4, 50), "float32")
    np.testing.assert_array_equal(model(x).data, x)  # inference by default
    trained = model(x, training=True).data
    assert (trained == 0).any() and set(np.unique(trained)) <= {0.0, 2.0}
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


# ---- what subclassed layers use ------------------------------------------------------------


def test_add_weight_trainable_false_is_non_trainable_and_fit_leaves_it():
    class Counter(layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                         name="scale")
            self.total = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                         name="total")

        def call(self, inputs):
            return inputs * self.scale + self.total

    layer = Counter()
    model = keras.Sequential([keras.Input(shape=(4,)), layer, layers.Dense(1)])
    assert [w.name for w in layer.trainable_weights] == ["counter/scale"]
    assert [w.name for w in layer.non_trainable_weights] == ["counter/total"]
    lines = []
    model.summary(print_fn=lines.append)
    assert " Non-trainable params: 1 " in "\n".join(lines)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, verbose=0)
    assert float(layer.total.data) == 0.0
    assert not np.array_equal(layer.scale.data, np.ones(4))


def test_add_loss_adds_to_the_training_loss_and_is_listed():
    class Penalized(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs):
            out = self.dense(inputs)
            self.add_loss(0.1 * (out * out).mean())
            return out

    layer = Penalized()
    model = keras.Sequential([keras.Input(shape=(4,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    pred = model.predict(X, verbose=0)
    expected = np.mean((pred - Y) ** 2) + 0.1 * np.mean(pred ** 2)
    assert model.evaluate(X, Y, batch_size=12, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == 1  # the latest call's value, not one per call
    model(X)
    assert len(model.losses) == 1
    assert float(model.losses[0].data) == pytest.approx(0.1 * np.mean(pred ** 2), rel=1e-5)


def test_layers_assigned_as_attributes_are_tracked_in_assignment_order():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.second = layers.Dense(3, name="second")
            self.first = layers.Dense(2, name="first")
            self.stack = [layers.Dense(4, name="in_list")]

        def call(self, inputs):
            return self.first(self.second(self.stack[0](inputs)))

    block = Block()
    block(X)
    assert [w.name for w in block.weights] == [
        "second/kernel", "second/bias", "first/kernel", "first/bias", "in_list/kernel",
        "in_list/bias"]
    assert block.count_params() == 3 * 4 + 3 + 2 * 3 + 2 + 4 * 4 + 4
    block.trainable = False
    assert all(not layer.trainable for layer in (block.first, block.second, block.stack[0]))


def test_multi_input_custom_layer_gets_a_list():
    class WeightedSum(layers.Layer):
        def build(self, input_shape):
            assert isinstance(input_shape, list) and len(input_shape) == 2
            self.alpha = self.add_weight(shape=(), initializer="ones", name="alpha")

        def call(self, inputs):
            a, b = inputs
            return a * self.alpha + b

    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    model = keras.Model([a, b], WeightedSum()([a, b]))
    np.testing.assert_allclose(model.predict([X, X], verbose=0), 2 * X, rtol=1e-6)


def test_compile_again_without_a_loss_keeps_the_earlier_loss():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mae")
    model.compile(optimizer="adam")
    pred = model.predict(X, verbose=0)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(np.mean(np.abs(pred - Y)),
                                                            rel=1e-5)


# ---- saving -------------------------------------------------------------------------------


def test_a_subclassed_model_round_trips_its_weights(tmp_path):
    model = MLP()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, Y, verbose=0)
    path = os.path.join(tmp_path, "w.weights.npz")
    model.save_weights(path)
    other = MLP()
    other(X)
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))


def test_saving_an_unregistered_subclassed_model_refuses_up_front(tmp_path):
    model = MLP()
    model(X)
    path = os.path.join(tmp_path, "model.keras")
    with pytest.raises(ValueError, match="save_weights"):
        model.save(path)
    assert os.listdir(tmp_path) == []


def test_a_registered_subclassed_model_saves_and_loads(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Scaled(keras.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = layers.Dense(units)

        def call(self, inputs):
            return self.dense(inputs) * 2.0

    model = Scaled(units=5)
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, np.zeros((12, 5), "float32"), verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is Scaled and loaded.units == 5
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def mish(x):
    return x * keras.activations.tanh(keras.activations.softplus(x))


def test_custom_activation_needs_custom_objects_or_registration(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation=mish)])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    with pytest.raises(CheckpointError, match="mish"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, custom_objects={"mish": mish})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_custom_layer_unknown_at_load_is_a_type_error_as_keras(tmp_path):
    model = keras.Sequential([keras.Input(shape=(4,)), Linear(2, name="lin")])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    with pytest.raises(TypeError, match="register_keras_serializable.*custom_objects"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, custom_objects={"Linear": Linear})
    assert loaded.layers[0].units == 2  # rebuilt from the constructor's recorded arguments
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_registered_custom_loss_and_metric_come_back_with_compile(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    def double_mse(y_true, y_pred):
        return 2.0 * ((y_true - y_pred) ** 2).mean(axis=-1)

    @keras.saving.register_keras_serializable(package="tests")
    def max_error(y_true, y_pred):
        return abs(y_true - y_pred).max(axis=-1)

    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss=double_mse, metrics=[max_error])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0),
                               rtol=1e-6)
    assert loaded.metrics_names == ["loss", "max_error"]
