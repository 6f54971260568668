"""The functional API, merge layers, models inside models, multi-output training and the
saving of such models.

Each form is compared with an independent reference: the equivalent ``Sequential`` model
with the same weights, or the same composition written by hand in PyTorch (outputs,
losses and gradients), and each Keras behaviour it mirrors is pinned by its own test.
"""

import json
import os

import numpy as np
import pytest
import torch

import minidl as keras
from minidl import layers
from minidl.errors import ShapeError


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


RNG = np.random.default_rng(0)
X1 = RNG.standard_normal((16, 3)).astype("float32")
X2 = RNG.standard_normal((16, 2)).astype("float32")
Y = RNG.standard_normal((16, 1)).astype("float32")
LABELS = RNG.integers(0, 3, 16)


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _grads(model, loss):
    for w in model.weights:
        w.grad = None
    loss.backward()
    return [np.array(w.grad) for w in model.weights]


# ---- a chain: the same as Sequential ---------------------------------------------------


def _chain_pair():
    inputs = keras.Input(shape=(3,))
    x = layers.Dense(5, activation="relu")(inputs)
    x = layers.Dropout(0.3, name="drop")(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    functional = keras.Model(inputs=inputs, outputs=outputs)
    sequential = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(5, activation="relu"),
                                   layers.Dropout(0.3, name="drop"),
                                   layers.Dense(3, activation="softmax")])
    sequential.set_weights(functional.get_weights())
    return functional, sequential


def test_model_with_inputs_and_outputs_is_functional_and_a_chain_equals_sequential():
    functional, sequential = _chain_pair()
    assert type(functional).__name__ == "Functional" and isinstance(functional, keras.Model)
    np.testing.assert_array_equal(functional.predict(X1, verbose=0),
                                  sequential.predict(X1, verbose=0))
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    ga = _grads(functional, loss_fn(LABELS, functional(X1)))
    gb = _grads(sequential, loss_fn(LABELS, sequential(X1)))
    for a, b in zip(ga, gb):
        np.testing.assert_array_equal(a, b)


