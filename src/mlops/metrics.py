"""The task's metrics, computed the same way for training, evaluation, reports and the gate.

Each metric knows its task, whether a larger value is better, the scikit-learn scorer that
permutation importance uses for it, and how to compute it on many bootstrap resamples at once
(`resampled`: row counts in, one value per resample out; mlops.bootstrap). `gate.metric` in
params.yaml names one of them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlops.config import CLASSIFICATION, REGRESSION


class _SklearnMetrics:
    """sklearn.metrics, imported on first use: validating params.yaml (mlops.config) needs only the
    metric names, and the API starts without scikit-learn when its fast path does not need it."""

    def __getattr__(self, name: str):
        from sklearn import metrics

        return getattr(metrics, name)


skm = _SklearnMetrics()


@dataclass(frozen=True)
class Scored:
    """What a metric is computed from: true values, predictions, and (classification) probabilities."""

    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray | None = None  # (rows, classes), columns in `classes` order
    classes: list | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    task: str
    higher_is_better: bool
    compute: Callable[[Scored], float | None]  # None when undefined on these rows
    scorer: str  # sklearn scoring name for permutation importance ("{ovr}" filled for multiclass)
    description: str
    # The metric on each resample: `counts` (resamples, rows) says how often each row was drawn.
    # With all counts 1 it equals `compute` (tests/test_metrics.py holds each metric to that).
    resampled: Callable[[Scored, np.ndarray], np.ndarray]

    def scorer_for(self, n_classes: int | None = None) -> str:
        return self.scorer.replace("{ovr}", "_ovr" if n_classes and n_classes > 2 else "")

    def worse_by(self, old: float, new: float) -> float:
        """How much worse `new` is than `old` (positive: worse), in the metric's units."""
        return old - new if self.higher_is_better else new - old


def _roc_auc(s: Scored) -> float | None:
    present = set(np.unique(s.y_true).tolist())
    if s.probabilities is None or len(present) < 2:
        return None
    if len(s.classes) == 2:
        return float(skm.roc_auc_score(s.y_true == s.classes[1], s.probabilities[:, 1]))
    if len(present) < len(s.classes):
        return None  # one-vs-rest needs every class among the true labels
    return float(skm.roc_auc_score(s.y_true, s.probabilities, multi_class="ovr", labels=s.classes))


def _log_loss(s: Scored) -> float | None:
    if s.probabilities is None:
        return None
    return float(skm.log_loss(s.y_true, s.probabilities, labels=s.classes))


def _quietly(function: Callable[[Scored], float | None]) -> Callable[[Scored], float | None]:
    """sklearn warns (and returns 0) on ill-defined scores, e.g. a class never predicted: the value stands."""

    def wrapped(scored: Scored) -> float | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            return function(scored)

    return wrapped


