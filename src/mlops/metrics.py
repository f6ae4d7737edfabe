"""The task's metrics, computed the same way for training, evaluation, reports and the gate.

Each metric knows its task, whether a larger value is better, and the scikit-learn scorer that
permutation importance uses for it. `gate.metric` in params.yaml names one of them.
"""

from __future__ import annotations

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


_METRICS = [
    Metric(
        "rmse",
        REGRESSION,
        False,
        lambda s: float(skm.root_mean_squared_error(s.y_true, s.y_pred)),
        "neg_root_mean_squared_error",
        "root mean squared error (target units)",
    ),
    Metric(
        "mae",
        REGRESSION,
        False,
        lambda s: float(skm.mean_absolute_error(s.y_true, s.y_pred)),
        "neg_mean_absolute_error",
        "mean absolute error (target units)",
    ),
    Metric(
        "r2",
        REGRESSION,
        True,
        lambda s: float(skm.r2_score(s.y_true, s.y_pred)),
        "r2",
        "coefficient of determination",
    ),
    Metric(
        "mape",
        REGRESSION,
        False,
        lambda s: float(skm.mean_absolute_percentage_error(s.y_true, s.y_pred)),
        "neg_mean_absolute_percentage_error",
        "mean absolute percentage error (a fraction)",
    ),
    Metric(
        "accuracy",
        CLASSIFICATION,
        True,
        lambda s: float(skm.accuracy_score(s.y_true, s.y_pred)),
        "accuracy",
        "share of rows labelled correctly",
    ),
    Metric(
        "balanced_accuracy",
        CLASSIFICATION,
        True,
        _quietly(lambda s: float(skm.balanced_accuracy_score(s.y_true, s.y_pred))),
        "balanced_accuracy",
        "mean recall over classes",
    ),
    Metric(
        "f1_macro",
        CLASSIFICATION,
        True,
        _quietly(lambda s: float(skm.f1_score(s.y_true, s.y_pred, average="macro", labels=s.classes, zero_division=0))),
        "f1_macro",
        "F1 averaged over classes (macro)",
    ),
    Metric(
        "log_loss", CLASSIFICATION, False, _quietly(_log_loss), "neg_log_loss", "cross-entropy of the probabilities"
    ),
    Metric(
        "roc_auc",
        CLASSIFICATION,
        True,
        _quietly(_roc_auc),
        "roc_auc{ovr}",
        "area under the ROC curve (one-vs-rest for several classes)",
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