def test_a_functional_chain_trains_like_sequential_bitwise():
    functional, sequential = _chain_pair()
    for model in (functional, sequential):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    # The Dropout layers have the same name, so after the same seed the same masks.
    keras.utils.set_random_seed(5)
    ha = functional.fit(X1, LABELS, epochs=2, batch_size=4, verbose=0)
    keras.utils.set_random_seed(5)
    hb = sequential.fit(X1, LABELS, epochs=2, batch_size=4, verbose=0)
    assert ha.history == hb.history
    for a, b in zip(functional.get_weights(), sequential.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- two inputs, merge layers, shared layers: against PyTorch ---------------------------


def _two_input_model():
    a = keras.Input(shape=(3,), name="a")
    b = keras.Input(shape=(2,), name="b")
    ha = layers.Dense(4, activation="tanh", name="ha")(a)
    hb = layers.Dense(4, name="hb")(b)
    joined = layers.concatenate([ha, hb], name="join")
    summed = layers.add([ha, hb], name="sum")
    out = layers.Dense(1, name="out")(layers.concatenate([joined, summed]))
    return keras.Model(inputs=[a, b], outputs=out, name="two_inputs")


def test_two_inputs_match_the_same_composition_in_torch():
    model = _two_input_model()
    k_ha, b_ha, k_hb, b_hb, k_out, b_out = (_t(w) for w in model.get_weights())
    ha = torch.tanh(torch.tensor(X1, dtype=torch.float64) @ k_ha + b_ha)
    hb = torch.tensor(X2, dtype=torch.float64) @ k_hb + b_hb
    out = torch.cat([ha, hb, ha + hb], dim=1) @ k_out + b_out
    loss = ((out - torch.tensor(Y, dtype=torch.float64)) ** 2).mean()
    loss.backward()
    ours = model([X1, X2])
    np.testing.assert_allclose(ours.data, out.detach().numpy(), rtol=1e-5, atol=1e-6)
    grads = _grads(model, keras.losses.MeanSquaredError()(Y, ours))
    for g, ref in zip(grads, (k_ha, b_ha, k_hb, b_hb, k_out, b_out)):
        np.testing.assert_allclose(g, ref.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_a_shared_layer_has_one_set_of_weights_and_sums_its_gradients():
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    shared = layers.Dense(2, name="shared")
    out = layers.subtract([shared(a), shared(b)])
    model = keras.Model([a, b], out)
    assert model.count_params() == 8 and len(model.weights) == 2
    xb = X1[::-1].copy()
    kernel, bias = (_t(w) for w in model.get_weights())
    ref = ((torch.tensor(X1, dtype=torch.float64) @ kernel + bias)
           - (torch.tensor(xb, dtype=torch.float64) @ kernel + bias))
    (ref ** 2).sum().backward()
    ours = model([X1, xb])
    grads = _grads(model, (ours * ours).sum())
    np.testing.assert_allclose(grads[0], kernel.grad.numpy(), rtol=1e-4, atol=1e-5)
    # The bias cancels in the difference: its two gradients sum to zero.
    np.testing.assert_allclose(grads[1], 0.0, atol=1e-5)


MERGES = [
    ("add", lambda x: layers.Add()(x), lambda t: t[0] + t[1] + t[2], 3),
    ("subtract", lambda x: layers.Subtract()(x), lambda t: t[0] - t[1], 2),
    ("multiply", lambda x: layers.Multiply()(x), lambda t: t[0] * t[1] * t[2], 3),
    ("average", lambda x: layers.Average()(x), lambda t: (t[0] + t[1]) / 2, 2),
    ("maximum", lambda x: layers.Maximum()(x), lambda t: torch.maximum(t[0], t[1]), 2),
    ("minimum", lambda x: layers.Minimum()(x), lambda t: torch.minimum(t[0], t[1]), 2),
    ("concatenate", lambda x: layers.Concatenate()(x), lambda t: torch.cat(t, dim=-1), 2),
    ("concatenate_axis1", lambda x: layers.Concatenate(axis=1)(x),
     lambda t: torch.cat(t, dim=1), 2),
    ("dot", lambda x: layers.Dot(axes=1)(x), lambda t: (t[0] * t[1]).sum(1, keepdim=True), 2),
    ("dot_normalized", lambda x: layers.Dot(axes=1, normalize=True)(x),
     lambda t: torch.nn.functional.cosine_similarity(t[0], t[1]).unsqueeze(1), 2),
]


@pytest.mark.parametrize("name, ours, theirs, n", MERGES, ids=[m[0] for m in MERGES])
def test_merge_layers_match_torch_forward_and_gradients(name, ours, theirs, n):
    shape = (4, 3, 5) if name == "concatenate_axis1" else (4, 5)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(shape) for _ in range(n)]
    tensors = [keras.Tensor(a, requires_grad=True) for a in arrays]
    out = ours(tensors)
    ref_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = theirs(ref_in)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = rng.standard_normal(ref.shape)
    (out * weights).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    for t, r in zip(tensors, ref_in):
        np.testing.assert_allclose(t.grad, r.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_merge_functional_forms_and_output_shapes():
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    assert layers.add([a, b]).shape == (None, 4)
    assert layers.concatenate([a, b]).shape == (None, 8)
    assert layers.dot([a, b], axes=1).shape == (None, 1)
    for fn in (layers.subtract, layers.multiply, layers.average, layers.maximum,
               layers.minimum):
        assert fn([a, b]).shape == (None, 4)
    c, d = keras.Input(shape=(2, 3)), keras.Input(shape=(3, 5))
    assert layers.Dot(axes=(2, 1))([c, d]).shape == (None, 2, 5)


# ---- graph-building errors ---------------------------------------------------------------


def test_merge_shape_errors_name_both_layers_and_shapes_at_build_time():
    a = keras.Input(shape=(3,))
    left = layers.Dense(4, name="left")(a)
    right = layers.Dense(5, name="right")(a)
    with pytest.raises(ShapeError) as error:
        layers.add([left, right])
    text = str(error.value)
    for part in ("'left'", "'right'", "(None, 4)", "(None, 5)"):
        assert part in text, text
    with pytest.raises(ShapeError, match=r"Concatenate.*'left'.*'right'"):
        layers.concatenate([left, right], axis=0)  # the other axis (4 vs 5) must agree


def test_a_layer_that_cannot_take_its_input_fails_when_the_graph_is_built():
    a = keras.Input(shape=(3,), name="features")
    shared = layers.Dense(2, name="head")
    shared(a)
    with pytest.raises(ShapeError) as error:
        shared(keras.Input(shape=(7,), name="other"))
    assert "'head'" in str(error.value) and "(None, 7)" in str(error.value)
    assert "'other'" in str(error.value)


def test_graph_disconnected_is_a_clear_error():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    out = layers.add([a, b])
    with pytest.raises(ValueError, match="Graph disconnected.*'b'"):
        keras.Model(inputs=a, outputs=out)


def test_wrong_number_of_input_arrays_is_a_clear_error():
    one = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    one.compile(optimizer="sgd", loss="mse")
    before = one.get_weights()
    with pytest.raises(ValueError, match="one input, but x is a list of 2 arrays"):
        one.fit([X1, X1], Y, verbose=0)  # Keras would train on X1 with only a warning
    np.testing.assert_array_equal(before[0], one.get_weights()[0])
    model = _two_input_model()
    with pytest.raises(ValueError, match="2 input"):
        model.predict(X1, verbose=0)
    with pytest.raises(ValueError, match=r"no \['b'\]"):
        model.predict({"a": X1}, verbose=0)


# ---- structure ---------------------------------------------------------------------------


def test_layers_inputs_outputs_and_get_layer_as_keras():
    model = _two_input_model()
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["a", "b"]  # InputLayers first, as Keras lists them
    assert all(isinstance(layer, layers.InputLayer) for layer in model.layers[:2])
    assert model.get_layer("ha") is model.layers[2]
    assert model.get_layer(index=-1).name == "out"
    assert model.input_shape == [(None, 3), (None, 2)] and model.output_shape == (None, 1)
    assert [t.shape for t in model.inputs] == [(None, 3), (None, 2)]
    assert model.outputs[0].shape == (None, 1)
    assert model.get_layer("ha").output.shape == (None, 4)
    assert model.get_layer("ha").input is model.input[0]
    one = keras.Model(*(lambda i: (i, layers.Dense(2)(i)))(keras.Input(shape=(3,))))
    assert one.input.shape == (None, 3) and one.output.shape == (None, 2)


def test_keras_input_is_a_symbolic_tensor_with_a_batch_axis():
    x = keras.Input(shape=(28, 28), name="image")
    assert x.shape == (None, 28, 28) and x.name == "image"
    y = layers.Flatten()(x)
    assert y.shape == (None, 784) and "KerasTensor" in repr(y)
    assert x.dtype == "float32"


def test_dict_inputs_and_outputs_use_the_names():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(2,), name="b")
    out = layers.Dense(1)(layers.concatenate([a, b]))
    model = keras.Model(inputs={"left": a, "right": b}, outputs={"score": out})
    assert model.output_names == ["score"]
    by_dict = model.predict({"left": X1, "right": X2}, verbose=0)
    by_list = model.predict([X1, X2], verbose=0)
    np.testing.assert_array_equal(by_dict["score"], by_list["score"])


# ---- models inside models ---------------------------------------------------------------


def test_tensorflow_quickstart_probability_model():
    """``keras.Sequential([model, keras.layers.Softmax()])`` from the TF quickstart."""
    model = keras.Sequential([layers.Flatten(input_shape=(4, 2)),
                              layers.Dense(8, activation="relu"), layers.Dense(3)])
    probability_model = keras.Sequential([model, layers.Softmax()])
    x = RNG.standard_normal((5, 4, 2)).astype("float32")
    logits = model.predict(x, verbose=0)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probability_model.predict(x, verbose=0), expected, rtol=1e-6)
    # The inner model's weights are the outer's: shared objects, not copies.
    assert all(a is b for a, b in zip(probability_model.weights, model.weights))


