"""Slices of the test split: which rows each holds, their metrics, and the metric they are judged on."""

import numpy as np
import pandas as pd
import pytest

from mlops import metrics, slices
from mlops.config import ConfigError, parse_config
from mlops.metrics import Scored

from conftest import features_of, params_in, repo_config


def test_by_default_every_categorical_feature_and_the_target_is_sliced(tmp_path):
    config = parse_config(params_in(tmp_path))
    assert slices.slicing_columns(config) == [*features_of(config, kind="categorical"), config.data.target]


def test_configured_slices_are_used_and_checked(tmp_path):
    config = repo_config()
    numeric = features_of(config, kind="numeric")[0]
    params = params_in(tmp_path)
    params["evaluate"] = {**params["evaluate"], "slices": [numeric]}
    assert slices.slicing_columns(parse_config(params)) == [numeric]
    params["evaluate"]["slices"] = ["no_such_column"]
    with pytest.raises(ConfigError, match=r"evaluate\.slices: 'no_such_column' is not one of data\.columns"):
        parse_config(params)


def test_a_category_is_a_slice_and_missing_values_one_more(tmp_path):
    values = pd.Series(["b", None, "a", "b", "NA", None], name="kind")
    labels = slices._by_value(values)
    assert labels.tolist() == ["b", slices.MISSING, "a", "b", "NA", slices.MISSING]
    assert list(labels.cat.categories) == ["NA", "a", "b", slices.MISSING]  # A-Z, missing last


def test_a_column_with_many_values_keeps_its_most_frequent_ones():
    values = pd.Series([f"v{i:02d}" for i in range(30) for _ in range(i + 1)] + [None])
    labels = slices._by_value(values)
    kept = [f"v{i:02d}" for i in range(30 - slices.MAX_SLICES + 1, 30)]
    assert list(labels.cat.categories) == [*kept, slices.OTHER, slices.MISSING]
    assert (labels == slices.OTHER).sum() == sum(i + 1 for i in range(30 - slices.MAX_SLICES + 1))


def test_a_number_is_cut_into_quantile_bins_that_cover_every_row():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.lognormal(10, 1, 1000)).mask(rng.random(1000) < 0.02)
    labels = slices._by_quantile(values, 4)
    bins = [label for label in labels.cat.categories if label != slices.MISSING]
    assert len(bins) == 4
    counts = labels.value_counts()
    assert counts[slices.MISSING] == values.isna().sum()
    assert all(abs(counts[label] - values.notna().sum() / 4) <= 1 for label in bins)  # quartiles
    for label in bins:  # every row lies within its bin's edges, and the bins run low to high
        low, high = (float(edge.replace(",", "")) for edge in label.split(" to "))
        inside = values[labels == label]
        assert inside.min() >= low - 1
        assert inside.max() <= high + 1
    starts = [float(label.split(" to ")[0].replace(",", "")) for label in bins]
    assert starts == sorted(starts)


def test_a_number_with_few_values_gets_a_slice_per_value():
    labels = slices._by_quantile(pd.Series([1.0, 2.0, 2.0, 3.0, 1.0]), 4)
    assert labels.tolist() == ["1", "2", "2", "3", "1"]
    assert list(labels.cat.categories) == ["1", "2", "3"]


@pytest.mark.parametrize("scenario", ["regression", "multiclass", "binary"])
def test_slice_metrics_are_the_metrics_of_each_slice_rows(served_scenario, scenario):
    config, result, test, _ = served_scenario(scenario)
    labels = slices.label_rows(test, config)
    assert list(labels) == slices.slicing_columns(config)
    if config.data.is_classification:  # the target: one slice per class
        assert set(labels[config.data.target].cat.categories) == {str(c) for c in test[config.data.target]}
    output = result.pipeline.predict(test[list(config.data.features)])
    probabilities = result.pipeline.predict_proba(test[list(config.data.features)]) if result.classes else None
    scored = Scored(test[config.data.target].to_numpy(), output, probabilities, result.classes)
    table = slices.slice_metrics(config.data.task, scored, labels)
    for column, by_label in table.items():
        assert sum(values["rows"] for values in by_label.values()) == len(test)
        label, values = max(by_label.items(), key=lambda item: item[1]["rows"])
        mask = (labels[column] == label).to_numpy()
        expected = metrics.compute(config.data.task, slices.subset(scored, mask))
        assert {key: value for key, value in values.items() if key != "rows"} == pytest.approx(expected)


def test_a_slice_where_the_gated_metric_is_undefined_is_judged_on_the_first_metric():
    one_class = Scored(np.array(["a"] * 4), np.array(["a", "a", "b", "a"]), np.tile([[0.6, 0.4]], (4, 1)), ["a", "b"])
    assert slices.slice_metric("classification", "roc_auc", one_class) == "accuracy"
    both = Scored(np.array(["a", "b"]), np.array(["a", "b"]), np.array([[0.6, 0.4], [0.3, 0.7]]), ["a", "b"])
    assert slices.slice_metric("classification", "roc_auc", both) == "roc_auc"
