"""The PR report in a real git repo: a base branch, a PR branch that changes params, real `dvc repro`."""

import json
import os
import sys
from pathlib import Path

import pytest

from mlops.metrics import METRICS, shown

from conftest import repo_config
from e2e import copy_repository, git, run, set_params

pytestmark = pytest.mark.slow


CFG = repo_config()
GATED = METRICS[CFG.gate.metric]
# The PR's model: a trivial one, clearly worse than the repository's own whatever its task.
TRIVIAL = {"family": "DummyClassifier" if CFG.data.is_classification else "DummyRegressor", "params": {}}


def metrics(repo):
    return json.loads((repo / CFG.paths.metrics).read_text())


def lenient(gate: dict) -> None:
    """A gate that passes anything: no threshold, any regression allowed."""
    gate.update(threshold=None, max_regression_pct=1e9)


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


def report(repo, *, base="main"):
    done = run(
        repo,
        sys.executable,
        "-m",
        "mlops.gitops.report",
        "--base",
        base,
        "--out",
        "ci-report",
        check=False,
        measure=True,
    )
    return done.returncode, (repo / "ci-report/report.md").read_text(), done


def test_report_compares_metrics_params_hashes_and_figures(branches):
    repo, base, pr = branches
    code, text, _ = report(repo)
    assert code == 0
    assert "✅ **Quality gate passed**" in text
    name, old, new = GATED.name, base[GATED.name], pr[GATED.name]
    sign = "+" if new > old else ""
    assert f"| {name} | {shown(old)} | {shown(new)} | {sign}{shown(new - old)} 🔴 |" in text
    assert f"| `model.family` | `{CFG.model.family}` | `{TRIVIAL['family']}` |" in text
    assert "- raw data (data.dvc md5): unchanged" in text
    assert "- model version: `" in text
    assert " → " in text.split("- model version:")[1].splitlines()[0]
    for side in ("base", "pr"):
        assert (repo / f"ci-report/{side}-importance.png").read_bytes().startswith(b"\x89PNG")
        assert f"]({side}-importance.png)" in text
    assert json.loads((repo / "ci-report/gate.json").read_text()) == {"passed": True, "reasons": []}
    summary = (repo / "ci-report/summary.md").read_text()  # the job summary cannot show local images
    assert "](pr-importance.png)" not in summary
    assert "PR importance.png (figure: PR comment, `pr-report` artifact)" in summary
    assert summary.split("| metric |")[0] == text.split("| metric |")[0]
    # The base was reproduced in a worktree that is gone again; this tree is untouched.
    assert git(repo, "worktree", "list").count("\n") == 0
    assert git(repo, "status", "--porcelain") == ""  # ci-report/ is git-ignored


def test_gate_fails_on_a_regression_with_the_base_branch_thresholds(branches):
    repo, base, pr = branches
    git(repo, "checkout", "-q", "main")
    name, old, new = GATED.name, base[GATED.name], pr[GATED.name]
    threshold = old  # the base's own score: the trivial model is worse than it
    set_params(repo, lambda p: p["gate"].update(threshold=threshold, max_regression_pct=1.0))
    git(repo, "commit", "-qam", "strict gate")
    git(repo, "checkout", "-q", "pr")
    # The PR loosens its own gate: the base branch's thresholds apply anyway.
    set_params(repo, lambda p: lenient(p["gate"]))
    code, text, done = report(repo)
    assert code == 1
    assert "❌ **Quality gate failed**" in text
    assert f"{name} {shown(new)} is worse than the threshold {shown(threshold)}" in text
    worse = 100 * GATED.worse_by(old, new) / abs(old)
    assert f"{name} is {worse:.2f}% worse than main (allowed: 1.0%)" in text
    assert "[report] error" not in done.stderr


def test_a_base_without_results_is_said_plainly(branches):
    repo, _, _ = branches
    code, text, _ = report(repo, base="no-such-branch")
    assert "Base results unavailable: `no-such-branch` is not a git revision here" in text
    assert code == 0  # only the absolute limit applies, and the PR is under it


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
            ["rmse 12.50 is worse than the threshold 12.00", "rmse is 25.00% worse than base (allowed: 2%)"],
        ),
        ("accuracy", 0.90, 0.80, {"threshold": 0.85}, ["accuracy 0.8000 is worse than the threshold 0.8500"]),
        ("accuracy", 0.90, 0.95, {"threshold": 0.85, "max_regression_pct": 0}, []),
        ("accuracy", 0.90, 0.88, {"max_regression_pct": 1}, ["accuracy is 2.22% worse than base (allowed: 1%)"]),
        ("log_loss", 0.20, 0.10, {"threshold": 0.3, "max_regression_pct": 0}, []),
        ("log_loss", 0.20, 0.25, {"max_regression_pct": 10}, ["log_loss is 25.00% worse than base (allowed: 10%)"]),
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
        "rmse is 15.00% worse than base (allowed: 2%)",
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
    base = reproduce_base(repo, "broken-base", tmp_path)
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
