"""Shared fixtures: a committed sample of the real data and params that point into tmp_path."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import yaml

from mlops.config import Config, parse_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "housing_sample.csv"

# Small enough to fit in well under a second, big enough to learn something (for the default
# HistGradientBoostingRegressor; another family gets only the keys it accepts: see fast_model).
FAST_MODEL = {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 15, "early_stopping": False, "random_state": 0}


@functools.cache
def accepted_params(family: str) -> frozenset[str]:
    """The hyperparameter names of a scikit-learn regressor (empty for an unknown family: make_estimator
    reports that one)."""
    from mlops.features import regressor_families

    estimator_class = regressor_families().get(family)
    return frozenset(estimator_class().get_params()) if estimator_class else frozenset()


def fast_model(family: str) -> dict:
    """FAST_MODEL's speed-ups that `family` accepts, so a fork that switches model family keeps a working suite."""
    accepted = accepted_params(family)
    return {key: value for key, value in FAST_MODEL.items() if key in accepted}


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch):
    """`make test` also runs in CI: tests must not write to the job's outputs or read its PR."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_HEAD_REF", "GITHUB_BASE_REF"):
        monkeypatch.delenv(name, raising=False)


def repo_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def params_in(directory: Path, **sections) -> dict:
    """The repository's params with every path moved into `directory`, the raw data set to the
    committed sample, a fast model (of params.yaml's family), and any section replaced by keyword."""
    params = repo_params()
    params["paths"] = {key: str(directory / Path(value)) for key, value in params["paths"].items()}
    params["paths"]["raw"] = str(SAMPLE)
    params["model"]["params"] = fast_model(params["model"]["family"])
    params["evaluate"]["permutation_repeats"] = 2
    params.update(sections)
    return params


def write_params(directory: Path, params: dict) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory with a private MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return tmp_path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(params_in(tmp_path))


@pytest.fixture
def params_file(workdir: Path) -> Path:
    return write_params(workdir, params_in(workdir))


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must use this test run's interpreter and tools."""
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The sample prepared and a fast model trained on it, once per session (pure functions, no I/O)."""
    from mlops.prepare import prepare
    from mlops.raw_data import load_raw
    from mlops.train import train

    directory = tmp_path_factory.mktemp("trained")
    cfg = parse_config(params_in(directory))
    train_frame, test_frame = prepare(load_raw(cfg.paths.raw, cfg.data), cfg)
    result = train(train_frame, cfg)
    return cfg, result, train_frame, test_frame


def write_bundle(directory: Path, cfg: Config, result, test_frame) -> Path:
    """A model bundle as train/evaluate write it (model, metadata, run record, metrics)."""
    import json

    import joblib

    from mlops.artifacts import sha256_file
    from mlops.metrics import regression_metrics
    from mlops.train import build_metadata

    cfg.paths.model.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(result.pipeline, cfg.paths.model)
    sha = sha256_file(cfg.paths.model)
    metadata = build_metadata(result, cfg, model_sha256=sha, train_sha256="0" * 64, rows=100)
    cfg.paths.metadata.write_text(json.dumps(metadata))
    cfg.paths.reference.write_text(json.dumps(result.reference))
    run = {
        "model_version": sha[:12],
        "trained_at": "2026-01-01T00:00:00+00:00",
        "git_commit": "abc",
        "mlflow": {"run_id": "r1"},
    }
    cfg.paths.run.write_text(json.dumps(run))
    predicted = result.pipeline.predict(test_frame[list(cfg.data.features)])
    cfg.paths.metrics.write_text(json.dumps(regression_metrics(test_frame[cfg.data.target], predicted)))
    return directory


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, trained):
    """A model bundle on disk, with the params.yaml that points at it (as in the container)."""
    _, result, _, test_frame = trained
    directory = tmp_path_factory.mktemp("served")
    served_cfg = parse_config(params_in(directory))
    write_bundle(directory, served_cfg, result, test_frame)
    write_params(directory, params_in(directory))
    return served_cfg, result, test_frame, directory


def api_settings(served, *, batching: bool = True, **changes):
    from dataclasses import replace

    from mlops.api.settings import ApiSettings

    cfg = served[0]
    serve = cfg.serve.model_copy(update={"batching": cfg.serve.batching.model_copy(update={"enabled": batching})})
    settings = ApiSettings(
        model=cfg.paths.model,
        metadata=cfg.paths.metadata,
        run=cfg.paths.run,
        metrics=cfg.paths.metrics,
        reference=cfg.paths.reference,
        serve=serve,
        monitor=cfg.monitor,
        commit="c0ffee" * 6 + "c0ff",
        build_time="2026-11-26T00:00:00Z",
    )
    return replace(settings, **changes)


@pytest.fixture
def app(served):
    from mlops.api import create_app

    return create_app(api_settings(served, prediction_log_stdout=False))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo data (20,640 rows), read through DVC from the in-repo remote (no checkout)."""
    import dvc.api

    path = tmp_path_factory.mktemp("real") / "housing.csv"
    path.write_text(dvc.api.read("data/housing.csv", repo=str(ROOT)))
    return path


@pytest.fixture(scope="session")
def served_full(tmp_path_factory: pytest.TempPathFactory, real_data: Path):
    """A fast model trained on the full real training split, served from disk; and its test split."""
    from mlops.prepare import prepare
    from mlops.raw_data import load_raw
    from mlops.train import train

    directory = tmp_path_factory.mktemp("served-full")
    params = params_in(directory)
    params["paths"]["raw"] = str(real_data)
    cfg = parse_config(params)
    train_frame, test_frame = prepare(load_raw(real_data, cfg.data), cfg)
    result = train(train_frame, cfg)
    write_bundle(directory, cfg, result, test_frame)
    write_params(directory, params)
    return cfg, result, test_frame, directory
