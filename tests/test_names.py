"""Keras names beyond the core: ``keras.backend``, regularizer shortcuts, ``Lambda``, ...

Each test runs a Keras program's lines (only the import changed) and checks the result
against a hand computation or Keras's documented behaviour.
"""

import ast
import os
import pathlib
import sys

import numpy as np
import pytest

import minidl as keras

PACKAGE = pathlib.Path(keras.__file__).parent


# ---- item 7: one backend name, one meaning -------------------------------------------------


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("path", [
    *sorted((PACKAGE / "ops").glob("*.py")),
    PACKAGE / "tensor.py", PACKAGE / "array_backend.py", PACKAGE / "jit.py",
    PACKAGE / "config.py", PACKAGE / "optimizers.py", PACKAGE / "losses.py",
    PACKAGE / "cuda_kernels.py",
], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_engine_never_imports_the_keras_face(path):
    imported = set(_imported_modules(path))
    assert "minidl.backend" not in imported, f"{path.name} imports minidl.backend"
    assert not {m for m in imported if m.startswith("minidl.layers")}, path.name


def test_keras_backend_is_its_own_module_and_the_array_layer_another():
    from minidl import array_backend

    assert keras.backend is not array_backend
    assert keras.backend.floatx() == "float32"
    assert keras.backend.epsilon() == 1e-7  # Keras's documented fuzz factor
    assert keras.backend.image_data_format() == "channels_last"
    # The device functions keep working from their old home, as the same objects.
    assert keras.backend.get_array_module is array_backend.get_array_module
    assert keras.backend.get_array_module(np.ones(2)) is np


def test_clear_session_restarts_layer_names():
    keras.backend.clear_session()
    first = keras.layers.Dense(2)
    second = keras.layers.Dense(2)
    keras.backend.clear_session()
    again = keras.layers.Dense(2)
    assert (first.name, second.name, again.name) == ("dense", "dense_1", "dense")


# ---- item 4: small names ---------------------------------------------------------------------


def test_regularizer_shortcuts_are_keras_aliases_of_the_classes():
    assert keras.regularizers.l2 is keras.regularizers.L2
    assert keras.regularizers.l1 is keras.regularizers.L1
    assert keras.regularizers.l1_l2 is keras.regularizers.L1L2
    both = keras.regularizers.l1_l2()
    assert (both.l1, both.l2) == (0.0, 0.0)  # the class's defaults, as Keras 3
    w = np.array([[1.0, -2.0], [0.5, 0.0]], dtype="float32")
    assert float(keras.regularizers.l2(0.01)(w)) == pytest.approx(0.01 * (1 + 4 + 0.25))
    assert float(keras.regularizers.l1(0.1)(w)) == pytest.approx(0.1 * 3.5)


def test_l2_shortcut_adds_its_penalty_to_the_training_loss():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.l2(0.01))
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1.0, 2.0], [0.0, -1.0]], dtype="float32")
    y = np.array([[1.0], [0.0]], dtype="float32")
    kernel = layer.kernel.numpy().copy()
    bias = layer.bias.numpy().copy()
    loss = model.train_on_batch(x, y)
    loss = loss[0] if isinstance(loss, list) else loss
    mse = np.mean((x @ kernel + bias - y) ** 2)
    assert loss == pytest.approx(mse + 0.01 * np.sum(kernel**2), rel=1e-5)


def test_backend_get_value_and_set_value_on_weights():
    layer = keras.layers.Dense(2)
    layer(np.zeros((1, 3), dtype="float32"))
    keras.backend.set_value(layer.kernel, np.full((3, 2), 0.5))
    value = keras.backend.get_value(layer.kernel)
    assert isinstance(value, np.ndarray)
    np.testing.assert_array_equal(value, np.full((3, 2), 0.5, dtype="float32"))
    keras.backend.set_floatx("float64")
    assert keras.backend.floatx() == "float64"
    with pytest.raises(TypeError, match="set_value expects a variable with assign"):
        keras.backend.set_value(np.zeros(2), 1.0)


def test_lambda_layer_computes_infers_its_shape_and_passes_gradients():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Lambda(lambda t: keras.ops.concatenate([t, keras.ops.square(t)], axis=-1)),
        keras.layers.Dense(1),
    ])
    assert model.layers[0].compute_output_shape((None, 4)) == (None, 8)
    x = np.array([[1.0, -1.0, 2.0, 0.5]], dtype="float32")
    dense = model.layers[1]
    kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
    features = np.concatenate([x, x**2], axis=-1)
    np.testing.assert_allclose(model.predict(x, verbose=0), features @ kernel + bias, rtol=1e-6)
    t = keras.Tensor(x, requires_grad=True)
    model(t).sum().backward()
    # d/dx of Σ_j k_j x_j + k_{j+4} x_j² is k_j + 2 k_{j+4} x_j.
    np.testing.assert_allclose(t.grad, kernel[:4, 0] + 2 * kernel[4:, 0] * x, rtol=1e-6)