def test_a_nested_model_is_one_summary_row_with_its_parameters():
    inner = keras.Sequential([layers.Dense(4), layers.Dense(2)], name="inner")
    outer = keras.Sequential([keras.Input(shape=(3,)), inner, layers.Softmax()])
    lines = []
    outer.summary(print_fn=lines.append)
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 2
    assert "inner (Sequential)" in rows[0] and "(None, 2)" in rows[0] and "26" in rows[0]


def test_a_functional_model_called_inside_another_shares_weights_and_trains_them():
    x = keras.Input(shape=(3,))
    encoder = keras.Model(x, layers.Dense(2, activation="tanh", name="code")(x),
                          name="encoder")
    outer_in = keras.Input(shape=(3,))
    outer = keras.Model(outer_in, layers.Dense(1, name="head")(encoder(outer_in)))
    assert [layer.name for layer in outer.layers][1] == "encoder"
    assert outer.weights[0] is encoder.weights[0]
    kernel, bias, head_k, head_b = (_t(w) for w in outer.get_weights())
    ref = torch.tanh(torch.tensor(X1, dtype=torch.float64) @ kernel + bias) @ head_k + head_b
    np.testing.assert_allclose(outer.predict(X1, verbose=0), ref.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    before = encoder.get_weights()
    outer.compile(optimizer="sgd", loss="mse")
    outer.fit(X1, Y, epochs=1, verbose=0)
    assert not np.array_equal(before[0], encoder.get_weights()[0])


def test_setting_trainable_on_a_model_reaches_every_layer_inside():
    inner = keras.Sequential([layers.Dense(4), layers.Dense(2)])
    outer = keras.Sequential([keras.Input(shape=(3,)), inner, layers.Dense(1)])
    outer.trainable = False
    assert all(not layer.trainable for layer in inner.layers + outer.layers)
    assert outer.trainable_weights == [] and len(outer.non_trainable_weights) == 6
    outer.trainable = True
    assert all(layer.trainable for layer in inner.layers)
    inner.trainable = False
    assert len(outer.trainable_variables) == 2 and len(outer.non_trainable_variables) == 4
    assert outer.variables == outer.weights
    before = outer.get_weights()
    outer.compile(optimizer="sgd", loss="mse")
    outer.fit(X1, Y, verbose=0)
    after = outer.get_weights()
    for a, b in zip(before[:4], after[:4]):  # the frozen inner model did not move
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[4], after[4])


