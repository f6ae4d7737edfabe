"""The real `dvc repro` in a copy of the repository, on the committed sample of the real data."""

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
from mlflow import MlflowClient

from mlops.config import load_config
from mlops.raw_data import load_raw

from conftest import ROOT, demo_only
from e2e import copy_repository, git, run

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def test_dvc_repro_end_to_end(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    run(repo, "dvc", "pull", "data.dvc")  # as `make pipeline` does, so `dvc status` is complete
    first = run(repo, "dvc", "repro")
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout
    config = load_config(repo / "params.yaml")
    assert f"[train] fitting {config.model.family}" in first.stderr  # progress is shown

    metrics = json.loads((repo / config.paths.metrics).read_text())
    gated = config.gate.metric
    assert gated in metrics
    metadata = json.loads((repo / config.paths.metadata).read_text())
    assert metadata["task"] == config.data.task
    assert "importance.png" in {path.name for path in (repo / config.paths.figures).glob("*.png")}

    # The run is in MLflow's default local store inside the working directory.
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    record = json.loads((repo / config.paths.run).read_text())
    assert record["model_version"] == metadata["model"]["version"]
    run_info = client.get_run(record["mlflow"]["run_id"])
    assert run_info.data.tags["git_commit"] == git(repo, "rev-parse", "HEAD") + "-dirty"  # params changed
    assert run_info.data.metrics[f"test_{gated}"] == pytest.approx(metrics[gated])

    # A second repro does nothing; DVC agrees everything is current; git sees only dvc.lock.
    second = run(repo, "dvc", "repro")
    assert "Running stage" not in second.stdout
    assert "up to date" in run(repo, "dvc", "status").stdout
    assert git(repo, "status", "--porcelain") == "M dvc.lock"

    # Evaluation is reproducible to the byte (metrics, plot data, PNGs): forcing it again leaves
    # dvc.lock as it was. (tests/test_train.py shows the same for the model and its metadata.)
    git(repo, "commit", "-qam", "reproduce")
    run(repo, "dvc", "repro", "--force", "--single-item", "evaluate")
    assert git(repo, "status", "--porcelain") == ""

    # A fresh checkout (no outputs, no run record): DVC restores the model from its cache without
    # training, and `make pipeline`'s run record dates it by the commit that recorded it in dvc.lock.
    trained_record = json.loads((repo / config.paths.run).read_text())
    for path in (repo / config.paths.model).parent.iterdir():
        path.unlink()
    restored = run(repo, "dvc", "repro")
    assert "Running stage 'train'" not in restored.stdout
    run(repo, "python", "-m", "mlops.run_record")
    assert json.loads((repo / config.paths.run).read_text()) == {
        "model_version": trained_record["model_version"],
        "trained_at": datetime.fromtimestamp(int(git(repo, "log", "-1", "--format=%ct")), UTC).isoformat(),
        "git_commit": git(repo, "rev-parse", "HEAD"),
        "source": "dvc.lock commit",
    }


def test_raw_data_is_never_written(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    sample = repo / load_config(repo / "params.yaml").paths.raw
    before = hashlib.sha256(sample.read_bytes()).hexdigest()
    run(repo, "dvc", "repro", "prepare")
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == before


def test_a_fresh_clone_pulls_the_raw_data_from_the_default_remote(tmp_path):
    repo = copy_repository(tmp_path / "origin", sample_data=False)
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    run(clone, "dvc", "pull", "data.dvc")
    raw = clone / load_config(clone / "params.yaml").paths.raw
    assert load_raw(raw, load_config(clone / "params.yaml").data).shape[0] > 0
    assert git(clone, "status", "--porcelain") == ""


@demo_only
def test_the_demo_data_is_the_documented_file(tmp_path):
    import dvc.api

    data = dvc.api.read("data/housing.csv", repo=str(ROOT), mode="rb")
    documented = re.search(r"sha256 of housing.csv: `([0-9a-f]{64})`", (ROOT / "docs/data.md").read_text())
    assert hashlib.sha256(data).hexdigest() == documented.group(1)
    assert data.count(b"\n") == 20_641  # header + 20,640 rows