def test_lambda_with_arguments_output_shape_and_training():
    seen = []

    def scale(t, factor, training=False):
        seen.append(training)
        return t * factor

    layer = keras.layers.Lambda(scale, output_shape=(3,), arguments={"factor": 2.0})
    out = layer(np.ones((2, 3), dtype="float32"), training=True)
    np.testing.assert_array_equal(out.numpy(), np.full((2, 3), 2.0))
    assert seen == [True] and layer.compute_output_shape((None, 3)) == (None, 3)
    with pytest.raises(TypeError, match="Lambda expects a callable"):
        keras.layers.Lambda("square")


def test_a_saved_lambda_needs_its_function_to_load(tmp_path):
    def halve(t):
        return t * 0.5

    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(halve)])
    model.save(tmp_path / "m.minidl")
    with pytest.raises(ValueError, match=r"wraps the function 'halve'.*custom_objects"):
        keras.models.load_model(tmp_path / "m.minidl")
    config = model.layers[0].get_config()
    rebuilt = keras.layers.Lambda.from_config(config, custom_objects={"halve": halve})
    np.testing.assert_array_equal(rebuilt(np.ones((1, 2), dtype="float32")).numpy(),
                                  [[0.5, 0.5]])


# ---- TensorBoard ------------------------------------------------------------------------------


def test_tensorboard_writes_epoch_scalars_keras_style(tmp_path):
    if os.environ.get("CI"):  # the test extra installs tensorboard: CI must run this test
        import tensorboard  # noqa: F401
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y), verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path / "logs")])
    train = EventAccumulator(str(tmp_path / "logs" / "train"))
    train.Reload()
    validation = EventAccumulator(str(tmp_path / "logs" / "validation"))
    validation.Reload()
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_mae", "epoch_learning_rate"}
    assert set(validation.Tags()["scalars"]) == {"epoch_loss", "epoch_mae"}
    for name in ("loss", "mae"):
        events = train.Scalars(f"epoch_{name}")
        assert [e.step for e in events] == [0, 1, 2]
        np.testing.assert_allclose([e.value for e in events], history.history[name], rtol=1e-6)
        val = [e.value for e in validation.Scalars(f"epoch_{name}")]
        np.testing.assert_allclose(val, history.history[f"val_{name}"], rtol=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.05] * 3)


def test_tensorboard_without_the_package_names_the_extra_and_csvlogger(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails
    monkeypatch.setitem(sys.modules, "tensorboard.compat", None)
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    with pytest.raises(ImportError, match=r"minidl\[tensorboard\].*CSVLogger"):
        keras.callbacks.TensorBoard(log_dir="unused")


def test_tensorboard_refuses_what_it_does_not_write():
    pytest.importorskip("tensorboard")
    with pytest.raises(ValueError, match="histogram_freq"):
        keras.callbacks.TensorBoard(histogram_freq=1)


# ---- item 6: errors that point at the real mistake -------------------------------------------


def _no_side_effects(model, action, exc_type, *fragments):
    """``action()`` raises ``exc_type`` with every fragment, and changes no weight."""
    before = [w.copy() for w in model.get_weights()]
    iterations = int(model.optimizer.iterations) if model.optimizer is not None else None
    with pytest.raises(exc_type) as info:
        action()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    if iterations is not None:
        assert int(model.optimizer.iterations) == iterations
    return message


def _mnist_like(n=100):
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28)).astype("float32"), rng.integers(0, 10, n)


