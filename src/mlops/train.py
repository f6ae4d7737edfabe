"""Stage `train`: fit the feature pipeline and model; save it with its metadata; log to MLflow."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import joblib
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops import artifacts, cli
from mlops.bundle import model_version
from mlops.config import Config, load_config
from mlops.drift import build_reference
from mlops.features import build_pipeline
from mlops.metrics import regression_metrics
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


def target_summary(target: pd.Series) -> dict:
    """The training target's range and deciles (serving buckets its prediction histogram on them)."""
    deciles = target.quantile([i / 10 for i in range(1, 10)]).round(2).tolist()
    return {"name": target.name, "min": float(target.min()), "max": float(target.max()), "deciles": deciles}


def train(frame: pd.DataFrame, config: Config) -> TrainResult:
    """Fit the pipeline on the training frame; derive the feature schema from the same rows."""
    features = frame[list(config.data.features)]
    target = frame[config.data.target]
    schema = FeatureSchema.from_frame(features, config.data)
    pipeline = build_pipeline(config).fit(features, target)
    predictions = pipeline.predict(features)
    return TrainResult(
        pipeline=pipeline,
        schema=schema,
        metrics=regression_metrics(target, predictions),
        target=target,
        reference=build_reference(features, predictions, schema, config.monitor),
    )


def build_metadata(result: TrainResult, config: Config, *, model_sha256: str, train_sha256: str, rows: int) -> dict:
    """What the model is, as a pure function of its inputs: rerunning the stage on the same
    code, params and data rewrites the same bytes, so a fresh clone's `dvc repro` leaves
    dvc.lock untouched. When and where it ran goes to the run record instead."""
    return {
        "model": {"version": model_version(model_sha256), "sha256": model_sha256, "family": config.model.family},
        "data": {"train_sha256": train_sha256, "train_rows": rows},
        "target": target_summary(result.target),
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
        log.info(
            "fitting %s on %s rows x %s features ...", config.model.family, f"{len(frame):,}", len(config.data.features)
        )
        started = time.perf_counter()
        result = train(frame, config)
        log.info("fitted in %.1f s; train rmse %s", time.perf_counter() - started, f"{result.metrics['rmse']:,.0f}")

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
            }
            log.info("logging the run to MLflow ...")
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
                },
            )
            artifacts.write_json(config.paths.metadata, metadata)
            artifacts.write_json(config.paths.reference, result.reference)
            artifacts.write_json(config.paths.run, run)
        log.info("saved model %s to %s", metadata["model"]["version"], config.paths.model)

    return cli.run("train", work)


if __name__ == "__main__":
    raise SystemExit(main())
