"""Base against PR on synthetic per-row scores with known answers: pairing, intervals, slices, the gate."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.gitops.comparison import compare, unpaired_reason
from mlops.gitops.report import Results, quality_gate, render
from mlops.metrics import shown

GATE = {
    "metric": "rmse",
    "threshold": 100.0,
    "max_regression_pct": 2.0,
    "max_slice_regression_pct": 10.0,
    "min_slice_rows": 100,
    "bootstrap": {"resamples": 400, "seed": 0},
}


def scores(actual, predicted, region) -> pd.DataFrame:
    return pd.DataFrame(
        {"actual": actual, "predicted": predicted, "residual": predicted - actual, "slice:region": region}
    )


def side(label, frame, *, gate=None, trivial=None, test_sha="t" * 64, task="regression") -> Results:
    from mlops import metrics, slices
    from mlops.gitops.comparison import scored

    values = metrics.compute(task, scored(frame, task))
    labels = {
        column[len("slice:") :]: pd.Series(pd.Categorical(frame[column]))
        for column in frame.columns
        if column.startswith("slice:")
    }
    params = {"gate": gate or {}, "data": {"task": task, "target": "y"}}
    return Results(
        label=label,
        commit="c" * 40,
        params=params,
        metrics=values,
        baselines={"trivial": {"rmse": trivial}} if trivial is not None else {},
        slices=slices.slice_metrics(task, scored(frame, task), labels),
        test_sha256=test_sha,
        scores=frame,
    )


@pytest.fixture(scope="module")
def rows():
    """2,000 rows in three regions (one small), the base model's errors with sd 10."""
    rng = np.random.default_rng(0)
    n = 2000
    actual = rng.normal(500, 50, n)
    region = np.where(np.arange(n) < 1000, "north", np.where(np.arange(n) < 1960, "south", "island"))
    errors = rng.normal(0, 10, n)
    return actual, region, errors, rng


def test_a_clearly_worse_model_fails_with_its_interval_and_the_thresholds_named(rows):
    actual, region, errors, rng = rows
    base = side("main", scores(actual, actual + errors, region), gate=GATE, trivial=50.0)
    worse = side("pr", scores(actual, actual + errors + rng.normal(0, 6, len(actual)), region), trivial=50.0)
    comparison = compare(base.side(), worse.side(), "rmse", _bootstrap())
    assert comparison.paired
    assert comparison.rows == len(actual)
    change = comparison.changes["rmse"]
    assert change.verdict == "worse"
    assert change.pct_low > 2
    gate = quality_gate(base, worse, comparison)
    assert not gate.passed
    assert gate.reasons[0].startswith(f"rmse {change.pct:+.2f}% vs main (95% CI {change.pct_low:+.2f}% to")
    assert gate.reasons[0].endswith(": worse, beyond the allowed 2%")
    assert f"rmse {shown(worse.metrics['rmse'])} (threshold 100.00)" in gate.checks
    assert "better than the trivial baseline (rmse 50.00)" in gate.checks
    report = render(base, worse, gate, Path("."), comparison)
    assert "❌ **Quality gate failed**: rmse +" in report
    assert "| rmse |" in report
    assert "🔴 worse |" in report


def test_a_change_within_noise_passes_even_beyond_the_allowance(rows):
    actual, region, errors, _ = rows
    changed = errors.copy()
    changed[np.argsort(-np.abs(errors))[:3]] *= 2.2  # three rows much worse: rmse up by more than 2%
    base = side("main", scores(actual, actual + errors, region), gate=GATE)
    pr = side("pr", scores(actual, actual + changed, region))
    comparison = compare(base.side(), pr.side(), "rmse", _bootstrap())
    change = comparison.changes["rmse"]
    assert change.worse_pct > 2
    assert change.verdict == "within noise"
    gate = quality_gate(base, pr, comparison)
    assert gate.passed, gate.reasons
    assert any("within noise (allowed 2%; not significant, so not failed)" in check for check in gate.checks)


def test_a_slice_that_got_worse_is_flagged_and_gated_and_a_tiny_one_never_gated(rows):
    actual, region, errors, rng = rows
    worse = errors + np.where(region == "south", rng.normal(0, 8, len(actual)), 0)
    worse = worse + np.where(region == "island", 60, 0)  # the 40 island rows: far worse, but few
    base = side("main", scores(actual, actual + errors, region), gate=GATE)
    pr = side("pr", scores(actual, actual + worse, region))
    comparison = compare(base.side(), pr.side(), "rmse", _bootstrap())
    verdicts = {item.label: item.change.verdict for item in comparison.slices}
    assert verdicts == {"island": "worse", "north": "within noise", "south": "worse"}
    assert {item.label: item.rows for item in comparison.slices} == {"island": 40, "north": 1000, "south": 960}
    gate = quality_gate(base, pr, comparison)
    assert not gate.passed
    south = next(item.change for item in comparison.slices if item.label == "south")
    assert gate.reasons[-1] == (
        f"1 slice(s) of 100+ rows significantly worse by more than the allowed 10%: region = south (rmse {south.pct:+.2f}%)"
    )
    report = render(base, pr, gate, Path("."), comparison)
    assert "| `region` = island | 40 (too few to gate) |" in report


