"""Precision, Recall, AUC, F1Score, top-k accuracies, Mean, Sum, RMSE, MAPE: standalone (the
values of Keras 3's documented examples, and hand computations) and compiled (History keys
named as Keras names them).
"""

import math

import numpy as np
import pytest

import minidl as keras
from minidl import metrics


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield
    keras.backend.clear_session()


# ---- Keras 3's documented examples --------------------------------------------------------


def test_precision_keras_examples():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    # top_k: ties are broken by position, so only the first k scores of a row count.
    m = metrics.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == 0.0
    m = metrics.Precision(top_k=4)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == 0.5


def test_recall_keras_examples():
    m = metrics.Recall()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0


def test_a_score_of_exactly_the_threshold_is_negative():
    m = metrics.Precision()
    m.update_state([1, 0], [0.5, 0.5000001])
    assert m.result() == 0.0  # only the second (a false positive) is above 0.5
    r = metrics.Recall(thresholds=[0.3, 0.5, 0.7])
    r.update_state([1, 1, 1, 0], [0.4, 0.6, 0.8, 0.9])
    assert r.result() == pytest.approx([1.0, 2 / 3, 1 / 3])


def test_precision_counts_over_the_epoch_not_per_batch():
    m = metrics.Precision()
    m.update_state([1, 0], [0.9, 0.9])  # tp 1, fp 1
    m.update_state([1, 1, 1], [0.9, 0.9, 0.9])  # tp 3
    assert m.result() == pytest.approx(4 / 5)  # not the mean of 1/2 and 1


def test_precision_class_id_uses_one_column():
    y_true = np.array([[1, 0], [0, 1], [1, 0]])
    y_pred = np.array([[0.8, 0.3], [0.7, 0.9], [0.2, 0.6]])
    m = metrics.Precision(class_id=1)
    m.update_state(y_true, y_pred)
    assert m.result() == 0.5  # column 1: predicted positive in rows 1 and 2, right in row 1


def test_auc_keras_example_roc():
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    # thresholds [-1e-7, 0.5, 1 + 1e-7]: recall [1, 0.5, 0], fp rate [1, 0, 0]
    assert m.result() == pytest.approx(0.75)


def test_auc_pr_davis_goadrich_by_hand():
    m = metrics.AUC(num_thresholds=3, curve="PR")
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    # tp [2, 1, 0], fp [2, 0, 0], fn [0, 1, 2]; predicted positives p = [4, 1, 0].
    # Piece 1: slope dtp/dp = 1/3, intercept 1 - 1/3·1 = 2/3, over 2 positives:
    #   (1/3)(1 + (2/3)·ln(4/1)) / 2.  Piece 2 (p reaches 0, ratio 1): 1·(1 + 0) / 2.
    expected = (1 / 3) * (1 + (2 / 3) * math.log(4)) / 2 + 0.5
    assert m.result() == pytest.approx(expected, rel=1e-12)
    minoring = metrics.AUC(num_thresholds=3, curve="PR", summation_method="minoring")
    minoring.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    # recall [1, .5, 0], precision [.5, 1, 0]: (1 - .5)·min(.5, 1) + (.5 - 0)·min(1, 0)
    assert minoring.result() == pytest.approx(0.25)


def test_auc_default_thresholds_are_keras():
    m = metrics.AUC()
    assert m.num_thresholds == 200 and len(m.thresholds) == 200
    assert m.thresholds[0] == -1e-7 and m.thresholds[-1] == 1 + 1e-7
    np.testing.assert_allclose(m.thresholds[1:-1], np.arange(1, 199) / 199)


def test_roc_auc_equals_the_rank_statistic_when_no_two_scores_share_a_bin():
    # One score per threshold bin: the thresholded ROC curve is the exact one, and its area
    # is the probability that a positive outscores a negative (Mann-Whitney U / n+ n-).
    rng = np.random.default_rng(0)
    scores = (rng.permutation(150) + 0.5) / 199
    labels = (rng.random(150) < 0.4).astype(int)
    pos, neg = scores[labels == 1], scores[labels == 0]
    expected = (pos[:, None] > neg[None, :]).mean()
    m = metrics.AUC()
    m.update_state(labels[:70], scores[:70])
    m.update_state(labels[70:], scores[70:])
    assert m.result() == pytest.approx(expected, rel=1e-9)


def test_auc_multi_label_averages_the_label_areas():
    y_true = np.array([[0, 1], [0, 0], [1, 1], [1, 0]])
    y_pred = np.array([[0.1, 0.8], [0.4, 0.2], [0.9, 0.3], [0.2, 0.6]])
    per_label = []
    for j in range(2):
        single = metrics.AUC(num_thresholds=50)
        single.update_state(y_true[:, j], y_pred[:, j])
        per_label.append(single.result())
    m = metrics.AUC(num_thresholds=50, multi_label=True)
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(np.mean(per_label))


