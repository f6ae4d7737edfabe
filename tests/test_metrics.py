import math

import pytest

from mlops.metrics import HIGHER_IS_BETTER, regression_metrics


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
    assert set(metrics) == set(HIGHER_IS_BETTER)


def test_perfect_predictions():
    metrics = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert metrics == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "mape": 0.0}
