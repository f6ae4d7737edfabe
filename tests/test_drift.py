"""Drift scores on real data: real shifts are flagged, the training distribution is not."""

import numpy as np
import pandas as pd
import pytest

from mlops import model_output
from mlops.drift import PREDICTION, assess, categorical_shares, label_strings, numeric_shares, psi

from conftest import features_of

# Below this many test rows, PSI over 10 bins is mostly noise: the statistical tests skip.
ENOUGH_ROWS = 500


def score(served, frame: pd.DataFrame, **monitor) -> dict:
    cfg, result, _, _ = served
    features = frame[list(cfg.data.features)]
    predictions = model_output.predict(result.pipeline, features, cfg.data.task).values
    return assess(result.reference, features, predictions, cfg.monitor.model_copy(update=monitor))


@pytest.fixture(scope="module")
def full(served_full):
    if len(served_full[2]) < ENOUGH_ROWS:
        pytest.skip(f"the test split has {len(served_full[2])} rows; drift statistics need {ENOUGH_ROWS}")
    return served_full


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_rows_of_the_training_distribution_are_not_flagged(full, seed):
    test = full[2]
    report = score(full, test.sample(min(1500, len(test)), random_state=seed))
    assert report["verdict"] == "ok", report.get("drifted")
    assert max(item["psi"] for item in report["features"]) < full[0].monitor.psi_threshold / 2


def test_the_top_decile_of_a_numeric_feature_is_flagged(full):
    cfg, _, test, _ = full
    name = features_of(cfg, kind="numeric")[0]
    top = test[test[name] >= test[name].quantile(0.9)]
    by_name = {
        item["name"]: item for item in score(full, top, min_window=min(cfg.monitor.min_window, len(top)))["features"]
    }
    assert by_name[name]["drifted"]
    assert by_name[name]["psi"] > 1
    assert by_name[name]["ks_pvalue"] < 1e-6


def test_one_category_only_is_flagged(full):
    cfg, _, test, _ = full
    for name in features_of(cfg, kind="categorical"):
        shares = test[name].value_counts(normalize=True)
        rare = shares[(shares < 0.5) & (shares * len(test) >= cfg.monitor.min_window)]
        if len(rare):
            break
    else:
        pytest.skip("no categorical feature has a category with enough rows that is under half the data")
    report = score(full, test[test[name] == rare.index[0]])
    assert report["verdict"] == "drift"
    assert name in report["drifted"]


def test_rows_the_model_scores_unusually_are_flagged_by_their_predictions(full):
    cfg, result, test, _ = full
    features = test[list(cfg.data.features)]
    predicted = pd.Series(model_output.predict(result.pipeline, features, cfg.data.task).values, index=test.index)
    if cfg.data.is_classification:
        rows = test[predicted == predicted.value_counts().index[-1]]  # only the least predicted label
    else:
        rows = test[predicted >= predicted.quantile(0.75)]  # only the top quarter of predictions
    report = score(full, rows, min_window=min(cfg.monitor.min_window, len(rows)))
    assert report["verdict"] == "drift"
    assert PREDICTION in report["drifted"]


def test_a_small_window_gives_no_verdict(served):
    cfg = served[0]
    report = score(served, served[2].head(10), min_window=11)
    assert report["verdict"] == "insufficient_data"
    assert report["features"] == []
    assert report["rows"] == 10
    assert cfg.monitor.min_window >= 10


def test_reference_profile_matches_the_training_data(served):
    cfg, result, _, _ = served
    assert set(result.reference["features"]) == {*cfg.data.features, PREDICTION}
    for spec in result.schema.features:
        profile = result.reference["features"][spec.name]
        assert sum(profile["shares"]) == pytest.approx(1)
        assert (profile["shares"][-1] > 0) is spec.nullable  # missing values have their own bin
        if spec.type == "numeric":
            assert len(profile["shares"]) == len(profile["edges"]) + 2  # between edges, outside both, missing
            assert 0 < len(profile["sample"]) <= cfg.monitor.reference_sample
        else:
            assert profile["categories"] == spec.categories
            assert len(profile["shares"]) == len(spec.categories) + 2  # each, other, missing


def test_a_classifier_drifts_on_its_predicted_labels(served_scenario):
    served = served_scenario("multiclass")
    cfg, result, test, _ = served
    profile = result.reference["features"][PREDICTION]
    assert profile["type"] == "categorical"
    report = score(served, test, min_window=len(test))
    assert report["prediction"]["type"] == "categorical"
    assert not report["prediction"]["drifted"]
    # Only the rows of one class: the predicted labels are all (nearly) that class.
    one_class = test[test[cfg.data.target] == test[cfg.data.target].iloc[0]]
    report = score(served, one_class, min_window=len(one_class))
    assert report["prediction"]["drifted"]
    assert PREDICTION in report["drifted"]


def test_psi_follows_its_definition():
    expected, actual = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert psi(expected, actual) == pytest.approx((0.25 - 0.5) * np.log(0.5) + (0.75 - 0.5) * np.log(1.5))
    assert psi(expected, expected) == 0


def test_shares_count_missing_and_unknown_values():
    np.testing.assert_allclose(numeric_shares(np.array([1.0, 5.0, 9.0, np.nan]), [4.0, 8.0]), [0.25, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(categorical_shares(pd.Series(["a", "b", "z", None]), ["a", "b"]), [0.25] * 4)
    assert label_strings([1, "b", None]).tolist() == ["1", "b", None]


def many_categories(rows: int, seed: int, skew: float = 1.1) -> pd.Series:
    """`rows` values of 60 categories with Zipf-like shares (some rare), missing now and then."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 61) ** skew
    values = rng.choice([f"level {i}" for i in range(60)], size=rows, p=weights / weights.sum())
    return pd.Series(values, dtype=object).mask(rng.random(rows) < 0.03)


@pytest.mark.parametrize("seed", range(5))
def test_many_categories_and_a_small_window_are_not_drift_by_chance(config, seed):
    from mlops.drift import feature_drift

    categories = [f"level {i}" for i in range(60)]
    profile = {
        "type": "categorical",
        "categories": categories,
        "shares": categorical_shares(many_categories(5000, 99), categories).tolist(),
    }
    current = many_categories(config.monitor.min_window, seed)
    drift = feature_drift("make", profile, current, config.monitor)
    assert drift.psi > config.monitor.psi_threshold / 4  # PSI alone is far from zero: sampling noise
    assert not drift.drifted, drift
    shifted = many_categories(config.monitor.min_window, seed, skew=0.3)  # rare levels much more common
    assert feature_drift("make", profile, shifted, config.monitor).drifted
