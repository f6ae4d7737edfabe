"""The PR report in a real git repo: a base branch, a PR branch that changes params, real `dvc repro`."""

import json
import os
import sys
from pathlib import Path

import pytest

from e2e import copy_repository, git, run, set_params

pytestmark = pytest.mark.slow


def metrics(repo):
    return json.loads((repo / "model/metrics.json").read_text())


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """main with its pipeline reproduced; `pr` changes the model so that it is clearly worse."""
    repo = copy_repository(tmp_path_factory.mktemp("report") / "repo")
    set_params(repo, lambda p: p["gate"].update(max_rmse=1e9, max_rmse_increase_pct=1000.0))
    run(repo, "dvc", "pull", "data.dvc")
    run(repo, "dvc", "repro")
    git(repo, "commit", "-qam", "base results")
    base = metrics(repo)
    git(repo, "checkout", "-q", "-b", "pr")
    set_params(repo, lambda p: p["model"]["params"].update(max_iter=5))
    run(repo, "dvc", "repro")
    git(repo, "commit", "-qam", "fewer iterations")
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
    assert f"| rmse | {base['rmse']:,.0f} | {pr['rmse']:,.0f} | +{pr['rmse'] - base['rmse']:,.0f} 🔴 |" in text
    assert f"| r2 | {base['r2']:,.4f} | {pr['r2']:,.4f} |" in text
    assert "| `model.params.max_iter` | `60` | `5` |" in text
    assert "- raw data (data.dvc md5): unchanged" in text
    assert "- model version: `" in text
    assert " → " in text.split("- model version:")[1].splitlines()[0]
    for side in ("base", "pr"):
        assert (repo / f"ci-report/{side}-predicted_vs_actual.png").read_bytes().startswith(b"\x89PNG")
        assert f"]({side}-predicted_vs_actual.png)" in text
    assert json.loads((repo / "ci-report/gate.json").read_text()) == {"passed": True, "reasons": []}
    summary = (repo / "ci-report/summary.md").read_text()  # the job summary cannot show local images
    assert "](pr-predicted_vs_actual.png)" not in summary
    assert "PR predicted_vs_actual.png (figure: PR comment, `pr-report` artifact)" in summary
    assert summary.split("| metric |")[0] == text.split("| metric |")[0]
    # The base was reproduced in a worktree that is gone again; this tree is untouched.
    assert git(repo, "worktree", "list").count("\n") == 0
    assert git(repo, "status", "--porcelain") == ""  # ci-report/ is git-ignored


def test_gate_fails_on_a_regression_with_the_base_branch_thresholds(branches):
    repo, base, pr = branches
    git(repo, "checkout", "-q", "main")
    set_params(repo, lambda p: p["gate"].update(max_rmse=base["rmse"] * 1.01, max_rmse_increase_pct=1.0))
    git(repo, "commit", "-qam", "strict gate")
    git(repo, "checkout", "-q", "pr")
    # The PR loosens its own gate: the base branch's thresholds apply anyway.
    set_params(repo, lambda p: p["gate"].update(max_rmse=1e12, max_rmse_increase_pct=1e6))
    code, text, done = report(repo)
    assert code == 1
    assert "❌ **Quality gate failed**" in text
    assert f"RMSE {pr['rmse']:,.0f} is above the limit {base['rmse'] * 1.01:,.0f}" in text
    increase = 100 * (pr["rmse"] - base["rmse"]) / base["rmse"]
    assert f"RMSE is {increase:.2f}% worse than main (allowed: 1.0%)" in text
    assert "[report] error" not in done.stderr


def test_a_base_without_results_is_said_plainly(branches):
    repo, _, _ = branches
    code, text, _ = report(repo, base="no-such-branch")
    assert "Base results unavailable: `no-such-branch` is not a git revision here" in text
    assert code == 0  # only the absolute limit applies, and the PR is under it


def _results(rmse, gate=None, label="side"):
    from mlops.gitops.report import Results

    params = {"gate": gate} if gate else {}
    return Results(label=label, commit="c" * 40, params=params, metrics=None if rmse is None else {"rmse": rmse})


@pytest.mark.parametrize("rmse", [float("nan"), float("inf"), None, "43000"])
def test_gate_fails_without_a_finite_rmse(rmse):
    from mlops.gitops.report import quality_gate

    gate = quality_gate(_results(40000.0, {"max_rmse": 45000, "max_rmse_increase_pct": 2}), _results(rmse))
    assert not gate.passed
    assert "no finite RMSE" in gate.reasons[0]


def test_a_base_that_cannot_reproduce_still_sets_the_gate(branches, tmp_path, monkeypatch):
    repo, _, _ = branches
    from mlops.gitops.report import reproduce_base

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    git(repo, "checkout", "-q", "-f", "-b", "broken-base", "main")  # -f: drop edits earlier tests left
    (repo / "dvc.yaml").write_text((repo / "dvc.yaml").read_text().replace("python -m mlops.prepare", "false"))
    set_params(repo, lambda p: p["data"].update(target="median_house_value"))  # a params change: prepare reruns
    set_params(repo, lambda p: p["split"].update(seed=7))
    set_params(repo, lambda p: p["gate"].update(max_rmse=123.0))
    git(repo, "commit", "-qam", "a base whose pipeline fails")
    git(repo, "checkout", "-q", "pr")
    base = reproduce_base(repo, "broken-base", tmp_path)
    assert "failed on `broken-base`" in base.note
    assert base.params["gate"]["max_rmse"] == 123.0