def test_without_a_slice_allowance_slices_are_shown_but_not_gated(rows):
    actual, region, errors, rng = rows
    worse = errors + np.where(region == "south", rng.normal(0, 8, len(actual)), 0)
    gate = {key: value for key, value in GATE.items() if key != "max_slice_regression_pct"}
    gate["max_regression_pct"] = 50.0
    base = side("main", scores(actual, actual + errors, region), gate=gate)
    pr = side("pr", scores(actual, actual + worse, region))
    verdict = quality_gate(base, pr)
    assert verdict.passed, verdict.reasons
    assert not any(check.startswith(("slice", "no slice")) for check in verdict.checks)


def test_a_model_not_better_than_the_trivial_baseline_fails(rows):
    actual, region, errors, _ = rows
    frame = scores(actual, actual + errors, region)
    base = side("main", frame, gate=GATE)
    value = side("pr", frame).metrics["rmse"]
    for trivial in (value, value - 1):  # as good as the mean, or worse: not better
        pr = side("pr", frame, trivial=trivial)
        gate = quality_gate(base, pr)
        assert gate.reasons == [
            f"rmse {shown(value)} is not better than the trivial baseline's {shown(trivial)} (the training mean)"
        ]


def test_other_test_rows_cannot_be_paired_and_the_report_says_what_applies(rows):
    actual, region, errors, _ = rows
    base = side("main", scores(actual, actual + errors, region), gate=GATE)
    pr = side("pr", scores(actual, actual + errors * 1.1, region), test_sha="u" * 64)
    assert unpaired_reason(base.side(), pr.side()).startswith("the test split differs")
    comparison = compare(base.side(), pr.side(), "rmse", _bootstrap())
    assert not comparison.paired
    assert not comparison.changes["rmse"].has_interval
    gate = quality_gate(base, pr, comparison)
    assert (
        gate.reasons[0] == f"rmse {comparison.changes['rmse'].pct:+.2f}% vs main (no interval), beyond the allowed 2%"
    )
    assert "slice rule (10%) not applied: no intervals" in gate.checks
    report = render(base, pr, gate, Path("."), comparison)
    assert "> No intervals: the test split differs" in report
    assert "the slice rule is not applied" in report


def test_a_base_from_before_the_scores_file_is_compared_on_point_values(rows):
    actual, region, errors, _ = rows
    base = side("main", scores(actual, actual + errors, region), gate=GATE)
    base.scores = None
    pr = side("pr", scores(actual, actual + errors, region))
    assert unpaired_reason(base.side(), pr.side()) == "`main`'s pipeline writes no per-row scores (it predates them)"
    base.slices = {}  # and no slices either
    gate = quality_gate(base, pr)
    assert gate.passed
    assert "rmse +0.00% vs main (no interval) (allowed 2%)" in gate.checks
    report = render(base, pr, gate, Path("."))
    assert "> No intervals: `main`'s pipeline writes no per-row scores (it predates them)" in report
    assert "| slice | rows | this PR |" in report  # the PR's slices, nothing to compare them with
    assert "| `region` = north | 1,000 | " in report


def test_classification_rows_pair_on_text_labels():
    from mlops.gitops.comparison import scored

    rng = np.random.default_rng(3)
    n = 600
    actual = rng.choice([0, 1, 2], n)
    p = rng.dirichlet([1, 1, 1], n)
    p[np.arange(n), actual] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"actual": actual, "predicted": p.argmax(axis=1)})
    for k in range(3):
        frame[f"p_{k}"] = p[:, k]
    frame["slice:y"] = actual.astype(str)
    worse = frame.copy()
    flipped = rng.random(n) < 0.3
    worse.loc[flipped, "predicted"] = (worse.loc[flipped, "predicted"] + 1) % 3
    base_side = side("main", frame, gate={"metric": "roc_auc"}, task="classification").side()
    pr_side = side("pr", worse, task="classification").side()
    assert scored(frame, "classification").classes == ["0", "1", "2"]
    comparison = compare(base_side, pr_side, "roc_auc", _bootstrap())
    assert comparison.paired
    assert comparison.changes["accuracy"].verdict == "worse"
    assert comparison.changes["roc_auc"].verdict == "within noise"  # the probabilities did not change
    # Per class, ROC AUC is undefined (one class): those slices are judged on accuracy (the recall).
    assert {item.metric for item in comparison.slices} == {"accuracy"}


def _bootstrap():
    from mlops.config import BootstrapConfig

    return BootstrapConfig(**GATE["bootstrap"])
