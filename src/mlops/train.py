"""Stage `train`: fit the feature pipeline and model; save it with its metadata; log to MLflow."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import joblib
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops import artifacts, cli, metrics, model_output, progress
from mlops.bundle import model_version
from mlops.config import Config, DataConfig, load_config
from mlops.drift import build_reference
from mlops.features import build_pipeline
from mlops.metrics import Scored, shown
from mlops.prepare import read_frame
from mlops.provenance import git_commit, library_versions
from mlops.schema import FeatureSchema

log = logging.getLogger(__name__)

# The params sections that shape the model; they go into the metadata and the MLflow run.
MODEL_PARAMS = ("data", "features", "model")


@dataclass(frozen=True)
class TrainResult:
    pipeline: Pipeline
    schema: FeatureSchema
    metrics: dict[str, float]
    target: pd.Series
    reference: dict  # the drift reference profile of the training data (mlops.drift)
    classes: list | None = None  # classification: the labels, in the model's order


def target_summary(target: pd.Series, data: DataConfig, classes: list | None = None) -> dict:
    """The training target: regression, its range and deciles (serving buckets its prediction
    histogram on them); classification, its classes and their shares."""
    summary = {"name": target.name, "unit": data.columns[data.target].unit}
    if data.is_classification:
        shares = target.value_counts(normalize=True)
        return {**summary, "classes": classes, "shares": [round(float(shares.get(c, 0.0)), 6) for c in classes]}
    deciles = target.quantile([i / 10 for i in range(1, 10)]).round(2).tolist()
    return {**summary, "min": float(target.min()), "max": float(target.max()), "deciles": deciles}


def train(frame: pd.DataFrame, config: Config) -> TrainResult:
    """Fit the pipeline on the training frame; derive the feature schema from the same rows."""
    features = frame[list(config.data.features)]
    target = frame[config.data.target]
    schema = FeatureSchema.from_frame(features, config.data)
    pipeline = build_pipeline(config).fit(features, target)
    output = model_output.predict(pipeline, features, config.data.task)
    scored = Scored(target.to_numpy(), output.values, output.probabilities, output.classes)
    return TrainResult(
        pipeline=pipeline,
        schema=schema,
        metrics=metrics.compute(config.data.task, scored),
        target=target,
        reference=build_reference(features, output.values, schema, config.monitor, classes=output.classes),
        classes=output.classes,
    )


# Hyperparameters that a fit's time grows with linearly: a pilot fits a tenth of them.
ITERATION_PARAMS = ("max_iter", "n_estimators")
PILOT_SHARE = 10


def estimate_seconds(frame: pd.DataFrame, config: Config, previous: dict | None) -> tuple[float, str]:
    """How long fitting `frame` should take, and how that was estimated.

    The last run's time when it fitted the same model on as many rows. Otherwise a pilot fit
    that costs about a tenth of the real one, scaled up: a tenth of the iterations (max_iter,
    n_estimators) on all rows, or, for other models, all of it on a tenth of the rows.
    """
    if previous and previous.get("fit", {}).get("signature") == fit_signature(frame, config):
        return float(previous["fit"]["seconds"]), "as the last run of this model on these rows"
    estimator = build_pipeline(config).named_steps["model"]
    defaults = estimator.get_params()
    iterations = next((name for name in ITERATION_PARAMS if isinstance(defaults.get(name), int)), None)
    pilot_config, pilot, basis = config, frame, ""
    if iterations and defaults[iterations] >= 2 * PILOT_SHARE:
        fewer = defaults[iterations] // PILOT_SHARE
        model = config.model.model_copy(update={"params": {**config.model.params, iterations: fewer}})
        pilot_config = config.model_copy(update={"model": model})
        scale, basis = defaults[iterations] / fewer, f"from a pilot fit with {iterations}={fewer}"
    else:
        rows = max(min(len(frame), 200), len(frame) // PILOT_SHARE)
        pilot = frame.sample(rows, random_state=0)
        scale, basis = len(frame) / rows, f"from a pilot fit on {rows:,} rows"
    started = time.perf_counter()
    with warnings.catch_warnings():  # a pilot may warn (e.g. too few iterations to converge); the real fit will say
        warnings.simplefilter("ignore")
        try:
            build_pipeline(pilot_config).fit(pilot[list(config.data.features)], pilot[config.data.target])
        except ValueError:
            return 0.0, "no estimate: the pilot fit failed (the real one will say why)"
    return (time.perf_counter() - started) * scale, basis


def fit_signature(frame: pd.DataFrame, config: Config) -> str:
    """What decides how long a fit takes: the model, its params, the features and the row count."""
    text = json.dumps([config.model.model_dump(mode="json"), list(config.data.features), len(frame)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_metadata(result: TrainResult, config: Config, *, model_sha256: str, train_sha256: str, rows: int) -> dict:
    """What the model is, as a pure function of its inputs: rerunning the stage on the same
    code, params and data rewrites the same bytes, so a fresh clone's `dvc repro` leaves
    dvc.lock untouched. When and where it ran goes to the run record instead."""
    return {
        "model": {"version": model_version(model_sha256), "sha256": model_sha256, "family": config.model.family},
        "task": config.data.task,
        "data": {"train_sha256": train_sha256, "train_rows": rows},
        "target": target_summary(result.target, config.data, result.classes),
        "params": config.model_dump(mode="json", include=set(MODEL_PARAMS)),
        "train_metrics": result.metrics,
        "versions": library_versions(),
        "schema": result.schema.model_dump(mode="json"),
    }


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__).parse_args(argv)

    def work() -> None:
        from mlops import tracking  # MLflow is slow to import; only this stage's run needs it

        config = load_config(args.params)
        tracking.check_server()
        frame = read_frame(config.paths.train, config.data)
        what = f"fitting {config.model.family} on {len(frame):,} rows x {len(config.data.features)} features"
        previous = _read_json(config.paths.run)
        expected, basis = estimate_seconds(frame, config, previous)
        started = time.perf_counter()
        with progress.heartbeat(log, what, expected or None, basis):
            result = train(frame, config)
        fit_seconds = time.perf_counter() - started
        log.info("train metrics: %s", ", ".join(f"{name} {shown(value)}" for name, value in result.metrics.items()))

        with artifacts.atomic_path(config.paths.model) as tmp_model:
            joblib.dump(result.pipeline, tmp_model)
            metadata = build_metadata(
                result,
                config,
                model_sha256=artifacts.sha256_file(tmp_model),
                train_sha256=artifacts.sha256_file(config.paths.train),
                rows=len(frame),
            )
            run = {
                "model_version": metadata["model"]["version"],
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "git_commit": git_commit(),
                "fit": {"seconds": round(fit_seconds, 2), "signature": fit_signature(frame, config)},
            }
            with progress.heartbeat(log, "logging the run and the model to MLflow"):
                run["mlflow"] = tracking.log_training(
                    experiment=config.mlflow.experiment,
                    pipeline=result.pipeline,
                    sample=frame[list(config.data.features)].head(200),
                    params=metadata["params"],
                    metrics={f"train_{name}": value for name, value in result.metrics.items()},
                    tags={
                        "git_commit": run["git_commit"],
                        "data_sha256": metadata["data"]["train_sha256"],
                        "model_version": metadata["model"]["version"],
                        "task": config.data.task,
                    },
                )
            artifacts.write_json(config.paths.metadata, metadata)
            artifacts.write_json(config.paths.reference, result.reference)
            artifacts.write_json(config.paths.run, run)
        log.info("saved model %s to %s", metadata["model"]["version"], config.paths.model)

    return cli.run("train", work)


def _read_json(path) -> dict | None:
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


if __name__ == "__main__":
    raise SystemExit(main())
