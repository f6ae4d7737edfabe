"""Helpers for end-to-end tests: a copy of this repository in a temp dir, and commands in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT, fast_model, give_mlflow_store

GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def tracked_files() -> list[str]:
    """Files git tracks here, plus untracked ones it does not ignore (the working tree's state)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).exists()]


def env_for(repo: Path, *, measure: bool = False, **extra: str) -> dict[str, str]:
    """Run the copy's own code (src/ first on PYTHONPATH) with this environment's tools.

    Coverage follows child processes only when `measure` is set: the pipeline stages a copy
    runs are the code the in-process tests already cover, and tracing them doubles their time.
    """
    prefixes = ("MLFLOW_", "COV_", "DVC_") if measure else ("MLFLOW_", "COV_", "DVC_", "COVERAGE_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(repo / "src")
    env["DVC_NO_ANALYTICS"] = "1"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(extra)
    return env


def run(
    repo: Path, *command: str, check: bool = True, measure: bool = False, **env: str
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=repo, env=env_for(repo, measure=measure, **env), capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def git(repo: Path, *args: str) -> str:
    return run(repo, "git", *GIT_IDENTITY, *args).stdout.strip()


def copy_repository(destination: Path, *, sample_data: bool = True) -> Path:
    """This repository's files in a fresh git repo, optionally on the committed sample with a fast model."""
    for name in tracked_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    if sample_data:
        set_params(destination, lambda p: p["paths"].update(raw=p["paths"]["sample"]))
        set_params(destination, lambda p: p.update(model=fast_model(p["model"], p["data"].get("task", "regression"))))
        set_params(destination, lambda p: p["evaluate"].update(permutation_repeats=2))
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-qm", "copy")
    give_mlflow_store(destination)  # git-ignored, as a clone's is after its first run
    return destination


def set_params(repo: Path, change) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_fork(directory: Path, scenario: str, change=None):
    """A copy of this repository turned into a tests/forks.py project, as its owner would: the CSV
    in data/, params.yaml edited (with a fast model, then `change(params)`), `dvc add data`,
    `dvc repro`, one commit."""
    from forks import SCENARIOS, fork_params, write_csv

    from mlops.config import load_config

    repo = copy_repository(directory / "repo", sample_data=False)
    frame, changes = SCENARIOS[scenario]()
    for old in (repo / "data").glob("*.csv"):
        old.unlink()
    write_csv(frame, repo / "data" / f"{scenario}.csv")
    params = fork_params(yaml.safe_load((repo / "params.yaml").read_text()), changes, f"data/{scenario}.csv")
    params["model"] = fast_model(params["model"], params["data"]["task"])
    if change is not None:
        change(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "dvc", "add", "--quiet", "data")
    run(repo, "dvc", "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"fork: {scenario}")
    return repo, load_config(repo / "params.yaml")


def report_in_process(repo: Path, monkeypatch, capsys, *, base: str = "main") -> tuple[int, str, str]:
    """`python -m mlops.gitops.report --base <base>` in `repo`, run in this process: measured here,
    while its `dvc` children run without coverage's subprocess hook (which doubles their time).
    Returns the exit code, report.md and what it printed."""
    from mlops.gitops import report

    commands_env = env_for(repo)  # what `run` gives a command in the copy: its children inherit it
    with monkeypatch.context() as scoped:
        scoped.chdir(repo)
        for name in set(os.environ) - set(commands_env):
            scoped.delenv(name)
        for name, value in commands_env.items():
            scoped.setenv(name, value)
        code = report.main(["--base", base, "--out", "ci-report"])
    return code, (repo / "ci-report" / "report.md").read_text(), capsys.readouterr().err
