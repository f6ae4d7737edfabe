"""Drift scores on real data: real shifts are flagged, the training distribution is not."""

import numpy as np
import pandas as pd
import pytest

from mlops.drift import PREDICTION, assess, categorical_shares, numeric_shares, psi


def score(served_full, frame: pd.DataFrame) -> dict:
    cfg, result, _, _ = served_full
    features = frame[list(cfg.data.features)]
    return assess(result.reference, features, result.pipeline.predict(features), cfg.monitor)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_rows_of_the_training_distribution_are_not_flagged(served_full, seed):
    test = served_full[2]
    report = score(served_full, test.sample(1500, random_state=seed))
    assert report["verdict"] == "ok", report.get("drifted")
    assert max(item["psi"] for item in report["features"]) < served_full[0].monitor.psi_threshold / 2


def test_one_region_only_is_flagged(served_full):
    test = served_full[2]
    report = score(served_full, test[test["ocean_proximity"] == "INLAND"])
    assert report["verdict"] == "drift"
    assert {"ocean_proximity", "longitude", PREDICTION} <= set(report["drifted"])


def test_the_top_income_decile_is_flagged(served_full):
    test = served_full[2]
    rich = test[test["median_income"] >= test["median_income"].quantile(0.9)]
    report = score(served_full, rich)
    assert report["verdict"] == "drift"
    by_name = {item["name"]: item for item in report["features"]}
    assert by_name["median_income"]["drifted"]
    assert by_name["median_income"]["psi"] > 1
    assert by_name["median_income"]["ks_pvalue"] < 1e-10
    assert report["prediction"]["drifted"]


def test_a_small_window_gives_no_verdict(served_full):
    report = score(served_full, served_full[2].head(served_full[0].monitor.min_window - 1))
    assert report["verdict"] == "insufficient_data"
    assert report["features"] == []


def test_reference_profile_matches_the_training_data(served_full):
    cfg, result, _, _ = served_full
    profile = result.reference["features"]["median_income"]
    assert len(profile["shares"]) == len(profile["edges"]) + 2  # bins between edges, outside both, missing
    assert sum(profile["shares"]) == pytest.approx(1)
    assert len(profile["sample"]) == cfg.monitor.reference_sample
    bedrooms = result.reference["features"]["total_bedrooms"]
    assert bedrooms["shares"][-1] > 0  # the training data has missing bedrooms
    assert set(result.reference["features"]) == {*cfg.data.features, PREDICTION}


def test_psi_follows_its_definition():
    expected, actual = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert psi(expected, actual) == pytest.approx((0.25 - 0.5) * np.log(0.5) + (0.75 - 0.5) * np.log(1.5))
    assert psi(expected, expected) == 0


def test_shares_count_missing_and_unknown_values():
    np.testing.assert_allclose(numeric_shares(np.array([1.0, 5.0, 9.0, np.nan]), [4.0, 8.0]), [0.25, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(categorical_shares(pd.Series(["a", "b", "z", None]), ["a", "b"]), [0.25] * 4)
