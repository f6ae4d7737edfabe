"""The paired bootstrap: each metric resampled at once, intervals that cover the truth, verdicts."""

import numpy as np
import pytest

from mlops import bootstrap, metrics
from mlops.bootstrap import BETTER, NOISE, WORSE
from mlops.config import BootstrapConfig
from mlops.metrics import METRICS, Scored

SETTINGS = BootstrapConfig(resamples=500, seed=1)


def regression_rows(n=400, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, n)
    return Scored(y, y + rng.normal(0, noise, n))


def classification_rows(classes, n=400, seed=0, skill=1.0):
    """Labels and rounded probabilities (so scores tie) from a model with some skill."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n)
    logits = rng.normal(0, 1, (n, len(classes)))
    logits[np.arange(n), [classes.index(label) for label in y]] += skill
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities = np.round(probabilities, 2)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return Scored(y, np.asarray(classes)[probabilities.argmax(axis=1)], probabilities, list(classes))


CASES = {
    "regression": regression_rows(),
    "binary": classification_rows([0, 1]),
    "multiclass": classification_rows(["setosa", "versicolor", "virginica"]),
}


def _task(case):
    return "regression" if case == "regression" else "classification"


@pytest.mark.parametrize("case", list(CASES))
def test_each_metric_resampled_equals_the_metric_on_the_drawn_rows(case):
    scored = CASES[case]
    counts = next(bootstrap.resample_counts(len(scored.y_true), 3, seed=7))
    for name in metrics.names(_task(case)):
        metric = METRICS[name]
        assert metric.resampled(scored, np.ones((1, len(scored.y_true))))[0] == pytest.approx(metric.compute(scored))
        for row in counts:  # the same draw, spelled out as repeated rows
            drawn = np.repeat(np.arange(len(row)), row.astype(int))
            probabilities = None if scored.probabilities is None else scored.probabilities[drawn]
            expanded = Scored(scored.y_true[drawn], scored.y_pred[drawn], probabilities, scored.classes)
            expected = metric.compute(expanded)
            got = metric.resampled(scored, row[None, :])[0]
            if expected is None:
                assert np.isnan(got), name
            else:
                assert got == pytest.approx(expected), name


def test_the_draws_depend_on_the_seed_not_on_the_chunk_size(monkeypatch):
    whole = np.concatenate(list(bootstrap.resample_counts(50, 40, seed=3)))
    monkeypatch.setattr(bootstrap, "CHUNK_CELLS", 50 * 7)  # chunks of 7 resamples
    chunked = list(bootstrap.resample_counts(50, 40, seed=3))
    assert len(chunked) == 6
    np.testing.assert_array_equal(np.concatenate(chunked), whole)
    assert (whole.sum(axis=1) == 50).all()  # each resample draws as many rows as there are
    other = np.concatenate(list(bootstrap.resample_counts(50, 40, seed=4)))
    assert not np.array_equal(other, whole)


def test_the_interval_covers_the_true_difference_about_as_often_as_it_says():
    """RMSE of noise with sd 1.0 against sd 1.15: the population difference is 0.15."""
    settings = BootstrapConfig(resamples=400, confidence=0.9, seed=0)
    covered = 0
    trials = 100
    for trial in range(trials):
        rng = np.random.default_rng(100 + trial)
        y = rng.normal(0, 5, 1000)
        base = Scored(y, y + rng.normal(0, 1.0, 1000))
        new = Scored(y, y + rng.normal(0, 1.15, 1000))
        change = bootstrap.paired(["rmse"], base, new, settings)["rmse"]
        covered += change.low <= 0.15 <= change.high
    assert 0.82 <= covered / trials <= 0.97  # 90% nominal; 100 trials give about +-3%


@pytest.mark.parametrize("case", list(CASES))
def test_a_clearly_worse_model_is_worse_on_every_metric(case):
    scored = CASES[case]
    if case == "regression":
        worse = Scored(scored.y_true, scored.y_pred + np.random.default_rng(5).normal(0, 1.0, len(scored.y_true)))
    else:
        worse = classification_rows(scored.classes, seed=0, skill=0.3)  # same labels, less skill
        assert np.array_equal(worse.y_true, scored.y_true)
    changes = bootstrap.paired(metrics.names(_task(case)), scored, worse, SETTINGS)
    assert set(changes) == set(metrics.names(_task(case)))
    for name, change in changes.items():
        assert change.verdict == WORSE, (name, change)
        assert change.worse_pct > 0
        assert change.low <= change.delta <= change.high
    # and the other way round, the same model is better
    assert (
        bootstrap.paired(["rmse" if case == "regression" else "accuracy"], worse, scored, SETTINGS).popitem()[1].verdict
        == BETTER
    )


def test_the_same_predictions_are_within_noise_with_a_zero_interval():
    scored = CASES["multiclass"]
    for change in bootstrap.paired(metrics.names("classification"), scored, scored, SETTINGS).values():
        assert (change.low, change.high, change.delta) == (0, 0, 0)
        assert change.verdict == NOISE


def test_a_change_carried_by_one_row_is_within_noise():
    rng = np.random.default_rng(2)
    y = rng.normal(0, 5, 40)
    errors = rng.normal(0, 1, 40)
    changed = errors.copy()
    worst = np.argmax(np.abs(errors))
    changed[worst] *= 1.5  # one row much worse: RMSE up by several percent
    change = bootstrap.paired(["rmse"], Scored(y, y + errors), Scored(y, y + changed), SETTINGS)["rmse"]
    assert change.worse_pct > 2
    # About a third of the resamples leave that row out and see no change at all: not significant.
    assert change.low == 0 < change.high
    assert change.verdict == NOISE


def test_the_interval_is_seeded():
    base, new = regression_rows(seed=1), regression_rows(seed=1, noise=1.1)
    first = bootstrap.paired(["mae"], base, new, SETTINGS)["mae"]
    assert bootstrap.paired(["mae"], base, new, SETTINGS)["mae"] == first
    other = bootstrap.paired(["mae"], base, new, BootstrapConfig(resamples=500, seed=2))["mae"]
    assert (other.low, other.high) != (first.low, first.high)


def test_a_metric_undefined_on_the_rows_is_left_out():
    one_class = Scored(np.array(["a"] * 5), np.array(["a"] * 5), np.tile([[0.9, 0.1]], (5, 1)), ["a", "b"])
    changes = bootstrap.paired(["roc_auc", "accuracy"], one_class, one_class, SETTINGS)
    assert list(changes) == ["accuracy"]


def test_pairing_needs_the_same_rows():
    base = regression_rows()
    with pytest.raises(ValueError, match="same rows: base has 400, new has 399"):
        bootstrap.paired(["rmse"], base, Scored(base.y_true[:-1], base.y_pred[:-1]), SETTINGS)
