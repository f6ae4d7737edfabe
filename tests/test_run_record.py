"""Dating a model DVC restored from its cache by the commit that recorded it, in real git repos."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops import run_record
from mlops.config import parse_config

from conftest import params_in, write_params
from e2e import GIT_IDENTITY, git, run


def commit_lock(repo: Path, md5: str, when: datetime, note: str = "") -> str:
    (repo / "dvc.lock").write_text(
        f"stages:\n  train:\n    outs:\n    - path: model/model.joblib\n      md5: {md5}\n{note}"
    )
    git(repo, "add", "dvc.lock")
    stamp = when.isoformat()
    run(
        repo, "git", *GIT_IDENTITY, "commit", "-qm", f"model {md5[:6]}", GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp
    )
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


A, B = "a" * 32, "b" * 32
DAY1, DAY2, DAY3 = (datetime(2026, 1, day, 9, 30, tzinfo=UTC) for day in (1, 2, 3))


def test_the_commit_that_put_the_model_into_dvc_lock(repo):
    first = commit_lock(repo, A, DAY1)
    commit_lock(repo, A, DAY2, note="# another stage changed\n")  # the model's md5 is still there, unchanged
    found = run_record.recording_commit(A, cwd=repo)
    assert found == run_record.Commit(sha=first, time=DAY1.isoformat())


def test_a_model_that_comes_back_is_dated_by_its_return(repo):
    commit_lock(repo, A, DAY1)
    commit_lock(repo, B, DAY2)
    back = commit_lock(repo, A, DAY3)
    assert run_record.recording_commit(A, cwd=repo) == run_record.Commit(sha=back, time=DAY3.isoformat())


def test_an_uncommitted_model_has_no_date(repo):
    commit_lock(repo, A, DAY1)
    (repo / "dvc.lock").write_text(f"md5: {B}\n")  # trained here, not committed yet
    assert run_record.recording_commit(B, cwd=repo) is None
    assert run_record.recording_commit(B, cwd=repo / "not-a-repo") is None


def test_a_shallow_clone_does_not_guess(repo, tmp_path_factory):
    commit_lock(repo, A, DAY1)
    commit_lock(repo, A, DAY2, note="# later\n")
    clone = tmp_path_factory.mktemp("shallow") / "clone"
    git(repo, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    # The cut-off commit looks as if it added everything: its date would make the model look younger.
    assert run_record.recording_commit(A, cwd=clone) is None
    full = tmp_path_factory.mktemp("full") / "clone"
    git(repo, "clone", "-q", f"file://{repo}", str(full))
    assert run_record.recording_commit(A, cwd=full).time == DAY1.isoformat()


def bundle(directory: Path, version: str = "v1") -> tuple:
    cfg = parse_config(params_in(directory))
    cfg.paths.model.parent.mkdir(parents=True, exist_ok=True)
    cfg.paths.model.write_bytes(b"a model's bytes")
    cfg.paths.metadata.write_text(json.dumps({"model": {"version": version}}))
    return cfg, write_params(directory, params_in(directory))


def test_main_writes_a_record_for_a_restored_model(workdir, capsys):
    git(workdir, "init", "-q", "-b", "main")
    cfg, params = bundle(workdir)
    sha = commit_lock(workdir, run_record.md5_file(cfg.paths.model), DAY2)
    assert run_record.main(["--params", str(params)]) == 0
    assert json.loads(cfg.paths.run.read_text()) == {
        "model_version": "v1",
        "trained_at": DAY2.isoformat(),
        "git_commit": sha,
        "source": "dvc.lock commit",
    }
    assert f"dated by commit {sha[:12]}" in capsys.readouterr().err


def test_main_keeps_the_training_runs_own_record(workdir):
    git(workdir, "init", "-q", "-b", "main")
    cfg, params = bundle(workdir)
    commit_lock(workdir, run_record.md5_file(cfg.paths.model), DAY2)
    own = {"model_version": "v1", "trained_at": "2026-01-05T00:00:00+00:00", "mlflow": {"run_id": "r1"}}
    cfg.paths.run.write_text(json.dumps(own))
    assert run_record.main(["--params", str(params)]) == 0
    assert json.loads(cfg.paths.run.read_text()) == own


def test_main_leaves_an_uncommitted_model_undated(workdir, capsys):
    git(workdir, "init", "-q", "-b", "main")
    cfg, params = bundle(workdir)
    commit_lock(workdir, B, DAY1)
    stale = {"model_version": "an-older-model", "trained_at": "2026-01-01T00:00:00+00:00"}
    cfg.paths.run.write_text(json.dumps(stale))
    assert run_record.main(["--params", str(params)]) == 0
    assert json.loads(cfg.paths.run.read_text()) == stale  # another model's record: the API ignores it
    assert "its training time is unknown" in capsys.readouterr().err


def test_main_without_a_model_is_an_error(workdir, capsys):
    params = write_params(workdir, params_in(workdir))
    assert run_record.main(["--params", str(params)]) == 1
    assert "no model to date" in capsys.readouterr().err