def test_f1_score_keras_example_and_averages():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    m = metrics.F1Score(threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 2 / 3], rtol=1e-7)
    macro = metrics.F1Score(average="macro", threshold=0.5)
    macro.update_state(y_true, y_pred)
    assert macro.result() == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    micro = metrics.F1Score(average="micro", threshold=0.5)
    micro.update_state(y_true, y_pred)
    # All classes together: tp 4, fp 2, fn 2 -> P = R = 2/3.
    assert micro.result() == pytest.approx(2 / 3)
    weighted = metrics.F1Score(average="weighted", threshold=0.5)
    weighted.update_state(y_true, y_pred)
    assert weighted.result() == pytest.approx((3 * 0.5 + 2 * 0.8 + 1 * 2 / 3) / 6)


def test_f1_score_needs_2d_labels():
    with pytest.raises(ValueError, match="expects 2D inputs .*to_categorical"):
        metrics.F1Score().update_state(np.array([0, 1]), np.array([[0.3, 0.7], [0.4, 0.6]]))


def test_top_k_keras_examples():
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == 0.5
    m.reset_state()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                   sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    s = metrics.SparseTopKCategoricalAccuracy(k=1)
    s.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert s.result() == 0.5
    s2 = metrics.SparseTopKCategoricalAccuracy(k=2)
    s2.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert s2.result() == 1.0
    assert metrics.TopKCategoricalAccuracy().get_config()["k"] == 5  # Keras's default


def test_mean_sum_rmse_mape_keras_examples():
    mean = metrics.Mean()
    mean.update_state([1, 3, 5, 7])
    assert mean.result() == 4.0
    mean.reset_state()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert mean.result() == 2.0
    mean.reset_state()
    mean.update_state([[1, 3], [5, 9]])  # rows averaged first (2 and 7), then rows counted
    assert mean.result() == 4.5
    total = metrics.Sum()
    total.update_state([1, 3, 5, 7])
    assert total.result() == 16.0
    total.update_state([1, 1], sample_weight=[2, 0])
    assert total.result() == 18.0
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert rmse.result() == pytest.approx(0.5)
    rmse.reset_state()
    rmse.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert rmse.result() == pytest.approx(math.sqrt(0.5))
    mape = metrics.MeanAbsolutePercentageError()
    mape.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert mape.result() == pytest.approx(250000000.0)  # |0 - 1| / epsilon, as Keras


# ---- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [
    ("precision", metrics.Precision), ("recall", metrics.Recall), ("auc", metrics.AUC),
    ("AUC", metrics.AUC), ("f1_score", metrics.F1Score),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
    ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
    ("sum", metrics.Sum), ("mean", metrics.Mean), ("rmse", metrics.RootMeanSquaredError),
    ("root_mean_squared_error", metrics.RootMeanSquaredError),
    ("mape", metrics.MeanAbsolutePercentageError),
])
def test_string_names_resolve(name, cls):
    metric = metrics.get(name)
    assert type(metric) is cls and metric.name == name


def test_second_precision_is_precision_1_and_strings_use_up_a_name():
    assert metrics.Precision().name == "precision"
    assert metrics.Precision().name == "precision_1"
    assert metrics.get("precision").name == "precision"  # the key stays the string ...
    assert metrics.Precision().name == "precision_3"  # ... but it used up precision_2
    keras.backend.clear_session()
    assert metrics.Precision().name == "precision"
    assert metrics.Recall(name="r").name == "r"


# ---- compiled --------------------------------------------------------------------------------


def _binary_problem():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype("float32")
    return x, y


def test_compiled_metrics_name_history_keys_as_keras_and_match_standalone():
    keras.utils.set_random_seed(0)
    x, y = _binary_problem()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[keras.metrics.Precision(), keras.metrics.Precision(thresholds=0.7),
                           "recall", keras.metrics.AUC()])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "precision", "precision_1", "recall", "auc"}
    results = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)
    for name, metric in (("precision", metrics.Precision()),
                         ("precision_1", metrics.Precision(thresholds=0.7)),
                         ("recall", metrics.Recall()), ("auc", metrics.AUC())):
        metric.update_state(y, scores)
        assert results[name] == pytest.approx(metric.result(), rel=1e-6), name


def test_compiled_top_k_f1_and_sum_by_name():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 5)).astype("float32")
    labels = rng.integers(0, 4, size=30)
    one_hot = keras.utils.to_categorical(labels, 4)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="softmax")])
    model.compile(loss="categorical_crossentropy",
                  metrics=[keras.metrics.TopKCategoricalAccuracy(k=2),
                           keras.metrics.F1Score(average="macro")])
    results = model.evaluate(x, one_hot, batch_size=7, verbose=0, return_dict=True)
    probs = model.predict(x, verbose=0)
    top2 = np.argsort(-probs, axis=1)[:, :2]
    assert results["top_k_categorical_accuracy"] == pytest.approx(
        np.mean([labels[i] in top2[i] for i in range(30)]))
    f1 = metrics.F1Score(average="macro")
    f1.update_state(one_hot, probs)
    assert results["f1_score"] == pytest.approx(f1.result())