def _mean(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The counts-weighted mean of per-row values, per resample."""
    return counts @ np.asarray(values, dtype=float) / counts.sum(axis=1)


def _divide(numerator: np.ndarray, denominator: np.ndarray, empty: float = np.nan) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), empty)


def _resampled_r2(s: Scored, counts: np.ndarray) -> np.ndarray:
    y = s.y_true - s.y_true.mean()  # centred: the sums of squares below lose no precision
    rows = counts.sum(axis=1)
    total = counts @ y**2 - (counts @ y) ** 2 / rows
    return 1 - _divide(counts @ (s.y_pred - s.y_true) ** 2, total)


def _resampled_mape(s: Scored, counts: np.ndarray) -> np.ndarray:
    # sklearn's definition: a zero target is divided by machine epsilon, not skipped
    return _mean(counts, np.abs(s.y_pred - s.y_true) / np.maximum(np.abs(s.y_true), np.finfo(np.float64).eps))


def _per_class(s: Scored) -> tuple[np.ndarray, np.ndarray]:
    """(rows, classes) one-hot of the true and of the predicted labels, in `classes` order."""
    classes = np.asarray(s.classes, dtype=object)
    return np.asarray(s.y_true, dtype=object)[:, None] == classes, np.asarray(s.y_pred, dtype=object)[
        :, None
    ] == classes


def _resampled_balanced_accuracy(s: Scored, counts: np.ndarray) -> np.ndarray:
    true, predicted = _per_class(s)
    recall = _divide(counts @ (true & predicted), counts @ true)  # NaN for a class absent from the resample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(recall, axis=1)


def _resampled_f1_macro(s: Scored, counts: np.ndarray) -> np.ndarray:
    true, predicted = _per_class(s)
    hits = counts @ (true & predicted)
    return _divide(2 * hits, 2 * hits + counts @ (~true & predicted) + counts @ (true & ~predicted), 0.0).mean(axis=1)


def _resampled_log_loss(s: Scored, counts: np.ndarray) -> np.ndarray:
    true, _ = _per_class(s)
    eps = np.finfo(s.probabilities.dtype).eps
    return _mean(counts, -np.log(np.clip(s.probabilities[true], eps, 1 - eps)))


def _weighted_auc(counts: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC per resample: the chance a drawn positive outscores a drawn negative (ties count half).

    Negatives are sorted by score once; a cumulative sum of their counts per resample then gives,
    for every positive, the drawn negatives below its score (and tied with it) by lookup.
    """
    negatives = np.flatnonzero(~positive)
    negatives = negatives[np.argsort(score[negatives], kind="stable")]
    ordered = score[negatives]
    below = np.zeros((len(counts), len(negatives) + 1))
    np.cumsum(counts[:, negatives], axis=1, out=below[:, 1:])
    scores = score[positive]
    left, right = np.searchsorted(ordered, scores, "left"), np.searchsorted(ordered, scores, "right")
    drawn = counts[:, positive]
    # negatives below + half the tied ones = the mean of the counts below the tie and through it
    wins = 0.5 * (drawn * (below[:, left] + below[:, right])).sum(axis=1)
    return _divide(wins, drawn.sum(axis=1) * below[:, -1])


def _resampled_roc_auc(s: Scored, counts: np.ndarray) -> np.ndarray:
    true, _ = _per_class(s)
    if len(s.classes) == 2:
        return _weighted_auc(counts, true[:, 1], s.probabilities[:, 1])
    # One-vs-rest, macro: a resample missing a class has no value (NaN), as `compute` has none.
    return np.mean([_weighted_auc(counts, true[:, k], s.probabilities[:, k]) for k in range(len(s.classes))], axis=0)


_METRICS = [
    Metric(
        "rmse",
        REGRESSION,
        False,
        lambda s: float(skm.root_mean_squared_error(s.y_true, s.y_pred)),
        "neg_root_mean_squared_error",
        "root mean squared error (target units)",
        lambda s, counts: np.sqrt(_mean(counts, (s.y_pred - s.y_true) ** 2)),
    ),
    Metric(
        "mae",
        REGRESSION,
        False,
        lambda s: float(skm.mean_absolute_error(s.y_true, s.y_pred)),
        "neg_mean_absolute_error",
        "mean absolute error (target units)",
        lambda s, counts: _mean(counts, np.abs(s.y_pred - s.y_true)),
    ),
    Metric(
        "r2",
        REGRESSION,
        True,
        _quietly(lambda s: float(skm.r2_score(s.y_true, s.y_pred))),  # undefined (NaN) on one row
        "r2",
        "coefficient of determination",
        _resampled_r2,
    ),
    Metric(
        "mape",
        REGRESSION,
        False,
        lambda s: float(skm.mean_absolute_percentage_error(s.y_true, s.y_pred)),
        "neg_mean_absolute_percentage_error",
        "mean absolute percentage error (a fraction)",
        _resampled_mape,
    ),
    Metric(
        "accuracy",
        CLASSIFICATION,
        True,
        lambda s: float(skm.accuracy_score(s.y_true, s.y_pred)),
        "accuracy",
        "share of rows labelled correctly",
        lambda s, counts: _mean(counts, np.asarray(s.y_true, dtype=object) == np.asarray(s.y_pred, dtype=object)),
    ),
    Metric(
        "balanced_accuracy",
        CLASSIFICATION,
        True,
        _quietly(lambda s: float(skm.balanced_accuracy_score(s.y_true, s.y_pred))),
        "balanced_accuracy",
        "mean recall over classes",
        _resampled_balanced_accuracy,
    ),
    Metric(
        "f1_macro",
        CLASSIFICATION,
        True,
        _quietly(lambda s: float(skm.f1_score(s.y_true, s.y_pred, average="macro", labels=s.classes, zero_division=0))),
        "f1_macro",
        "F1 averaged over classes (macro)",
        _resampled_f1_macro,
    ),
    Metric(
        "log_loss",
        CLASSIFICATION,
        False,
        _quietly(_log_loss),
        "neg_log_loss",
        "cross-entropy of the probabilities",
        _resampled_log_loss,
    ),
    Metric(
        "roc_auc",
        CLASSIFICATION,
        True,
        _quietly(_roc_auc),
        "roc_auc{ovr}",
        "area under the ROC curve (one-vs-rest for several classes)",
        _resampled_roc_auc,
    ),
]
METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}
# Whether a larger value is better, per metric (the PR report colours deltas with it).
HIGHER_IS_BETTER = {metric.name: metric.higher_is_better for metric in _METRICS}


def names(task: str) -> list[str]:
    """The metrics a task reports, in display order."""
    return [metric.name for metric in _METRICS if metric.task == task]


def compute(task: str, scored: Scored) -> dict[str, float]:
    """Every metric of the task that is defined on these rows (e.g. no ROC AUC with one class present)."""
    result = {}
    for name in names(task):
        value = METRICS[name].compute(scored)
        if value is not None and np.isfinite(value):
            result[name] = value
    return result


def shown(value: float) -> str:
    """A metric value for people: 43,333 / 61.25 / 0.8597 (enough digits to see a change)."""
    size = abs(value)
    return f"{value:,.0f}" if size >= 1000 else f"{value:,.2f}" if size >= 10 else f"{value:,.4f}"


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """rmse, mae, r2 and mape (a fraction, not percent)."""
    return compute(REGRESSION, Scored(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)))


def is_finite_number(value: object) -> bool:
    """A real metric value: an int or float (not a bool), neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
