"""Data adapters: arrays, Python generators and ``keras.utils.PyDataset`` as batches.

Each test checks the batches against the data itself (what went in must come out, in the
order and grouping Keras documents).
"""

import math

import numpy as np
import pytest

import minidl as keras
from minidl.data_adapters import (
    ArrayDataAdapter,
    GeneratorDataAdapter,
    PyDatasetAdapter,
    get_data_adapter,
)

X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10)


class Batches(keras.utils.PyDataset):
    """The keras.io example's shape: len = ceil(n / batch_size), item = a slice."""

    def __init__(self, x, y, batch_size, weights=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.weights = x, y, batch_size, weights
        self.epochs_ended = 0

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.weights is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.weights[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_arrays_in_order_with_a_short_last_batch():
    adapter = get_data_adapter(X, Y, batch_size=4)
    assert isinstance(adapter, ArrayDataAdapter) and adapter.steps_per_epoch == 3
    batches = list(adapter.batches())
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), Y)
    assert all(b[2] is None for b in batches)


def test_arrays_shuffled_each_epoch_keep_x_and_y_together():
    adapter = get_data_adapter(X, Y, batch_size=3, shuffle=True,
                               generator=np.random.default_rng(0))
    first = np.concatenate([b[1] for b in adapter.batches()])
    second = np.concatenate([b[1] for b in adapter.batches()])
    assert sorted(first) == list(Y) and not np.array_equal(first, second)
    for xb, yb, _ in adapter.batches():
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # row i of X is (2i, 2i+1)


def test_steps_per_epoch_limits_the_batches():
    adapter = get_data_adapter(X, Y, batch_size=2, steps_per_epoch=3)
    assert [b[1].tolist() for b in adapter.batches()] == [[0, 1], [2, 3], [4, 5]]


def test_a_generator_with_steps_per_epoch_continues_across_epochs():
    def forever():
        i = 0
        while True:
            yield X[i % 10:i % 10 + 1], Y[i % 10:i % 10 + 1]
            i += 1

    adapter = get_data_adapter(forever(), steps_per_epoch=4)
    assert isinstance(adapter, GeneratorDataAdapter) and adapter.steps_per_epoch == 4
    epoch1 = [int(b[1][0]) for b in adapter.batches()]
    epoch2 = [int(b[1][0]) for b in adapter.batches()]
    assert (epoch1, epoch2) == ([0, 1, 2, 3], [4, 5, 6, 7])  # not restarted: as Keras


def test_a_finite_generator_ends_its_epoch_and_then_warns():
    adapter = get_data_adapter((X[i:i + 5], Y[i:i + 5], np.ones(5)) for i in (0, 5))
    assert adapter.steps_per_epoch is None
    batches = list(adapter.batches())
    assert len(batches) == 2 and batches[1][2].tolist() == [1.0] * 5
    with pytest.warns(UserWarning, match="ran out of data"):
        assert list(adapter.batches()) == []


def test_a_generator_that_runs_out_before_steps_per_epoch_warns():
    adapter = get_data_adapter(iter([(X, Y)]), steps_per_epoch=3)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert len(list(adapter.batches())) == 1


@pytest.mark.parametrize("bad, what", [
    (X, "ndarray of shape (10, 2)"),
    ({"x": X}, "dict"),
    ((X, Y, None, None), "tuple of 4 items"),
])
def test_a_batch_that_is_not_a_tuple_is_a_value_error(bad, what):
    adapter = get_data_adapter(iter([bad]))
    with pytest.raises(ValueError, match="must give tuples \\(x, y\\)") as info:
        list(adapter.batches())
    assert what in str(info.value) and "batch 0" in str(info.value)


def test_predict_style_batches_of_x_alone():
    batches = list(get_data_adapter(iter([(X,), (X,)])).batches())
    assert [(b[1], b[2]) for b in batches] == [(None, None), (None, None)]


def test_pydataset_in_order_with_weights_and_on_epoch_end():
    dataset = Batches(X, Y, batch_size=4, weights=np.linspace(0, 1, 10))
    adapter = get_data_adapter(dataset)
    assert isinstance(adapter, PyDatasetAdapter) and adapter.steps_per_epoch == 3
    assert dataset.num_batches == 3
    batches = list(adapter.batches())
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), Y)
    np.testing.assert_allclose(np.concatenate([b[2] for b in batches]), np.linspace(0, 1, 10))
    adapter.on_epoch_end()
    assert dataset.epochs_ended == 1


