"""Baselines on the model's own split: the training mean or class frequencies, and a linear model."""

import numpy as np
import pytest

from mlops import baselines, metrics

from conftest import params_in, train_on


@pytest.fixture(scope="module")
def split_of(tmp_path_factory):
    """train_on for a tests/forks.py scenario, once per module."""
    done = {}

    def build(scenario):
        if scenario not in done:
            directory = tmp_path_factory.mktemp(f"baselines-{scenario}")
            done[scenario] = train_on(directory, params_in(directory, scenario))
        return done[scenario]

    return build


def test_the_trivial_regression_baseline_predicts_the_training_mean(split_of):
    config, result, train, test = split_of("regression")
    scores = baselines.score_baselines(train, test, config)
    target = config.data.target
    errors = test[target].to_numpy() - train[target].mean()
    assert scores["trivial"]["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)))
    assert scores["trivial"]["mae"] == pytest.approx(np.mean(np.abs(errors)))
    # The data has signal: a linear model on the same features beats the mean, the model too.
    assert scores["linear"]["rmse"] < scores["trivial"]["rmse"]
    assert result.metrics["rmse"] < scores["trivial"]["rmse"]


@pytest.mark.parametrize("scenario", ["multiclass", "binary"])
def test_the_trivial_classifier_answers_the_training_class_frequencies(split_of, scenario):
    config, _, train, test = split_of(scenario)
    scores = baselines.score_baselines(train, test, config)
    target = config.data.target
    frequencies = train[target].value_counts(normalize=True)
    most_frequent = frequencies.index[0]
    assert scores["trivial"]["accuracy"] == pytest.approx(np.mean(test[target] == most_frequent))
    expected_log_loss = -np.mean(np.log(frequencies[test[target]].to_numpy()))
    assert scores["trivial"]["log_loss"] == pytest.approx(expected_log_loss)
    assert scores["trivial"]["roc_auc"] == pytest.approx(0.5)  # the same probabilities for every row
    assert scores["linear"]["accuracy"] > scores["trivial"]["accuracy"]
    assert set(scores["linear"]) == set(metrics.names("classification"))
