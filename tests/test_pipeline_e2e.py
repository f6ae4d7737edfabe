"""The real `dvc repro` in a copy of the repository, on the committed sample of the real data."""

import hashlib
import json
import re

import pytest
from mlflow import MlflowClient

from conftest import ROOT
from e2e import copy_repository, git, run

pytestmark = pytest.mark.slow


def test_dvc_repro_end_to_end(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    run(repo, "dvc", "pull", "data.dvc")  # as `make pipeline` does, so `dvc status` is complete
    first = run(repo, "dvc", "repro")
    for stage in ("prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout
    assert "[train] fitting HistGradientBoostingRegressor" in first.stderr  # progress is shown

    metrics = json.loads((repo / "model/metrics.json").read_text())
    assert metrics["rmse"] > 0
    assert 0 < metrics["r2"] <= 1
    metadata = json.loads((repo / "model/metadata.json").read_text())
    assert len(list((repo / "reports/figures").glob("*.png"))) == 3

    # The run is in MLflow's default local store inside the working directory.
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    record = json.loads((repo / "model/run.json").read_text())
    assert record["model_version"] == metadata["model"]["version"]
    run_info = client.get_run(record["mlflow"]["run_id"])
    assert run_info.data.tags["git_commit"] == git(repo, "rev-parse", "HEAD") + "-dirty"  # params changed
    assert run_info.data.metrics["test_rmse"] == pytest.approx(metrics["rmse"])

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

    # Changing one model knob reruns train and evaluate only.
    params = (repo / "params.yaml").read_text().replace("learning_rate: 0.15", "learning_rate: 0.2")
    (repo / "params.yaml").write_text(params)
    third = run(repo, "dvc", "repro")
    assert "Running stage 'prepare'" not in third.stdout
    assert "Running stage 'train'" in third.stdout


def test_raw_data_is_never_written(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    sample = repo / "tests/fixtures/housing_sample.csv"
    before = hashlib.sha256(sample.read_bytes()).hexdigest()
    run(repo, "dvc", "repro", "prepare")
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == before


def test_fresh_clone_pulls_the_demo_data_offline(tmp_path):
    repo = copy_repository(tmp_path / "origin", sample_data=False)
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    run(clone, "dvc", "pull", "data.dvc")
    data = (clone / "data/housing.csv").read_bytes()
    documented = re.search(r"sha256 of housing.csv: `([0-9a-f]{64})`", (ROOT / "docs/data.md").read_text())
    assert hashlib.sha256(data).hexdigest() == documented.group(1)
    assert data.count(b"\n") == 20_641  # header + 20,640 rows
    assert git(clone, "status", "--porcelain") == ""
