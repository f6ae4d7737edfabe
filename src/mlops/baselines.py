"""Baselines scored on the same split as the model: is it better than the obvious answers?

`trivial` ignores the features (the training mean, or the training class frequencies with the
most frequent class as the label); `linear` is a plain linear model behind the model's own
preprocessing (Ridge, or LogisticRegression). The PR report shows the model against both, and
the gate fails a model that is not better than the trivial one.
"""

from __future__ import annotations

import warnings

import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from mlops import metrics, model_output
from mlops.config import Config
from mlops.features import build_pipeline

TRIVIAL, LINEAR = "trivial", "linear"
# What each baseline is, per task, for people (the report's table and the scorecard).
DESCRIPTIONS = {
    "regression": {TRIVIAL: "the training mean", LINEAR: "Ridge on the same features"},
    "classification": {
        TRIVIAL: "the training class frequencies (most frequent class)",
        LINEAR: "LogisticRegression on the same features",
    },
}


def estimators(task: str) -> dict[str, object]:
    if task == "classification":
        return {TRIVIAL: DummyClassifier(strategy="prior"), LINEAR: LogisticRegression(max_iter=1000)}
    return {TRIVIAL: DummyRegressor(strategy="mean"), LINEAR: Ridge(alpha=1.0)}


def score_baselines(train_frame: pd.DataFrame, test_frame: pd.DataFrame, config: Config) -> dict[str, dict]:
    """{baseline: {metric: value}}: each baseline fitted on the training split, scored on the test split."""
    task, target = config.data.task, config.data.target
    features = list(config.data.features)
    result = {}
    for name, estimator in estimators(task).items():
        pipeline = build_pipeline(config).set_params(model=estimator)
        with warnings.catch_warnings():  # a baseline that converges slowly is still a baseline
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline.fit(train_frame[features], train_frame[target])
        output = model_output.predict(pipeline, test_frame[features], task)
        scored = metrics.Scored(test_frame[target].to_numpy(), output.values, output.probabilities, output.classes)
        result[name] = metrics.compute(task, scored)
    return result
