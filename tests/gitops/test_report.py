"""The PR report in a real git repo: a base branch, a PR branch that changes params, real `dvc repro`."""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops.metrics import METRICS, shown

from conftest import ROOT, repo_config
from e2e import copy_repository, git, report_in_process, run, set_params

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


CFG = repo_config()
GATED = METRICS[CFG.gate.metric]
# The PR's model: a trivial one, clearly worse than the repository's own whatever its task.
TRIVIAL = {"family": "DummyClassifier" if CFG.data.is_classification else "DummyRegressor", "params": {}}


def metrics(repo):
    return json.loads((repo / CFG.paths.metrics).read_text())


def lenient(gate: dict) -> None:
    """A gate that passes anything but a model no better than the trivial baseline: no threshold,
    any regression allowed, overall and in every slice (a fork's params may gate slices)."""
    gate.update(threshold=None, max_regression_pct=1e9, max_slice_regression_pct=None)


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """main with its pipeline reproduced; `pr` swaps in a trivial model, clearly worse."""
    repo = copy_repository(tmp_path_factory.mktemp("report") / "repo")
    set_params(repo, lambda p: lenient(p["gate"]))
    run(repo, "dvc", "pull", "data.dvc")
    run(repo, "dvc", "repro")
    git(repo, "commit", "-qam", "base results")
    base = metrics(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    set_params(repo, lambda p: p.update(model=TRIVIAL))
    run(repo, "dvc", "repro")
    git(repo, "commit", "-qam", "a trivial model")
    return repo, base, metrics(repo)


@pytest.fixture
def report(monkeypatch, capsys):
    return lambda repo, *, base="main": report_in_process(repo, monkeypatch, capsys, base=base)


FIGURES = {
    "regression": ["pr-residuals.png", "pr-predicted_vs_actual.png", "pr-importance.png"],
    "classification": ["pr-confusion_matrix.png", "pr-calibration.png", "pr-importance.png"],
}


def test_report_pairs_the_rows_shows_baselines_slices_and_figures(branches, report):
    repo, base, pr = branches
    code, text, _ = report(repo)
    # The gate is lenient, but the trivial model is no better than the trivial baseline.
    assert code == 1
    value, trivial = pr[GATED.name], pr["baselines"]["trivial"][GATED.name]
    reason = f"{GATED.name} {shown(value)} is not better than the trivial baseline's {shown(trivial)}"
    verdict = json.loads((repo / "ci-report/gate.json").read_text())
    assert verdict["passed"] is False
    assert len(verdict["reasons"]) == 1
    assert verdict["reasons"][0].startswith(reason)
    assert f"❌ **Quality gate failed**: {reason}" in text
    # Both models scored the same test rows: every change has its interval; this one is no noise.
    rows = len(pd.read_csv(repo / CFG.paths.scores))
    assert f"paired bootstrap: 1,000 resamples of the same {rows:,} test rows" in text
    name, old, new = GATED.name, base[GATED.name], pr[GATED.name]
    row = next(line for line in text.splitlines() if line.startswith(f"| {name} | {shown(old)} | {shown(new)} | "))
    assert row.endswith("| 🔴 worse |")
    assert "### Model vs baselines (this PR, same split)" in text
    assert f"| {name} | {shown(new)} | {shown(trivial)} | " in text
    assert "### Slices" in text
    for column in pr["slices"]:
        assert f"| `{column}` = " in text
    assert f"| `model.family` | `{CFG.model.family}` | `{TRIVIAL['family']}` |" in text
    assert "- raw data (data.dvc md5): unchanged" in text
    assert "- test split (sha256): unchanged" in text
    assert " → " in text.split("- model version:")[1].splitlines()[0]
    figures = FIGURES["classification" if CFG.data.is_classification else "regression"]
    if CFG.data.is_classification and pd.read_csv(repo / CFG.paths.train)[CFG.data.target].nunique() == 2:
        figures = [*figures, "pr-roc.png"]  # a binary classifier's ROC and precision-recall curves
    assert sorted(path.name for path in (repo / "ci-report").glob("*.png")) == sorted(figures)
    for figure in figures:
        assert (repo / "ci-report" / figure).read_bytes().startswith(b"\x89PNG")
        assert f"]({figure})" in text
    summary = (repo / "ci-report/summary.md").read_text()  # the job summary cannot show local images
    assert "](pr-importance.png)" not in summary
    assert "Permutation importance, paired bars (figure: PR comment, `pr-report` artifact)" in summary
    assert summary.split("| metric |")[0] == text.split("| metric |")[0]
    # The base was reproduced in a worktree that is gone again; this tree is untouched.
    assert git(repo, "worktree", "list").count("\n") == 0
    assert git(repo, "status", "--porcelain") == ""  # ci-report/ is git-ignored


def test_gate_fails_on_a_regression_with_the_base_branch_thresholds(branches, report):
    repo, base, pr = branches
    git(repo, "checkout", "-q", "main")
    name, old, new = GATED.name, base[GATED.name], pr[GATED.name]
    threshold = old  # the base's own score: the trivial model is worse than it
    set_params(repo, lambda p: p["gate"].update(threshold=threshold, max_regression_pct=1.0))
    git(repo, "commit", "-qam", "strict gate")
    git(repo, "checkout", "-q", "pr")
    # The PR loosens its own gate: the base branch's thresholds apply anyway.
    set_params(repo, lambda p: lenient(p["gate"]))
    code, text, printed = report(repo)
    assert code == 1
    assert "❌ **Quality gate failed**" in text
    assert f"{name} {shown(new)} is worse than the threshold {shown(threshold)}" in text
    pct = 100 * (new - old) / abs(old)
    relative = json.loads((repo / "ci-report/gate.json").read_text())["reasons"][1]
    assert relative.startswith(f"{name} {pct:+.2f}% vs main (95% CI ")
    assert relative.endswith(": worse, beyond the allowed 1%")
    assert relative in text
    assert "[report] error" not in printed


def test_a_base_without_results_is_said_plainly(branches, report):
    repo, _, _ = branches
    code, text, _ = report(repo, base="no-such-branch")
    assert "Base results unavailable: `no-such-branch` is not a git revision here" in text
    assert "Only the absolute limit and the baseline apply." in text
    reasons = json.loads((repo / "ci-report/gate.json").read_text())["reasons"]
    assert code == 1
    assert len(reasons) == 1
    assert " is not better than the trivial baseline" in reasons[0]


def _results(value, gate=None, label="side", metric="rmse"):
    from mlops.gitops.report import Results

    params = {"gate": gate} if gate else {}
    return Results(label=label, commit="c" * 40, params=params, metrics=None if value is None else {metric: value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, "43000", True])
def test_gate_fails_without_a_finite_value_of_its_metric(value):
    from mlops.gitops.report import quality_gate

    gate = quality_gate(_results(4.0, {"metric": "rmse", "threshold": 5.0}), _results(value))
    assert not gate.passed
    assert "no finite rmse" in gate.reasons[0]


@pytest.mark.parametrize(
    ("metric", "base", "pr", "gate", "reasons"),
    [
        ("rmse", 10.0, 10.1, {"threshold": 12, "max_regression_pct": 2}, []),
        (
            "rmse",
            10.0,
            12.5,
            {"threshold": 12, "max_regression_pct": 2},
            [
                "rmse 12.50 is worse than the threshold 12.00",
                "rmse +25.00% vs base (no interval), beyond the allowed 2%",
            ],
        ),
        ("accuracy", 0.90, 0.80, {"threshold": 0.85}, ["accuracy 0.8000 is worse than the threshold 0.8500"]),
        ("accuracy", 0.90, 0.95, {"threshold": 0.85, "max_regression_pct": 0}, []),
        (
            "accuracy",
            0.90,
            0.88,
            {"max_regression_pct": 1},
            ["accuracy -2.22% vs base (no interval), beyond the allowed 1%"],
        ),
        ("log_loss", 0.20, 0.10, {"threshold": 0.3, "max_regression_pct": 0}, []),
        (
            "log_loss",
            0.20,
            0.25,
            {"max_regression_pct": 10},
            ["log_loss +25.00% vs base (no interval), beyond the allowed 10%"],
        ),
    ],
)
def test_the_gate_knows_which_direction_is_worse(metric, base, pr, gate, reasons):
    from mlops.gitops.report import quality_gate

    verdict = quality_gate(_results(base, {"metric": metric, **gate}, "base", metric), _results(pr, None, "pr", metric))
    assert verdict.reasons == reasons
    assert verdict.passed is (not reasons)


def test_a_base_from_before_gate_metric_still_gates_rmse():
    from mlops.gitops.report import quality_gate

    old_style = {"max_rmse": 45000, "max_rmse_increase_pct": 2}
    verdict = quality_gate(_results(40000.0, old_style, "base"), _results(46000.0, {"metric": "rmse"}, "pr"))
    assert verdict.reasons == [
        "rmse 46,000 is worse than the threshold 45,000",
        "rmse +15.00% vs base (no interval), beyond the allowed 2%",
    ]


def test_an_unknown_gate_metric_fails_the_gate():
    from mlops.gitops.report import quality_gate

    verdict = quality_gate(_results(1.0, {"metric": "vibes"}, "base"), _results(1.0))
    assert not verdict.passed
    assert "`gate.metric` 'vibes'" in verdict.reasons[0]


def test_a_base_that_cannot_reproduce_still_sets_the_gate(branches, tmp_path, monkeypatch):
    repo, _, _ = branches
    from mlops.gitops.report import reproduce_base

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    git(repo, "checkout", "-q", "-f", "-b", "broken-base", "main")  # -f: drop edits earlier tests left
    (repo / "dvc.yaml").write_text((repo / "dvc.yaml").read_text().replace("python -m mlops.prepare", "false"))
    set_params(repo, lambda p: p["split"].update(seed=p["split"]["seed"] + 1))  # a params change: prepare reruns
    set_params(repo, lambda p: p["gate"].update(threshold=123.0))
    git(repo, "commit", "-qam", "a base whose pipeline fails")
    git(repo, "checkout", "-q", "pr")
    base = reproduce_base(repo, "broken-base")
    assert "failed on `broken-base`" in base.note
    assert base.params["gate"]["threshold"] == 123.0


def test_a_pr_that_changes_the_task_is_judged_by_its_own_gate():
    from mlops.gitops.report import quality_gate, render

    base = _results(40000.0, {"metric": "rmse", "threshold": 45000}, "main")
    pr = _results(0.7, {"metric": "accuracy", "threshold": 0.8}, "pr", "accuracy")
    pr.params["data"] = {"task": "classification"}
    verdict = quality_gate(base, pr)
    assert verdict.source == "pr"
    assert verdict.reasons == ["accuracy 0.7000 is worse than the threshold 0.8000"]
    assert "changes data.task from regression to classification: its own gate applies" in verdict.note
    assert f"> ⚠️ {verdict.note}." in render(base, pr, verdict, Path("."))


def test_a_pr_that_changes_the_target_is_judged_by_its_own_gate():
    """A fork's first commit of its own data: the template's threshold and scale do not apply to it."""
    from mlops.gitops.report import quality_gate, render

    base = _results(40000.0, {"metric": "rmse", "threshold": 45000, "max_regression_pct": 2}, "main")
    pr = _results(90.0, {"metric": "rmse", "threshold": 60}, "pr")
    base.params["data"], pr.params["data"] = {"target": "price"}, {"target": "a<b|c"}
    verdict = quality_gate(base, pr)
    assert verdict.source == "pr"
    assert verdict.reasons == ["rmse 90.00 is worse than the threshold 60.00"]
    assert "changes data.target from 'price' to 'a<b|c': its own gate applies" in verdict.note
    text = render(base, pr, verdict, Path("."))
    assert "solve different problems, so their metrics are shown side by side" in text
    assert "The relative rule" not in text  # no contradiction: no relative rule between two problems
    assert "| rmse | 40,000 | 90.00 | | |" in text  # no change or % from USD to another unit
    pr.params["data"]["target"] = "price"  # the same problem: the base's gate, and its relative rule
    assert quality_gate(base, pr).source == "main"


def test_an_out_directory_with_other_files_is_left_alone(tmp_path, monkeypatch, capsys):
    from mlops.gitops import report

    out = tmp_path / "docs"
    out.mkdir()
    (out / "family-photo.png").write_bytes(b"\x89PNG not a report figure")
    (out / "notes.md").write_text("mine")
    monkeypatch.chdir(tmp_path)  # no git repo here: the report must stop before it needs one
    code = report.main(["--params", str(ROOT / "params.yaml"), "--out", "docs"])
    assert code == 1
    assert "will not replace it, it holds what this did not write (notes.md)" in capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == ["family-photo.png", "notes.md"]


def test_a_params_file_that_does_not_validate_is_one_line_and_the_last_report_stays(tmp_path, monkeypatch, capsys):
    from mlops.gitops import report

    out = tmp_path / "ci-report"
    out.mkdir()
    (out / "report.md").write_text("the last report")
    (out / "pr-residuals.png").write_bytes(b"\x89PNG the last figure")
    broken = tmp_path / "params.yaml"
    broken.write_text("split: [unclosed\n")
    monkeypatch.chdir(tmp_path)
    assert report.main(["--params", str(broken), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert f"[report] error: {broken}" in error
    assert "Traceback" not in error
    assert (out / "report.md").read_text() == "the last report"
    assert (out / "pr-residuals.png").exists()
