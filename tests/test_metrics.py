import math

import numpy as np
import pytest

from mlops.config import CLASSIFICATION, REGRESSION
from mlops.metrics import METRICS, Scored, compute, names, regression_metrics


def test_metrics_follow_their_definitions():
    actual = [100.0, 200.0, 400.0]
    predicted = [110.0, 180.0, 400.0]
    errors = [p - a for a, p in zip(actual, predicted, strict=True)]
    mean = sum(actual) / 3
    metrics = regression_metrics(actual, predicted)
    assert metrics["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 3))
    assert metrics["mae"] == pytest.approx(sum(abs(e) for e in errors) / 3)
    assert metrics["mape"] == pytest.approx(sum(abs(e) / a for e, a in zip(errors, actual, strict=True)) / 3)
    ss_res = sum(e * e for e in errors)
    ss_tot = sum((a - mean) ** 2 for a in actual)
    assert metrics["r2"] == pytest.approx(1 - ss_res / ss_tot)
    assert set(metrics) == set(names(REGRESSION))


def test_perfect_predictions():
    metrics = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert metrics == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "mape": 0.0}


def _scored(y_true, y_pred, probabilities, classes):
    return Scored(np.asarray(y_true), np.asarray(y_pred), np.asarray(probabilities, dtype=float), classes)


def test_binary_metrics_follow_their_definitions():
    y_true = ["no", "yes", "yes", "no", "yes"]
    p_yes = [0.2, 0.9, 0.4, 0.1, 0.7]
    y_pred = ["yes" if p >= 0.5 else "no" for p in p_yes]
    result = compute(CLASSIFICATION, _scored(y_true, y_pred, [[1 - p, p] for p in p_yes], ["no", "yes"]))
    assert result["accuracy"] == pytest.approx(4 / 5)
    assert result["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)  # recall of "no", of "yes"
    precision_yes, recall_yes = 1.0, 2 / 3
    precision_no, recall_no = 2 / 3, 1.0
    f1 = [2 * p * r / (p + r) for p, r in ((precision_yes, recall_yes), (precision_no, recall_no))]
    assert result["f1_macro"] == pytest.approx(sum(f1) / 2)
    probability_of_truth = [p if t == "yes" else 1 - p for t, p in zip(y_true, p_yes, strict=True)]
    assert result["log_loss"] == pytest.approx(-np.mean(np.log(probability_of_truth)))
    # ROC AUC: the share of (yes, no) pairs where the yes row gets the higher probability: 6 of 6.
    assert result["roc_auc"] == pytest.approx(1.0)


def test_multiclass_roc_auc_is_one_vs_rest_and_undefined_without_every_class():
    classes = ["a", "b", "c"]
    probabilities = [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]]
    full = compute(CLASSIFICATION, _scored(["a", "b", "c", "a"], ["a", "b", "c", "a"], probabilities, classes))
    assert full["roc_auc"] == pytest.approx(1.0)
    assert full["accuracy"] == 1.0
    partial = compute(CLASSIFICATION, _scored(["a", "b", "b", "a"], ["a", "b", "c", "a"], probabilities, classes))
    assert "roc_auc" not in partial  # undefined with a class absent: left out, not a made-up number
    assert partial["accuracy"] == pytest.approx(3 / 4)


def test_each_metric_knows_its_task_direction_and_scorer():
    from sklearn.metrics import get_scorer

    assert names(REGRESSION) == ["rmse", "mae", "r2", "mape"]
    assert names(CLASSIFICATION) == ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"]
    for metric in METRICS.values():
        get_scorer(metric.scorer_for(2))  # a real sklearn scorer name
        get_scorer(metric.scorer_for(3))
    assert METRICS["rmse"].worse_by(10.0, 12.0) == 2.0
    assert METRICS["accuracy"].worse_by(0.9, 0.8) == pytest.approx(0.1)
    assert METRICS["log_loss"].worse_by(0.3, 0.2) == pytest.approx(-0.1)


@pytest.mark.parametrize(
    ("value", "text"), [(43332.78, "43,333"), (61.254, "61.25"), (0.85972, "0.8597"), (-12.5, "-12.50")]
)
def test_values_are_shown_with_digits_that_matter(value, text):
    from mlops.metrics import shown

    assert shown(value) == text
