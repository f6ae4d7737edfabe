"""The report's figures: one file per comparison, base and PR on the same axes, 800 px wide at most."""

import struct

import numpy as np
import pandas as pd
import pytest

from mlops.gitops import report_figures
from mlops.gitops.report_figures import Drawn

FIGURES = {
    "regression": ["pr-residuals.png", "pr-predicted_vs_actual.png", "pr-importance.png"],
    "binary": ["pr-confusion_matrix.png", "pr-calibration.png", "pr-roc.png", "pr-importance.png"],
    "multiclass": ["pr-confusion_matrix.png", "pr-calibration.png", "pr-importance.png"],
}


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", header[16:24])


def rows(case: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if case == "regression":
        actual = rng.lognormal(12, 0.5, n)
        predicted = actual * rng.normal(1, 0.2, n)
        return pd.DataFrame({"actual": actual, "predicted": predicted, "residual": predicted - actual})
    classes = ["no", "yes"] if case == "binary" else ["setosa", "versicolor", "virginica", "other one"]
    actual = rng.integers(0, len(classes), n)
    p = rng.dirichlet(np.ones(len(classes)), n)
    p[np.arange(n), actual] += 1
    p /= p.sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"actual": np.asarray(classes)[actual], "predicted": np.asarray(classes)[p.argmax(1)]})
    for k, label in enumerate(classes):
        frame[f"p_{label}"] = p[:, k]
    return frame


def importance(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = ["income", "x", "a_feature_with_a_long_name", "kind"]
    return pd.DataFrame({"feature": names, "importance": rng.uniform(0, 5000, 4), "std": rng.uniform(0, 300, 4)})


@pytest.mark.parametrize("case", list(FIGURES))
def test_each_task_draws_base_and_pr_together_at_comment_width(case, tmp_path):
    task = "regression" if case == "regression" else "classification"
    # The base from before per-row scores has only its 1,000-row plot sample: it still compares.
    base = Drawn("main", rows(case, 1000, 0), importance(0))
    new = Drawn("this PR", rows(case, 3000, 1), importance(1).iloc[:3])  # a feature the PR dropped
    metric = "rmse" if task == "regression" else "f1_macro"
    figures = report_figures.draw(base, new, tmp_path, task=task, target="value", unit="USD", metric=metric)
    assert [figure.path.name for figure in figures] == FIGURES[case]
    for figure in figures:
        width, height = png_size(figure.path)
        assert 600 <= width <= 800, figure.path.name
        assert height <= 900


def test_without_a_base_the_pr_is_drawn_alone(tmp_path):
    new = Drawn("this PR", rows("regression", 500, 2), None)
    figures = report_figures.draw(None, new, tmp_path, task="regression", target="value", unit=None, metric="mae")
    assert [figure.path.name for figure in figures] == ["pr-residuals.png", "pr-predicted_vs_actual.png"]


def test_ticks_carry_thousands_separators_and_no_exponent():
    from mlops.plotting import tick_label

    assert [tick_label(v) for v in (-300000.0, 0.0, -0.0, 2.5, 0.04, 1234567.0)] == [
        "-300,000",
        "0",
        "0",
        "2.5",
        "0.04",
        "1,234,567",
    ]