# ---- several outputs -------------------------------------------------------------------


def _two_outputs():
    x = keras.Input(shape=(3,))
    h = layers.Dense(6, activation="relu")(x)
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    return keras.Model(x, [reg, cls])


def test_multi_output_history_keys_and_weighted_total_loss():
    model = _two_outputs()
    model.compile(optimizer="adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.25, "cls": 2.0}, metrics={"cls": ["accuracy"]})
    history = model.fit(X1, {"reg": Y, "cls": LABELS}, epochs=2, verbose=0,
                        validation_split=0.25)
    assert set(history.history) == {"loss", "reg_loss", "cls_loss", "cls_accuracy", "val_loss",
                                    "val_reg_loss", "val_cls_loss", "val_cls_accuracy"}
    logs = model.evaluate(X1, [Y, LABELS], batch_size=16, return_dict=True, verbose=0)
    reg, cls = model.predict(X1, verbose=0)
    mse = float(np.mean((reg - Y) ** 2))
    xent = float(np.mean(-np.log(cls[np.arange(16), LABELS])))
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["cls_loss"] == pytest.approx(xent, rel=1e-5)
    assert logs["loss"] == pytest.approx(0.25 * mse + 2.0 * xent, rel=1e-5)
    assert logs["cls_accuracy"] == pytest.approx(np.mean(cls.argmax(1) == LABELS))
    assert model.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]


