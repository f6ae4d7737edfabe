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
    """Adds ratio columns (numerator / denominator) and coordinates rotated by a few angles."""

    def __init__(self, ratios: dict | None = None, rotations: dict | None = None):
        self.ratios = ratios
        self.rotations = rotations

    def fit(self, X: pd.DataFrame, y=None) -> FeatureEngineer:  # noqa: N803 (sklearn's name)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def added_columns(self) -> list[str]:
        names = list(self.ratios or {})
        if self.rotations:
            names += [f"rotated_{degrees:g}" for degrees in self.rotations["degrees"]]
        return names

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        added = {}
        for name, (numerator, denominator) in (self.ratios or {}).items():
            # A zero denominator gives NaN, which the imputer fills, rather than inf.
            added[name] = X[numerator] / X[denominator].replace(0, np.nan)
        if self.rotations:
            x, y = X[self.rotations["x"]], X[self.rotations["y"]]
            for degrees in self.rotations["degrees"]:
                angle = np.deg2rad(degrees)
                added[f"rotated_{degrees:g}"] = x * np.cos(angle) + y * np.sin(angle)
        return pd.concat([X, pd.DataFrame(added, index=X.index)], axis=1) if added else X

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
    """Unfitted pipeline: engineer -> impute/scale numbers, impute/one-hot categories -> model."""
    engineer = make_engineer(config.features)
    features = config.data.features
    numeric = [name for name, spec in features.items() if spec.type == "numeric"] + engineer.added_columns()
    categorical = [name for name, spec in features.items() if spec.type == "categorical"]
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("engineer", engineer), ("preprocess", preprocess), ("model", make_estimator(config.model))])
