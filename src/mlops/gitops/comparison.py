"""Base against PR, metric by metric and slice by slice, with paired bootstrap intervals.

Pairing needs both models' predictions on the very same test rows: both sides' per-row scores
(`paths.scores`, written by evaluate) and the same test split (its sha256). Without them (a base
from before the scores file, a PR that changes the data or the split) the comparison has point
values only, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlops import bootstrap, metrics, slices
from mlops.bootstrap import Change
from mlops.config import BootstrapConfig
from mlops.metrics import Scored, is_finite_number
from mlops.model_output import PROBABILITY_PREFIX, probability_column


@dataclass(frozen=True)
class Side:
    """What the comparison needs from one side's pipeline outputs."""

    label: str
    task: str
    metrics: dict[str, float]  # the model's test metrics (metrics.json, top level)
    slices: dict[str, dict[str, dict]] = field(default_factory=dict)  # metrics.json "slices"
    scores: pd.DataFrame | None = None  # every test row (paths.scores)
    test_sha256: str | None = None  # the test split the scores are of


@dataclass(frozen=True)
class SliceChange:
    column: str
    label: str
    rows: int
    new: float | None  # the PR's value of `metric` on the slice
    metric: str
    change: Change | None = None  # None: the base has no value for this slice


@dataclass(frozen=True)
class Comparison:
    paired: bool
    why_unpaired: str | None  # why there are no intervals, in a sentence
    changes: dict[str, Change]  # per metric both sides report
    slices: list[SliceChange]
    settings: BootstrapConfig
    rows: int = 0


def unpaired_reason(base: Side, new: Side) -> str | None:
    """Why base and PR rows cannot be paired (None: they can)."""
    if base.task != new.task:
        return f"the task changed ({base.task} to {new.task})"
    if base.scores is None:
        return f"`{base.label}`'s pipeline writes no per-row scores (it predates them)"
    if new.scores is None:
        return "this branch's pipeline wrote no per-row scores"
    if base.test_sha256 != new.test_sha256 or base.test_sha256 is None:
        return "the test split differs (its sha256 changed: other data, or another split)"
    if len(base.scores) != len(new.scores) or not np.array_equal(
        base.scores["actual"].to_numpy(), new.scores["actual"].to_numpy()
    ):
        return "the per-row scores are not of the same rows"
    if new.task == "classification" and classes_of(base.scores) != classes_of(new.scores):
        return "the two models know different classes"
    return None


def compare(base: Side, new: Side, gate_metric: str, settings: BootstrapConfig) -> Comparison:
    """Every metric and slice both sides have: with intervals when the rows pair, point values otherwise."""
    why = unpaired_reason(base, new)
    if why is None:
        base_scored, new_scored = scored(base.scores, new.task), scored(new.scores, new.task)
        names = [name for name in metrics.names(new.task) if name in base.metrics and name in new.metrics]
        changes = bootstrap.paired(names, base_scored, new_scored, settings)
        return Comparison(
            True,
            None,
            changes,
            _paired_slices(new, base_scored, new_scored, gate_metric, settings),
            settings,
            len(new.scores),
        )
    changes = {
        name: Change(name, base.metrics[name], new.metrics[name])
        for name in metrics.METRICS
        if is_finite_number(base.metrics.get(name)) and is_finite_number(new.metrics.get(name))
    }
    return Comparison(False, why, changes, _unpaired_slices(base, new, gate_metric), settings)


def scored(scores: pd.DataFrame, task: str, classes: list[str] | None = None) -> Scored:
    """A scores file's rows as metrics.Scored (labels as text: both sides read alike), with its own
    classes or the ones given (figures draw both sides on the PR's)."""
    if task != "classification":
        return Scored(scores["actual"].to_numpy(dtype=float), scores["predicted"].to_numpy(dtype=float))
    classes = classes_of(scores) if classes is None else classes
    probabilities = scores[[probability_column(label) for label in classes]].to_numpy(dtype=float)
    actual = scores["actual"].astype(str).to_numpy(dtype=object)
    predicted = scores["predicted"].astype(str).to_numpy(dtype=object)
    return Scored(actual, predicted, probabilities, classes)


def classes_of(scores: pd.DataFrame) -> list[str]:
    """The classes a scores file has probabilities for, in its column order."""
    return [
        column.removeprefix(PROBABILITY_PREFIX) for column in scores.columns if column.startswith(PROBABILITY_PREFIX)
    ]


def _slice_columns(scores: pd.DataFrame) -> list[str]:
    return [column[len(slices.PREFIX) :] for column in scores.columns if column.startswith(slices.PREFIX)]


def _labels_in_order(side: Side, column: str, labels: pd.Series) -> list[str]:
    """A column's slice labels in the order evaluate wrote them (bins low to high), then any others."""
    known = list((side.slices or {}).get(column, {}))
    present = set(labels)
    return [label for label in known if label in present] + sorted(present - set(known))


def _paired_slices(
    new: Side, base_scored: Scored, new_scored: Scored, gate_metric: str, settings: BootstrapConfig
) -> list[SliceChange]:
    result = []
    for column in _slice_columns(new.scores):
        labels = new.scores[slices.PREFIX + column].astype(str)
        values = labels.to_numpy(dtype=object)
        for label in _labels_in_order(new, column, labels):
            mask = values == label
            new_rows, base_rows = slices.subset(new_scored, mask), slices.subset(base_scored, mask)
            metric = slices.slice_metric(new.task, gate_metric, new_rows)
            if metric is None:
                result.append(SliceChange(column, label, int(mask.sum()), None, gate_metric))
                continue
            change = bootstrap.paired([metric], base_rows, new_rows, settings).get(metric)
            value = metrics.METRICS[metric].compute(new_rows)
            result.append(SliceChange(column, label, int(mask.sum()), value, metric, change))
    return result


def _unpaired_slices(base: Side, new: Side, gate_metric: str) -> list[SliceChange]:
    result = []
    fallback = metrics.names(new.task)[0]
    for column, labelled in (new.slices or {}).items():
        for label, values in labelled.items():
            metric = gate_metric if is_finite_number(values.get(gate_metric)) else fallback
            old = ((base.slices or {}).get(column) or {}).get(label) or {}
            change = None
            if is_finite_number(old.get(metric)) and is_finite_number(values.get(metric)) and base.task == new.task:
                change = Change(metric, old[metric], values[metric], rows=int(values.get("rows", 0)))
            result.append(SliceChange(column, label, int(values.get("rows", 0)), values.get(metric), metric, change))
    return result