def test_pydataset_shuffle_visits_every_batch_once_in_a_new_order():
    dataset = Batches(X, Y, batch_size=1)
    adapter = get_data_adapter(dataset, shuffle=True, generator=np.random.default_rng(3))
    orders = [[int(b[1][0]) for b in adapter.batches()] for _ in range(2)]
    assert sorted(orders[0]) == list(range(10)) and orders[0] != orders[1]
    assert sorted(orders[1]) == list(range(10))


def test_pydataset_steps_per_epoch_and_a_bare_array_item():
    dataset = Batches(X, Y, batch_size=2)
    assert len(list(get_data_adapter(dataset, steps_per_epoch=2).batches())) == 2

    class BareArrays(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X

    with pytest.raises(ValueError, match="BareArrays \\(a PyDataset\\) must give tuples"):
        list(get_data_adapter(BareArrays()).batches())


def test_y_with_a_generator_or_pydataset_is_refused():
    with pytest.raises(ValueError, match="`y` argument is not supported when x is a generator"):
        get_data_adapter(iter([(X, Y)]), y=Y)
    with pytest.raises(ValueError, match="when x is a PyDataset"):
        get_data_adapter(Batches(X, Y, 2), sample_weight=np.ones(10))
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
        get_data_adapter(X, Y, steps_per_epoch=0)


def test_pydataset_base_needs_len_and_getitem():
    with pytest.raises(NotImplementedError, match="__len__"):
        len(keras.utils.PyDataset())
    with pytest.raises(NotImplementedError, match="__getitem__"):
        keras.utils.PyDataset()[0]


# ---- through fit / evaluate / predict ---------------------------------------------------------


def _regression(n=24):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def test_fit_on_a_pydataset_equals_fit_on_the_same_batches_of_arrays():
    x, y = _regression()
    from_arrays, from_dataset = _model(), _model()
    h1 = from_arrays.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    dataset = Batches(x, y, batch_size=8)
    h2 = from_dataset.fit(dataset, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-6)
    for a, b in zip(from_dataset.get_weights(), from_arrays.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert dataset.epochs_ended == 3
    assert from_dataset.evaluate(dataset, verbose=0) == pytest.approx(
        from_arrays.evaluate(x, y, batch_size=8, verbose=0), rel=1e-6)
    np.testing.assert_allclose(from_dataset.predict(Batches(x, y, 5), verbose=0),
                               from_arrays.predict(x, verbose=0), rtol=1e-6)


def test_fit_on_a_generator_with_steps_and_validation_steps():
    x, y = _regression()

    def forever(batch_size):
        while True:
            for lo in range(0, len(x), batch_size):
                yield x[lo:lo + batch_size], y[lo:lo + batch_size]

    from_arrays, from_generator = _model(), _model()
    h1 = from_arrays.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0,
                         validation_data=(x, y))
    h2 = from_generator.fit(forever(6), steps_per_epoch=4, epochs=2, verbose=0,
                            validation_data=forever(24), validation_steps=1)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(h2.history["val_loss"], h1.history["val_loss"], rtol=1e-6)
    assert int(from_generator.optimizer.iterations) == 8


def test_a_generator_with_sample_weights_weights_the_loss():
    x, y = _regression(8)
    model = _model()
    w = np.linspace(0.0, 1.0, 8)
    loss = model.evaluate(iter([(x, y, w)]), verbose=0)
    per_sample = ((model.predict(x, verbose=0) - y) ** 2)[:, 0]
    assert loss[0] == pytest.approx(np.sum(w * per_sample) / 8, rel=1e-5)


def test_a_generator_of_bare_arrays_is_refused_even_in_predict():
    x, y = _regression(8)
    model = _model()
    model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="must give tuples"):
        model.predict((x[i:i + 4] for i in (0, 4)), verbose=0)
    np.testing.assert_allclose(model.predict(((x[i:i + 4],) for i in (0, 4)), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="must give tuples"):
        model.fit((x[i:i + 4] for i in (0, 4)), verbose=0)