def test_multi_output_lists_equal_dicts_and_the_gradient_is_the_weighted_sum():
    model = _two_outputs()
    model.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[1.0, 0.5])
    reg, cls = model(X1, training=True)
    mse, xent = keras.losses.MeanSquaredError(), keras.losses.SparseCategoricalCrossentropy()
    expected = _grads(model, mse(Y, reg) + 0.5 * xent(LABELS, cls))
    ours = _grads(model, model.compute_loss(keras.models.multi_io.Columns([Y, LABELS]),
                                            model(X1, training=True)))
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_multi_output_compile_errors_as_keras():
    model = _two_outputs()
    with pytest.raises(ValueError, match="as many entries as the model has outputs"):
        model.compile(loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"\['nope'\].*\['reg', 'cls'\]"):
        model.compile(loss={"nope": "mse"})
    with pytest.raises(ValueError, match="list of 3"):
        model.compile(loss=["mse"] * 3)
    assert not model.compiled


# ---- summary and saving --------------------------------------------------------------------


def test_summary_has_connected_to_only_for_a_graph_that_is_not_a_chain():
    lines = []
    _two_input_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    join_row = next(line for line in lines if line.startswith("│ join "))
    assert "ha[0][0], hb[0][0]" in join_row
    assert next(line for line in lines if line.startswith("│ a ")).rstrip(" │").endswith("-")
    chain, _ = _chain_pair()
    lines = []
    chain.summary(print_fn=lines.append)
    assert "Connected to" not in "\n".join(lines)
    assert "input_layer (InputLayer)" in "\n".join(lines)


def test_functional_config_json_and_clone_round_trips():
    model = _two_input_model()
    config = model.get_config()
    rebuilt = keras.Model.from_config(config)  # as Keras: a functional config
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict([X1, X2], verbose=0),
                                  model.predict([X1, X2], verbose=0))
    assert rebuilt.get_config() == config
    from_json = keras.models.model_from_json(model.to_json())
    assert json.loads(from_json.to_json()) == json.loads(model.to_json())
    clone = keras.models.clone_model(model)
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert not any(np.array_equal(a, b) for a, b in zip(clone.get_weights()[::2],
                                                        model.get_weights()[::2]))


def test_save_and_load_functional_and_nested_models_bitwise(tmp_path):
    model = _two_input_model()
    model.compile(optimizer="adam", loss="mse")
    model.fit([X1, X2], Y, epochs=1, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict([X1, X2], verbose=0),
                                  model.predict([X1, X2], verbose=0))
    # Resuming equals continuing: the optimizer state came back too.
    model.fit([X1, X2], Y, epochs=1, shuffle=False, verbose=0)
    loaded.fit([X1, X2], Y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    inner = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    nested = keras.Sequential([keras.Input(shape=(3,)), inner, layers.Softmax()])
    nested.save(path)
    again = keras.models.load_model(path)
    assert type(again.layers[0]).__name__ == "Sequential"
    np.testing.assert_array_equal(again.predict(X1, verbose=0), nested.predict(X1, verbose=0))


def test_shared_layers_and_inner_models_survive_a_config_round_trip(tmp_path):
    x = keras.Input(shape=(3,))
    encoder = keras.Model(x, layers.Dense(2, activation="tanh")(x), name="encoder")
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    shared = layers.Dense(3, name="shared")
    left = encoder(shared(a))
    right = encoder(shared(shared(b)))  # shared twice on this branch
    model = keras.Model([a, b], layers.Dot(axes=1, normalize=True)([left, right]))
    assert len(model.weights) == 4  # shared's and the encoder's, once each
    model.compile(optimizer="sgd", loss="mse")
    path = os.path.join(tmp_path, "siamese.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.weights) == 4
    np.testing.assert_array_equal(loaded.predict([X1, X1[::-1]], verbose=0),
                                  model.predict([X1, X1[::-1]], verbose=0))
    assert json.loads(loaded.to_json())["config"]["layers"][2]["inbound_nodes"] == \
        json.loads(model.to_json())["config"]["layers"][2]["inbound_nodes"]
