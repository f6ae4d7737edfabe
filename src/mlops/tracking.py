"""Experiment tracking with MLflow. Only the training stages import this (serving never does)."""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import requests
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

import mlops
from mlops.cli import StageError
from mlops.provenance import RUNTIME_LIBRARIES, library_versions

log = logging.getLogger(__name__)


def display_uri(uri: str) -> str:
    """The tracking URI without any credentials it may carry: user info, query and fragment."""
    # Cut by hand: urlunsplit would turn sqlite:///mlflow.db into sqlite:/mlflow.db.
    netloc = urllib.parse.urlsplit(uri).netloc
    shown = uri.split("#", 1)[0].split("?", 1)[0]
    if "@" in netloc:  # keep host[:port] as written (an IPv6 host keeps its brackets)
        shown = shown.replace(netloc, netloc.rpartition("@")[2], 1)
    return shown


def run_url(uri: str, experiment_id: str, run_id: str) -> str | None:
    """A browser link to the run when the store is a server (None for the local sqlite store)."""
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{display_uri(uri).rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def check_server() -> None:
    """Fail in one line, before a stage does any work, when the configured server is unreachable."""
    _check_server(mlflow.get_tracking_uri())


def _check_server(uri: str) -> None:
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=5)
    except requests.RequestException as error:
        reason = type(error).__name__
        raise StageError(
            f"MLflow tracking server {display_uri(uri)} is unreachable ({reason}); "
            "start it, fix MLFLOW_TRACKING_URI, or unset it to use the local sqlite:///mlflow.db"
        ) from None


class _DropPipVersionWarning(logging.Filter):
    """MLflow warns that it cannot pin pip in the model's conda.yaml (uv environments have no pip).
    The model's requirements are pinned by `pip_requirements`; conda.yaml's pip is irrelevant."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to resolve installed pip version")


def quiet_mlflow() -> None:
    """MLflow logs INFO lines (database migrations, experiment creation, uv detection) on every
    run: show warnings and errors only, unless MLFLOW_LOGGING_LEVEL asks for more."""
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    environment = logging.getLogger("mlflow.utils.environment")
    if not any(isinstance(item, _DropPipVersionWarning) for item in environment.filters):
        environment.addFilter(_DropPipVersionWarning())


@contextmanager
def tracked(experiment: str) -> Iterator[None]:
    """Turn MLflow and connection failures inside the block into one clear StageError."""
    quiet_mlflow()
    # Fail in seconds, not after minutes of retries, when a configured server is down.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    uri = mlflow.get_tracking_uri()
    _check_server(uri)
    try:
        yield
    except (MlflowException, requests.RequestException) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StageError(f"MLflow ({display_uri(uri)}, experiment {experiment!r}): {first_line}") from None


def log_training(
    *,
    experiment: str,
    pipeline,
    sample: pd.DataFrame,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
) -> dict[str, str | None]:
    """Log one training run (params, metrics, tags, the model) and describe where it went."""
    uri = mlflow.get_tracking_uri()
    with tracked(experiment):
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            mlflow.log_params(_flatten(params))
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
            versions = library_versions()
            mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=infer_signature(sample, pipeline.predict(sample)),
                input_example=sample.head(3),
                code_paths=[str(Path(mlops.__file__).parent)],
                pip_requirements=[f"{name}=={versions[name]}" for name in RUNTIME_LIBRARIES],
                # MLflow stores sklearn models with skops, which loads only types it is told to
                # trust; these are the types of the pipeline this run just fitted.
                skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)),
            )
    info = run.info
    log.info("logged MLflow run %s to %s", info.run_id, display_uri(uri))
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "tracking_uri": display_uri(uri),
        "run_url": run_url(uri, info.experiment_id, info.run_id),
    }


def metric_names(document: dict) -> dict[str, float]:
    """metrics.json as MLflow metrics: test_rmse, test_baseline.trivial.rmse,
    test_slice.<column>.<slice>.rmse (characters MLflow refuses in a name become _)."""
    flat = {}
    for name, value in document.items():
        if name == "baselines":
            flat.update({f"test_baseline.{key}": number for key, number in _numbers(value).items()})
        elif name == "slices":
            flat.update({f"test_slice.{key}": number for key, number in _numbers(value).items()})
        elif isinstance(value, int | float):
            flat[f"test_{name}"] = value
    return {mlflow_name(name): value for name, value in flat.items()}


def _numbers(nested: dict, prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = value
    return flat


def mlflow_name(name: str) -> str:
    """`name` as MLflow takes a metric or param name."""
    # MLflow takes letters, digits, _ - . space and / (colons only off Windows) in metric and param
    # names; a name must not look like a path to another (no /), and is at most 250 characters.
    # A fork's column names end up in both ("data.columns.Area (mm2).type"): anything else becomes _.
    return re.sub(r"[^\w.\- ]", "_", name)[:250]


def log_evaluation(run_id: str, experiment: str, document: dict, figures: list[Path]) -> None:
    """Add the test metrics (metrics.json: overall, baselines, slices) and figures to the run that trained the model."""
    with tracked(experiment), mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metric_names(document))
        for figure in figures:
            mlflow.log_artifact(str(figure), artifact_path="figures")


def _flatten(params: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[mlflow_name(name)] = value
    return flat
