"""Stage `evaluate`: test-split metrics, plot data for `dvc plots`, and PNG figures for reviews."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.inspection import permutation_importance

from mlops import artifacts, cli
from mlops.bundle import BundleError, load_bundle, read_run_record
from mlops.config import Config, load_config
from mlops.metrics import regression_metrics
from mlops.prepare import read_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    predictions: pd.DataFrame  # actual, predicted, residual: one row per test row
    importance: pd.DataFrame  # feature, importance, std: RMSE increase when the feature is shuffled


def evaluate(pipeline, frame: pd.DataFrame, config: Config) -> Evaluation:
    """Score the pipeline on the test frame and measure permutation importance of each input."""
    features = frame[list(config.data.features)]
    actual = frame[config.data.target]
    predicted = pipeline.predict(features)
    predictions = pd.DataFrame({"actual": actual.to_numpy(), "predicted": predicted})
    predictions["residual"] = predictions["predicted"] - predictions["actual"]
    result = permutation_importance(
        pipeline,
        features,
        actual,
        scoring="neg_root_mean_squared_error",
        n_repeats=config.evaluate.permutation_repeats,
        random_state=config.evaluate.seed,
    )
    importance = pd.DataFrame(
        {"feature": features.columns, "importance": result.importances_mean, "std": result.importances_std}
    ).sort_values("importance", ascending=False, ignore_index=True)
    return Evaluation(metrics=regression_metrics(actual, predicted), predictions=predictions, importance=importance)


def plot_data(evaluation: Evaluation, config: Config) -> pd.DataFrame:
    """A seeded sample of the predictions: enough points to see the shape, small enough to diff."""
    predictions = evaluation.predictions
    if len(predictions) > config.evaluate.plot_points:
        predictions = predictions.sample(config.evaluate.plot_points, random_state=config.evaluate.seed)
    return predictions.sort_index().round(2)


def draw_figures(evaluation: Evaluation, directory: Path, target: str) -> list[Path]:
    """Predicted-vs-actual, residuals and importance as PNGs (the PR report embeds them)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    predictions, importance = evaluation.predictions, evaluation.importance
    paths = []

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(predictions["actual"], predictions["predicted"], s=4, alpha=0.3)
    low = min(predictions["actual"].min(), predictions["predicted"].min())
    high = max(predictions["actual"].max(), predictions["predicted"].max())
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="perfect prediction")
    ax.set(
        xlabel=f"actual {target}",
        ylabel=f"predicted {target}",
        title=f"Predicted vs actual (RMSE {evaluation.metrics['rmse']:,.0f})",
    )
    ax.legend(loc="upper left")
    paths.append(_save(fig, directory / "predicted_vs_actual.png"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(predictions["predicted"], predictions["residual"], s=4, alpha=0.3)
    left.axhline(0, color="black", linewidth=1)
    left.set(xlabel=f"predicted {target}", ylabel="residual (predicted - actual)", title="Residuals")
    right.hist(predictions["residual"], bins=60)
    right.set(xlabel="residual", ylabel="test rows", title="Residual distribution")
    paths.append(_save(fig, directory / "residuals.png"))

    fig, ax = plt.subplots(figsize=(6, 0.4 * len(importance) + 1.2))
    ordered = importance.iloc[::-1]
    ax.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"])
    ax.set(xlabel="RMSE increase when shuffled", title="Permutation importance (test split)")
    paths.append(_save(fig, directory / "importance.png"))
    plt.close("all")
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__).parse_args(argv)

    def work() -> None:
        from mlops import tracking  # MLflow is slow to import; only this stage's run needs it

        config = load_config(args.params)
        tracking.check_server()
        try:
            bundle = load_bundle(config.paths.model, config.paths.metadata)
        except BundleError as error:
            raise cli.StageError(str(error)) from None
        frame = read_frame(config.paths.test, config.data)
        log.info(
            "scoring model %s on %s test rows (with permutation importance) ...", bundle.version, f"{len(frame):,}"
        )
        evaluation = evaluate(bundle.pipeline, frame, config)

        figures_dir = Path(config.paths.figures)
        with tempfile.TemporaryDirectory(dir=figures_dir.parent if figures_dir.parent.exists() else None) as scratch:
            drawn = draw_figures(evaluation, Path(scratch) / "figures", config.data.target)
            run = read_run_record(config.paths.run, bundle.version) or {}
            run_id = (run.get("mlflow") or {}).get("run_id")
            if run_id:
                tracking.log_evaluation(run_id, config.mlflow.experiment, evaluation.metrics, drawn)
            else:
                log.info("no MLflow run recorded for model %s here; test metrics not logged", bundle.version)
            with artifacts.atomic_path(config.paths.predictions) as tmp:
                plot_data(evaluation, config).to_csv(tmp, index=False)
            with artifacts.atomic_path(config.paths.importance) as tmp:
                evaluation.importance.round(2).to_csv(tmp, index=False)
            shutil.rmtree(figures_dir, ignore_errors=True)
            figures_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(scratch) / "figures"), figures_dir)
        artifacts.write_json(config.paths.metrics, evaluation.metrics)
        for name, value in evaluation.metrics.items():
            log.info("  test %-4s %s", name, f"{value:,.4f}" if abs(value) < 10 else f"{value:,.0f}")

    return cli.run("evaluate", work)


if __name__ == "__main__":
    raise SystemExit(main())