def test_a_missing_flatten_is_named_not_the_labels():
    x, y = _mnist_like()
    model = keras.Sequential([keras.Input((28, 28)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    message = _no_side_effects(model, lambda: model.fit(x, y, epochs=1, verbose=0),
                               keras.ShapeError, "output has shape (None, 28, 10)",
                               "Flatten()")
    assert "expects y of integer labels" not in message
    _no_side_effects(model, lambda: model.evaluate(x, y, verbose=0), keras.ShapeError,
                     "Flatten()")


def test_one_hot_targets_with_a_missing_flatten_also_point_at_the_output():
    x, y = _mnist_like()
    model = keras.Sequential([keras.Input((28, 28)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    _no_side_effects(model, lambda: model.fit(x, keras.utils.to_categorical(y, 10), verbose=0),
                     keras.ShapeError, "(None, 28, 10)", "Flatten()")


def test_an_output_of_the_wrong_width_names_the_number_of_units():
    x = np.ones((12, 4), dtype="float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    _no_side_effects(model, lambda: model.fit(x, np.ones((12, 3)), verbose=0),
                     keras.ShapeError, "(None, 1)", "give the last layer 3 units")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    _no_side_effects(model, lambda: model.fit(x, np.eye(3)[np.arange(12) % 3], verbose=0),
                     keras.ShapeError, "Dense(3, activation='softmax')")


def test_a_list_of_inputs_for_a_one_input_model_says_so():
    x, y = _mnist_like()
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    message = _no_side_effects(model, lambda: model.fit([x, x], y, verbose=0), ValueError,
                               "has one input, but x is a list of 2 arrays")
    assert "2 samples" not in message
    _no_side_effects(model, lambda: model.predict([x, x], verbose=0), ValueError,
                     "has one input, but x is a list of 2 arrays")
    # Plain nested lists are data, not several inputs.
    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    small.compile(optimizer="sgd", loss="mse")
    small.fit([[1.0, 2.0], [3.0, 4.0]], [[1.0], [0.0]], verbose=0)


def test_an_x_y_tuple_given_as_x_says_so():
    x, y = _mnist_like()
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    message = _no_side_effects(model, lambda: model.fit((x, y), verbose=0), ValueError,
                               "(x, y) tuple given as x", "model.fit(x, y)")
    assert "ragged" not in message


def test_sparse_crossentropy_on_one_sigmoid_unit_suggests_binary_crossentropy():
    x = np.random.default_rng(0).random((20, 4)).astype("float32")
    y = np.arange(20) % 2
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    _no_side_effects(model, lambda: model.fit(x, y, verbose=0), ValueError,
                     "single unit", "loss='binary_crossentropy'")
    # Keras trains categorical cross-entropy on one unit at loss 0.0; minidl refuses.
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    _no_side_effects(model, lambda: model.fit(x, y.reshape(-1, 1), verbose=0), ValueError,
                     "single output unit", "loss is 0")


# ---- item 3: custom losses and metrics written with keras.ops --------------------------------


def my_mse(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def my_mae(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


def _regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, x @ np.array([[1.0], [2.0], [-1.0]], dtype="float32")


def _fresh_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])


def test_a_custom_ops_loss_trains_exactly_as_the_builtin_one():
    x, y = _regression()
    custom, builtin = _fresh_model(), _fresh_model()
    custom.compile(optimizer="sgd", loss=my_mse, metrics=[my_mae])
    builtin.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    h1 = custom.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = builtin.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h1.history["my_mae"], h2.history["mae"], rtol=1e-6)
    for a, b in zip(custom.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # evaluate: the batch mean of the per-sample values (Keras's sum_over_batch_size).
    pred = custom.predict(x, verbose=0)
    results = custom.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5)
    assert results["my_mae"] == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-5)


def test_a_custom_loss_with_sample_weight_reduces_as_keras():
    x, y = _regression()
    model = _fresh_model()
    model.compile(optimizer="sgd", loss=my_mse)
    w = np.linspace(0.0, 2.0, 32)
    loss = model.evaluate(x, y, sample_weight=w, batch_size=32, verbose=0)
    per_sample = ((model.predict(x, verbose=0) - y) ** 2)[:, 0]
    assert loss == pytest.approx(np.sum(w * per_sample) / 32, rel=1e-5)  # / N, not / Σw


def test_custom_losses_and_metrics_resolve_through_custom_objects():
    loss = keras.losses.get(my_mse)
    restored = keras.losses.deserialize(keras.losses.serialize(loss),
                                        custom_objects={"my_mse": my_mse})
    t, p = np.ones((2, 3), dtype="float32"), np.zeros((2, 3), dtype="float32")
    assert float(restored(t, p)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="custom_objects"):
        keras.losses.deserialize(keras.losses.serialize(loss))
    assert float(keras.losses.get("my_mse", custom_objects={"my_mse": my_mse})(t, p)) == 1.0
    metric = keras.metrics.get("my_mae", custom_objects={"my_mae": my_mae})
    metric.update_state(t, p)
    assert metric.name == "my_mae" and metric.result() == 1.0


def test_a_model_with_a_custom_loss_reloads_and_recompiles(tmp_path):
    x, y = _regression()
    model = _fresh_model()
    model.compile(optimizer="sgd", loss=my_mse)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.minidl")
    with pytest.raises(ValueError, match="my_mse"):
        keras.models.load_model(tmp_path / "m.minidl")
    loaded = keras.models.load_model(tmp_path / "m.minidl", compile=False)
    loaded.compile(optimizer="sgd", loss=my_mse)
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
