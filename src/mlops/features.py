"""The feature pipeline: engineered features, preprocessing and the model, as one sklearn Pipeline.

Serving unpickles this same Pipeline, so everything here must import without DVC or MLflow.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import all_estimators
from sklearn.utils._param_validation import InvalidParameterError

from mlops.config import CLASSIFICATION, REGRESSION, Config, ConfigError, FeaturesConfig, ModelConfig


class SelectColumns(TransformerMixin, BaseEstimator):
    """A frame in, its named columns as one object array out.

    Everything after this step indexes columns by position: the same result as selecting by
    name, without pandas' per-call overhead (about a third of a small prediction's cost).
    """

    def __init__(self, columns: list[str] | None = None):
        self.columns = columns

    def fit(self, X: pd.DataFrame, y=None) -> SelectColumns:  # noqa: N803 (sklearn's name)
        missing = sorted(set(self.columns) - set(X.columns))
        if missing:
            raise ValueError(f"missing column(s): {', '.join(missing)}")
        self.feature_names_in_ = np.asarray(self.columns, dtype=object)
        self.n_features_in_ = len(self.columns)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return X[self.columns].to_numpy(dtype=object)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.columns, dtype=object)


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """The numeric columns (in `columns` order) in; the same plus ratios (numerator / denominator)
    and coordinates rotated by a few angles out, as one float array."""

    def __init__(self, columns: list[str] | None = None, ratios: dict | None = None, rotations: dict | None = None):
        self.columns = columns
        self.ratios = ratios
        self.rotations = rotations

    def fit(self, X, y=None) -> FeatureEngineer:  # noqa: N803 (sklearn's name)
        self.n_features_in_ = len(self.columns)
        return self

    def added_columns(self) -> list[str]:
        names = list(self.ratios or {})
        if self.rotations:
            names += [f"rotated_{degrees:g}" for degrees in self.rotations["degrees"]]
        return names

    def transform(self, X) -> np.ndarray:  # noqa: N803
        values = np.asarray(X, dtype=float)
        column = {name: values[:, i] for i, name in enumerate(self.columns)}
        added = []
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for numerator, denominator in (self.ratios or {}).values():
                added.append(column[numerator] / column[denominator])
            if self.rotations:
                x, y = column[self.rotations["x"]], column[self.rotations["y"]]
                for degrees in self.rotations["degrees"]:
                    angle = np.deg2rad(degrees)
                    added.append(x * np.cos(angle) + y * np.sin(angle))
        out = np.column_stack([values, *added]) if added else values
        # A zero denominator or an overflow gives missing (imputed next), never infinite.
        out[np.isinf(out)] = np.nan
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([*self.columns, *self.added_columns()], dtype=object)


def regressor_families() -> dict[str, type]:
    """Every scikit-learn regressor, by class name."""
    return dict(all_estimators(type_filter="regressor"))


def classifier_families() -> dict[str, type]:
    """Every scikit-learn classifier, by class name."""
    return dict(all_estimators(type_filter="classifier"))


def families(task: str) -> dict[str, type]:
    """The estimators a task can use, by class name."""
    return classifier_families() if task == CLASSIFICATION else regressor_families()


def _family_error(model: ModelConfig, task: str) -> ConfigError:
    kind = "classifier" if task == CLASSIFICATION else "regressor"
    other_task, other = (REGRESSION, "regressor") if task == CLASSIFICATION else (CLASSIFICATION, "classifier")
    if model.family in families(other_task):
        return ConfigError(
            f"model.family: {model.family} is a {other}, but data.task is {task}: pick a {kind} "
            f"(e.g. {EXAMPLE_FAMILY[task]}) or set data.task: {other_task}"
        )
    examples = ", ".join(sorted(families(task))[:5])
    return ConfigError(f"model.family: {model.family!r} is not a scikit-learn {kind} (e.g. {examples}, ...)")


# What an error message suggests for each task.
EXAMPLE_FAMILY = {REGRESSION: "HistGradientBoostingRegressor", CLASSIFICATION: "HistGradientBoostingClassifier"}


def make_estimator(model: ModelConfig, task: str = REGRESSION):
    """The model named in params.yaml (model.family) with its hyperparameters (model.params).

    A classifier without predict_proba (LinearSVC, RidgeClassifier, ...) is calibrated, since the
    API, log loss and ROC AUC need class probabilities.
    """
    available = families(task)
    if model.family not in available:
        raise _family_error(model, task)
    estimator_class = available[model.family]
    unknown = sorted(set(model.params) - set(estimator_class().get_params()))
    if unknown:
        raise ConfigError(f"model.params: {model.family} has no parameter(s) {', '.join(unknown)}")
    try:
        estimator = estimator_class(**model.params)
        # sklearn checks values only in fit(); check them now, where a bad one is a config error.
        if hasattr(estimator, "_parameter_constraints"):
            estimator._validate_params()
    except (InvalidParameterError, ValueError, TypeError) as error:
        named = re.search(r"The '(\w+)' parameter", str(error))
        where = f"model.params.{named[1]}" if named and named[1] in model.params else "model.params"
        raise ConfigError(f"{where}: {error}") from None
    if task == CLASSIFICATION and not hasattr(estimator, "predict_proba"):
        from sklearn.calibration import CalibratedClassifierCV  # only for such a classifier

        return CalibratedClassifierCV(estimator, cv=3)
    return estimator


def make_engineer(numeric: list[str], features: FeaturesConfig) -> FeatureEngineer:
    rotations = features.rotations.model_dump() if features.rotations else None
    return FeatureEngineer(
        columns=numeric, ratios={k: list(v) for k, v in features.ratios.items()}, rotations=rotations
    )


def build_pipeline(config: Config) -> Pipeline:
    """Unfitted pipeline: the feature columns -> numbers: engineer, impute, scale; categories:
    impute, one-hot -> the model."""
    features = config.data.features
    names = list(features)
    numeric = [name for name, spec in features.items() if spec.type == "numeric"]
    categorical = [name for name, spec in features.items() if spec.type == "categorical"]
    numeric_branch = Pipeline(
        [
            ("engineer", make_engineer(numeric, config.features)),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
    )
    categorical_branch = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric_branch, [names.index(name) for name in numeric]),
            ("categorical", categorical_branch, [names.index(name) for name in categorical]),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("columns", SelectColumns(names)),
            ("preprocess", preprocess),
            ("model", make_estimator(config.model, config.data.task)),
        ]
    )
