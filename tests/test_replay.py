"""fit's recorded steps (minidl/models/replay.py): replaying the ops of a recorded step gives
bitwise the training that running every step through the layers and the graph gives, and the
replay is used only where it is certain to be right."""

import numpy as np
import pytest

import minidl
from minidl import config, layers, regularizers
from minidl.errors import NonFiniteError
from minidl.models import replay
from minidl.tensor import Tensor

FEATURES, CLASSES = 12, 4


@pytest.fixture
def replays(monkeypatch):
    """Counts the replayed steps."""
    count = {"steps": 0}
    run = replay.RecordedStep.run

    def counted(self, *args):
        count["steps"] += 1
        return run(self, *args)

    monkeypatch.setattr(replay.RecordedStep, "run", counted)
    yield count
    config.set_step_replay(True)


def data(n=70, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, FEATURES)).astype("float32"),
            rng.integers(0, CLASSES, n).astype("uint8"))


def mlp():
    return minidl.Sequential([
        layers.Input((FEATURES,)),
        layers.Dense(16, activation="relu", kernel_regularizer=regularizers.l2(1e-3)),
        layers.Dropout(0.3),
        layers.Dense(16, activation="tanh"),
        layers.Activation("relu"),
        layers.Dense(CLASSES, activation="softmax"),
    ])


def functional():
    inputs = minidl.Input((FEATURES,))
    h = layers.Dense(16, activation="relu")(inputs)
    h = layers.Dropout(0.3)(h)
    h = layers.LeakyReLU(0.1)(layers.Dense(8)(h))
    return minidl.Model(inputs, layers.Dense(CLASSES, activation="softmax")(h))


def train(build, replay_on, loss="sparse_categorical_crossentropy", y=None, epochs=3,
          **fit_kwargs):
    config.set_step_replay(replay_on)
    minidl.utils.set_random_seed(11)
    minidl.layers.clear_session()
    model = build()
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    x, labels = data()
    history = model.fit(x, labels if y is None else y, batch_size=16, epochs=epochs,
                        verbose=0, **fit_kwargs)
    return model, history.history


def assert_same_training(a, b):
    (model_a, hist_a), (model_b, hist_b) = a, b
    for u, v in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(u, v)  # the same calls in the same order: exact
    assert hist_a == hist_b


@pytest.mark.parametrize("build", [mlp, functional])
def test_replayed_steps_train_bitwise_as_ordinary_steps(build, replays):
    # 70 samples at batch 16 (the last batch has 6: its own recording), a validation split,
    # three epochs (Dropout's masks are re-keyed per epoch: one recording per epoch).
    ordinary = train(build, False, validation_split=0.2)
    assert replays["steps"] == 0
    replayed = train(build, True, validation_split=0.2)
    # 56 training samples: 4 batches an epoch (16, 16, 16, 8); the first full batch and
    # the last one of each epoch are recorded, the other two replayed
    assert replays["steps"] == 3 * 2
    assert_same_training(ordinary, replayed)


def test_sample_weights_and_one_hot_labels_train_the_same(replays):
    x, labels = data()
    onehot = np.eye(CLASSES, dtype="float32")[labels]
    weights = np.linspace(0.5, 2.0, len(x)).astype("float32")
    for loss, y in (("categorical_crossentropy", onehot), ("mse", onehot)):
        ordinary = train(mlp, False, loss=loss, y=y, sample_weight=weights)
        replayed = train(mlp, True, loss=loss, y=y, sample_weight=weights)
        assert_same_training(ordinary, replayed)


class Scale(layers.Layer):
    """A user's layer: its call is the user's code."""

    def call(self, inputs):
        return inputs * 2.0


@pytest.mark.parametrize("build", [
    lambda: minidl.Sequential([layers.Input((FEATURES,)), layers.Dense(8), Scale(),
                               layers.Dense(CLASSES, activation="softmax")]),
    lambda: minidl.Sequential([layers.Input((FEATURES,)), layers.Dense(8),
                               layers.BatchNormalization(),
                               layers.Dense(CLASSES, activation="softmax")]),
    lambda: minidl.Sequential([layers.Input((FEATURES,)),
                               layers.Dense(8, activation=lambda t: t * 0.5),
                               layers.Dense(CLASSES, activation="softmax")]),
], ids=["user layer", "batch norm", "user activation"])
def test_models_with_user_code_or_step_state_are_not_replayed(build, replays):
    ordinary = train(build, False, epochs=2)
    replayed = train(build, True, epochs=2)
    assert replays["steps"] == 0
    assert_same_training(ordinary, replayed)


def test_a_users_loss_function_is_not_replayed(replays):
    def loss(y_true, y_pred):
        return minidl.ops.mean(minidl.ops.square(y_true - y_pred))

    x, labels = data()
    onehot = np.eye(CLASSES, dtype="float32")[labels]
    train(mlp, True, loss=loss, y=onehot, epochs=1)
    assert replays["steps"] == 0


def test_a_non_finite_loss_in_a_replayed_step_stops_fit_as_an_ordinary_one(replays,
                                                                          monkeypatch):
    monkeypatch.setattr(minidl.validation, "CHECK_FINITE", False)
    x, labels = data()
    x[40] = np.inf  # sample 40 is in the third batch (replayed) of the first epoch
    config.set_step_replay(True)
    minidl.utils.set_random_seed(11)
    model = mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(NonFiniteError, match="batch 3/5") as err:
        model.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert replays["steps"] == 2 and err.value.batch == 2  # batches 2 and 3 replayed
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the step was not applied


def test_a_tape_reading_an_array_made_outside_the_ops_is_not_replayable():
    x = np.ones((4, 3), np.float32)
    w = Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    with replay.Recorder() as tape:
        h = minidl.ops.matmul(Tensor(x), w)
        shifted = h + Tensor(np.arange(8, dtype=np.float32).reshape(4, 2))  # not x, y, w
        loss = minidl.ops.mean(shifted)
    assert replay.RecordedStep.from_tape(tape, (x, None, None), loss, h, [w], [w]) is None
    with replay.Recorder() as tape:
        h = minidl.ops.matmul(Tensor(x), w)
        loss = minidl.ops.mean(h * 3.0)  # a one-element constant is fine
    step = replay.RecordedStep.from_tape(tape, (x, None, None), loss, h, [w], [w])
    assert step is not None
    value, prediction = step.run(2 * x, None, None)  # another batch: the recording follows it
    np.testing.assert_allclose(prediction, (2 * x) @ w.data)
    np.testing.assert_allclose(value, 3 * ((2 * x) @ w.data).mean())
    np.testing.assert_allclose(w.grad, 3 * (2 * x).T @ np.full((4, 2), 1 / 8, np.float32))


def test_replay_can_be_switched_off_by_the_environment(monkeypatch):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import minidl; print(minidl.config."
                          "step_replay())"], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "MINIDL_STEP_REPLAY": "0"})
    assert out.stdout.strip() == "False"


def test_a_model_with_two_inputs_trains_with_ordinary_steps(replays):
    def build():
        a, b = minidl.Input((FEATURES,)), minidl.Input((3,))
        h = layers.Dense(8, activation="relu")(a)
        return minidl.Model([a, b], layers.Dense(CLASSES, activation="softmax")(h))

    x, labels = data()
    extra = np.ones((len(x), 3), np.float32)
    config.set_step_replay(True)
    minidl.utils.set_random_seed(11)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit([x, extra], labels, batch_size=16, epochs=2, verbose=0)
    assert replays["steps"] == 0 and len(history.history["loss"]) == 2
