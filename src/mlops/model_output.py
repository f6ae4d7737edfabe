"""What a fitted pipeline outputs for a task: numbers (regression) or labels with probabilities.

Training, evaluation, monitoring and the API all predict through `predict`, so a classifier's
label is the same everywhere: the class with the highest probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlops.config import CLASSIFICATION

PROBABILITY_PREFIX = "p_"  # a class's probability column in the per-row scores (evaluate, the PR report)


def probability_column(label) -> str:
    return f"{PROBABILITY_PREFIX}{label}"


@dataclass(frozen=True)
class ModelOutput:
    values: np.ndarray  # regression: float predictions; classification: labels (text or whole numbers)
    probabilities: np.ndarray | None = None  # classification: (rows, classes) in `classes` order
    classes: list | None = None


def native(value):
    """A numpy scalar as the plain Python value JSON and YAML know (np.str_ -> str, np.int64 -> int)."""
    return value.item() if isinstance(value, np.generic) else value


def classes_of(pipeline) -> list:
    """A fitted classifier pipeline's class labels, as plain Python values."""
    return [native(label) for label in pipeline.classes_]


def labels_from(probabilities: np.ndarray, classes: list) -> np.ndarray:
    """The most probable class of each row (ties: the first class, as argmax does)."""
    return np.asarray(classes)[np.argmax(probabilities, axis=1)]


def predict(pipeline, features, task: str) -> ModelOutput:
    """The pipeline's output for `features` in the task's terms."""
    if task != CLASSIFICATION:
        return ModelOutput(values=np.asarray(pipeline.predict(features), dtype=float))
    classes = classes_of(pipeline)
    probabilities = np.asarray(pipeline.predict_proba(features), dtype=float)
    return ModelOutput(values=labels_from(probabilities, classes), probabilities=probabilities, classes=classes)
