"""The feature pipeline: engineered features, preprocessing and the model, as one sklearn Pipeline.

Serving unpickles this same Pipeline, so everything here must import without DVC or MLflow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import all_estimators

from mlops.config import Config, ConfigError, FeaturesConfig, ModelConfig


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """Numeric columns in, the same columns plus ratios (numerator / denominator) and coordinates
    rotated by a few angles out, as one float array (the rest of the numeric branch is numpy)."""

    def __init__(self, ratios: dict | None = None, rotations: dict | None = None):
        self.ratios = ratios
        self.rotations = rotations

    def fit(self, X: pd.DataFrame, y=None) -> FeatureEngineer:  # noqa: N803 (sklearn's name)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def added_columns(self) -> list[str]:
        names = list(self.ratios or {})
        if self.rotations:
            names += [f"rotated_{degrees:g}" for degrees in self.rotations["degrees"]]
        return names

    def transform(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        columns = {name: X[name].to_numpy(dtype=float) for name in self.feature_names_in_}
        added = []
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for numerator, denominator in (self.ratios or {}).values():
                added.append(columns[numerator] / columns[denominator])
            if self.rotations:
                x, y = columns[self.rotations["x"]], columns[self.rotations["y"]]
                for degrees in self.rotations["degrees"]:
                    angle = np.deg2rad(degrees)
                    added.append(x * np.cos(angle) + y * np.sin(angle))
        out = np.column_stack([*columns.values(), *added])
        # A zero denominator or an overflow gives missing (imputed next), never infinite.
        out[np.isinf(out)] = np.nan
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([*self.feature_names_in_, *self.added_columns()], dtype=object)


def regressor_families() -> dict[str, type]:
    """Every scikit-learn regressor, by class name."""
    return dict(all_estimators(type_filter="regressor"))


def make_estimator(model: ModelConfig):
    """The model named in params.yaml (model.family) with its hyperparameters (model.params)."""
    families = regressor_families()
    if model.family not in families:
        examples = ", ".join(sorted(families)[:5])
        raise ConfigError(f"model.family: {model.family!r} is not a scikit-learn regressor (e.g. {examples}, ...)")
    estimator_class = families[model.family]
    unknown = sorted(set(model.params) - set(estimator_class().get_params()))
    if unknown:
        raise ConfigError(f"model.params: {model.family} has no parameter(s) {', '.join(unknown)}")
    return estimator_class(**model.params)


def make_engineer(features: FeaturesConfig) -> FeatureEngineer:
    rotations = features.rotations.model_dump() if features.rotations else None
    return FeatureEngineer(ratios={k: list(v) for k, v in features.ratios.items()}, rotations=rotations)


def build_pipeline(config: Config) -> Pipeline:
    """Unfitted pipeline: numbers -> engineer, impute, scale; categories -> impute, one-hot; -> model."""
    features = config.data.features
    numeric = [name for name, spec in features.items() if spec.type == "numeric"]
    categorical = [name for name, spec in features.items() if spec.type == "categorical"]
    numeric_branch = Pipeline(
        [
            ("engineer", make_engineer(config.features)),
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
        [("numeric", numeric_branch, numeric), ("categorical", categorical_branch, categorical)],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), ("model", make_estimator(config.model))])
