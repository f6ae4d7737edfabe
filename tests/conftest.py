"""Shared fixtures. Everything comes from the repository's params.yaml and its data, so the suite
holds for a fork's data, model and task: rows from the committed sample (`make sample`), or from
the datasets in tests/forks.py where a test needs a task or dataset of its own."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from mlops.config import REGRESSION, Config, parse_config

ROOT = Path(__file__).resolve().parents[1]
# The demo's raw data, as data.dvc records it: tests about that data only skip on a fork's.
DEMO_DATA_MD5 = "75ab717b82da4be74ecd7573c52aeef2.dir"


def repo_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@functools.cache
def repo_config() -> Config:
    return parse_config(repo_params())


SAMPLE = ROOT / repo_config().paths.sample


def is_demo_data() -> bool:
    outs = (yaml.safe_load((ROOT / "data.dvc").read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5") == DEMO_DATA_MD5 and repo_config().paths.raw == Path("data/housing.csv")


demo_only = pytest.mark.skipif(
    not is_demo_data(), reason="about the demo's California housing data; this repository's data.dvc holds other data"
)


def pytest_collection_modifyitems(config, items):
    """Longest first: tests that run the pipeline, then other slow ones, then the rest (a stable
    sort: the same order on every xdist worker, as loadscope requires)."""
    items.sort(key=lambda item: (item.get_closest_marker("pipeline") is None, item.get_closest_marker("slow") is None))


def pytest_sessionstart(session):
    """A sample that no longer matches params.yaml would fail most tests for one reason: say it once."""
    from mlops.raw_data import DataValidationError, load_raw

    try:
        load_raw(SAMPLE, repo_config().data)
    except DataValidationError as error:
        first = str(error).splitlines()[1:2] or [str(error)]
        pytest.exit(
            f"{SAMPLE.relative_to(ROOT)} does not match params.yaml ({first[0].strip(' -')}): run `make sample`", 2
        )


# Speed-ups for the suite, applied only where the model family takes them and only downwards.
FAST_BOOSTING = {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 15, "early_stopping": False}
FAST_ENSEMBLE_SIZE = 30


@functools.cache
def accepted_params(family: str, task: str = REGRESSION) -> dict:
    """A scikit-learn estimator's default hyperparameters (empty for an unknown family: make_estimator
    reports that one)."""
    from mlops.features import families

    estimator_class = families(task).get(family)
    return estimator_class().get_params() if estimator_class else {}


def fast_model(model: dict, task: str = REGRESSION) -> dict:
    """`model` (params.yaml's model section) made quick to fit, keeping the fork's own choices:
    fewer boosting rounds or trees, a fixed seed, one thread."""
    family, params = model["family"], dict(model.get("params") or {})
    accepted = accepted_params(family, task)
    if "HistGradientBoosting" in family:
        params.update({key: value for key, value in FAST_BOOSTING.items() if key in accepted})
    elif isinstance(accepted.get("n_estimators"), int):
        params["n_estimators"] = min(params.get("n_estimators", accepted["n_estimators"]), FAST_ENSEMBLE_SIZE)
    if "random_state" in accepted:
        params.setdefault("random_state", 0)
    if "n_jobs" in accepted and "n_estimators" in accepted:
        # One thread: a forest's threads sum their trees in any order, so its outputs vary in the
        # last digit from call to call, and the tests compare outputs exactly.
        params["n_jobs"] = 1
    return {"family": family, "params": params}


def scenario_params(directory: Path, scenario: str) -> dict:
    """params.yaml for a tests/forks.py dataset, its CSV written under `directory`."""
    from forks import SCENARIOS, fork_params, write_csv

    frame, changes = SCENARIOS[scenario]()
    raw = write_csv(frame, directory / "fork-data" / f"{scenario}.csv")
    return fork_params(repo_params(), changes, str(raw))


def params_in(directory: Path, scenario: str | None = None, **sections) -> dict:
    """Params with every output path moved into `directory`, a fast model and any section replaced
    by keyword. The raw data: the committed sample of this repository's data, or a forks.py dataset."""
    params = scenario_params(directory, scenario) if scenario else repo_params()
    raw = params["paths"]["raw"] if scenario else str(SAMPLE)
    params["paths"] = {key: str(directory / Path(value)) for key, value in params["paths"].items()}
    params["paths"]["raw"] = raw
    params["model"] = fast_model(params["model"], params["data"].get("task", REGRESSION))
    params["evaluate"] = {**params["evaluate"], "permutation_repeats": 2}
    params.update(sections)
    return params


def write_params(directory: Path, params: dict) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def features_of(cfg: Config, *, kind: str | None = None, bounded: bool = False) -> list[str]:
    """This config's feature names, optionally of one kind ("numeric", "categorical") or with a
    declared min or max."""
    names = []
    for name, spec in cfg.data.features.items():
        if kind and spec.type != kind:
            continue
        if bounded and spec.min is None and spec.max is None:
            continue
        names.append(name)
    return names


def pick_feature(schema, *, kind: str | None = None, nullable: bool | None = None, bounded: bool = False):
    """The first feature of the model's schema that fits, or skip: the fork's data has none."""
    for spec in schema.features:
        if kind and spec.type != kind:
            continue
        if nullable is not None and spec.nullable != nullable:
            continue
        if bounded and spec.min is None and spec.max is None:
            continue
        return spec
    nullability = {True: "nullable", False: "non-nullable", None: ""}[nullable]
    wanted = " ".join(filter(None, [nullability, "bounded" if bounded else "", kind or ""]))
    pytest.skip(f"the model has no {wanted} feature".replace("  ", " "))


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch):
    """`make test` also runs in CI: tests must not write to the job's outputs or read its PR."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_HEAD_REF", "GITHUB_BASE_REF"):
        monkeypatch.delenv(name, raising=False)


@functools.cache
def migrated_mlflow_store() -> Path:
    """An empty MLflow sqlite store made by MLflow itself, once per test process. Creating one
    runs MLflow's schema migrations (2 to 4 s here); tests copy this one instead, which is what a
    clone's store looks like after its first run. tests/test_tracking.py keeps one fresh."""
    from mlflow import MlflowClient

    directory = Path(tempfile.mkdtemp(prefix="mlflow-store-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    MlflowClient(tracking_uri=f"sqlite:///{directory / 'mlflow.db'}").search_experiments()
    return directory / "mlflow.db"


def give_mlflow_store(directory: Path) -> None:
    """Put a copy of the migrated, empty store in `directory` as mlflow.db (the default URI's file)."""
    shutil.copyfile(migrated_mlflow_store(), directory / "mlflow.db")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory with a private MLflow store."""
    give_mlflow_store(tmp_path)
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


def train_on(directory: Path, params: dict):
    """Prepare and train (pure functions, no I/O): config, result, train and test frames."""
    from mlops.prepare import prepare
    from mlops.raw_data import load_raw
    from mlops.train import train

    cfg = parse_config(params)
    train_frame, test_frame = prepare(load_raw(cfg.paths.raw, cfg.data), cfg)
    return cfg, train(train_frame, cfg), train_frame, test_frame


def write_bundle(directory: Path, cfg: Config, result, test_frame) -> Path:
    """A model bundle as train/evaluate write it (model, metadata, reference, run record, metrics, parity rows)."""
    import json

    import joblib

    from mlops import fast_path, metrics, model_output
    from mlops.artifacts import sha256_file
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
    output = model_output.predict(result.pipeline, test_frame[list(cfg.data.features)], cfg.data.task)
    scored = metrics.Scored(test_frame[cfg.data.target].to_numpy(), output.values, output.probabilities, output.classes)
    cfg.paths.metrics.write_text(json.dumps(metrics.compute(cfg.data.task, scored)))
    fast_path.save_parity(result.pipeline, test_frame, cfg, sha[:12])
    return directory


def serve_from(directory: Path, params: dict):
    """Train on `params`, write the bundle and a params.yaml pointing at it (as in the container)."""
    cfg, result, _, test_frame = train_on(directory, params)
    write_bundle(directory, cfg, result, test_frame)
    write_params(directory, params)
    return cfg, result, test_frame, directory


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """This repository's sample prepared and a fast model of its family trained on it, once per session."""
    directory = tmp_path_factory.mktemp("trained")
    return train_on(directory, params_in(directory))


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory):
    """This repository's model (fast, on the sample) as a bundle on disk, with its params.yaml."""
    directory = tmp_path_factory.mktemp("served")
    return serve_from(directory, params_in(directory))


@pytest.fixture(scope="session")
def served_scenario(tmp_path_factory: pytest.TempPathFactory):
    """served_scenario(name): a tests/forks.py dataset's model, served from disk (built once per session)."""
    built: dict[str, tuple] = {}

    def build(scenario: str):
        if scenario not in built:
            directory = tmp_path_factory.mktemp(f"served-{scenario}")
            built[scenario] = serve_from(directory, params_in(directory, scenario))
        return built[scenario]

    return build


# One dataset per task the suite exercises whatever this repository's own task is.
TASK_SCENARIOS = {REGRESSION: "regression", "multiclass": "multiclass", "binary": "binary"}
CLASSIFICATION_SCENARIOS = ("multiclass", "binary")


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
        parity=cfg.paths.parity,
        fast_path=cfg.paths.fast_path,
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


def servable_records(served, frame) -> list[dict]:
    """`frame`'s rows as API records (JSON-ready, missing values as null), less those the served model's
    API refuses: a fork's test split can hold a category its training split never had."""
    import json

    cfg, result = served[0], served[1]
    rows = json.loads(frame[list(cfg.data.features)].to_json(orient="records"))
    return [row for row in rows if not result.schema.validate_records([row])[1]]


# Each served model's accepted test rows, found once: tests ask for them hundreds of times. The frame
# is kept with them, so its id cannot be reused by another frame while the entry exists.
_TEST_RECORDS: dict[int, tuple[object, list[dict]]] = {}


def records_of(served, n: int, start: int = 0) -> list[dict]:
    """`n` test rows of a served model as API records (rows the API refuses left out); fresh copies."""
    frame = served[2]
    known = _TEST_RECORDS.get(id(frame))
    if known is None or known[0] is not frame:
        known = _TEST_RECORDS[id(frame)] = (frame, servable_records(served, frame))
    return [dict(record) for record in known[1][start : start + n]]


def expected_answer(served, records: list[dict]):
    """What the API must answer for `records`: the model's own output, computed in process."""
    from mlops import model_output
    from mlops.schema import FeatureSchema

    cfg, result, _, _ = served
    frame = FeatureSchema.model_validate(result.schema.model_dump()).to_frame(records)
    return model_output.predict(result.pipeline, frame, cfg.data.task)


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's full raw data, read through DVC from its default remote (no checkout)."""
    import dvc.api

    raw = repo_config().paths.raw
    path = tmp_path_factory.mktemp("real") / raw.name
    path.write_text(dvc.api.read(raw.as_posix(), repo=str(ROOT)))
    return path


@pytest.fixture(scope="session")
def served_full(tmp_path_factory: pytest.TempPathFactory, real_data: Path):
    """A fast model trained on the full training split of the real data, served from disk."""
    directory = tmp_path_factory.mktemp("served-full")
    params = params_in(directory)
    params["paths"]["raw"] = str(real_data)
    return serve_from(directory, params)
