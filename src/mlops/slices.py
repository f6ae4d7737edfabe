"""Slices of the test split: an average can improve while one category or range gets worse.

Each slicing column labels every test row: a categorical column (or a classification target)
by its value, a numeric one by its quantile bin. `evaluate.slices` names the columns; unset, every
categorical feature and the target. evaluate reports each slice's metrics (metrics.json, MLflow),
writes the labels with the per-row scores, and the PR report compares base and PR slice by slice.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from mlops import metrics
from mlops.config import Config
from mlops.metrics import Scored

MISSING = "(missing)"
OTHER = "(other)"
# A column with more values keeps its most frequent ones as slices and pools the rest in OTHER.
MAX_SLICES = 20
# How a slicing column is named in the per-row scores file (the PR report reads them back).
PREFIX = "slice:"


def slicing_columns(config: Config) -> list[str]:
    """The columns the test split is sliced by."""
    if config.evaluate.slices is not None:
        return list(config.evaluate.slices)
    categorical = [name for name, spec in config.data.features.items() if spec.type == "categorical"]
    return [*categorical, config.data.target]


def plain_number(value: float) -> str:
    """A bin edge for people: 119,600 / 3.5 / 0.0042 (no scientific notation for everyday sizes)."""
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.4g}"


def label_rows(frame: pd.DataFrame, config: Config) -> dict[str, pd.Series]:
    """Per slicing column, each row's slice label (a category, a class, or a bin such as "1,000 to 2,500"),
    as an ordered categorical: bins low to high, categories A-Z, missing values last."""
    labels = {}
    for column in slicing_columns(config):
        values = frame[column]
        categorical = config.data.columns[column].type == "categorical" or (
            column == config.data.target and config.data.is_classification
        )
        labels[column] = _by_value(values) if categorical else _by_quantile(values, config.evaluate.slice_bins)
    return labels


def _by_value(values: pd.Series) -> pd.Series:
    labels = values.map(str).where(values.notna(), MISSING)
    counts = labels[labels != MISSING].value_counts()
    if len(counts) > MAX_SLICES:
        kept = set(counts.index[: MAX_SLICES - 1])
        labels = labels.where(labels.isin(kept) | (labels == MISSING), OTHER)
        return _categorical(labels, [*sorted(kept), OTHER])
    return _categorical(labels, sorted(counts.index))


def _by_quantile(values: pd.Series, bins: int) -> pd.Series:
    present = values.dropna().astype(float)
    if present.nunique() <= bins:  # a handful of numbers: one slice each
        names = [plain_number(value) for value in sorted(present.unique())]
        labelled = values.map(lambda value: plain_number(value) if pd.notna(value) else MISSING)
        return _categorical(labelled, names)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    names = [f"{plain_number(low)} to {plain_number(high)}" for low, high in itertools.pairwise(edges)]
    # Bins hold (low, high], the first one also its low edge: every present value has one.
    codes = np.clip(np.searchsorted(edges, values.to_numpy(dtype=float), side="left") - 1, 0, len(names) - 1)
    labelled = pd.Series(np.asarray(names, dtype=object)[codes], index=values.index)
    return _categorical(labelled.where(values.notna(), MISSING), names)


def _categorical(labels: pd.Series, names: list[str]) -> pd.Series:
    present = set(labels)
    order = [name for name in names if name in present] + ([MISSING] if MISSING in present else [])
    return pd.Series(pd.Categorical(labels, categories=order, ordered=True), index=labels.index)


def subset(scored: Scored, mask: np.ndarray) -> Scored:
    """The rows of `scored` where `mask` holds."""
    probabilities = None if scored.probabilities is None else scored.probabilities[mask]
    return Scored(scored.y_true[mask], scored.y_pred[mask], probabilities, scored.classes)


def slice_metric(task: str, wanted: str, scored: Scored) -> str | None:
    """The metric a slice is judged on: `wanted` (gate.metric) where it is defined on the slice's
    rows, else the task's first metric (rmse, accuracy: e.g. ROC AUC needs two classes, and a
    per-class slice holds one). None when neither is defined."""
    for name in (wanted, metrics.names(task)[0]):
        value = metrics.METRICS[name].compute(scored)
        if value is not None and np.isfinite(value):
            return name
    return None


def slice_metrics(task: str, scored: Scored, labels: dict[str, pd.Series]) -> dict[str, dict[str, dict]]:
    """{column: {slice label: {"rows": n, metric: value, ...}}} for every slice of every column."""
    result: dict[str, dict[str, dict]] = {}
    for column, column_labels in labels.items():
        values = column_labels.to_numpy(dtype=object)
        result[column] = {}
        for label in column_labels.cat.categories:
            mask = values == label
            result[column][label] = {"rows": int(mask.sum()), **metrics.compute(task, subset(scored, mask))}
    return result
