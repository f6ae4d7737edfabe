"""Stage `evaluate`: test-split metrics (overall, per slice, and of two baselines), every test row's
prediction for the PR report, plot data for `dvc plots`, and PNG figures for reviews."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sklearn.inspection import permutation_importance

from mlops import artifacts, baselines, cli, fast_path, metrics, model_output, plotting, progress, slices
from mlops.bundle import BundleError, load_bundle, read_run_record
from mlops.config import Config, load_config
from mlops.metrics import Scored
from mlops.model_output import probability_column
from mlops.prepare import read_frame
from mlops.raw_data import DataValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    # One row per test row: actual, predicted, then residual (regression) or each class's probability.
    predictions: pd.DataFrame
    importance: pd.DataFrame  # feature, importance, std: how much worse `scored_on` gets when the feature is shuffled
    scored_on: str  # the metric permutation importance uses (gate.metric)
    classes: list | None = None
    # {column: {slice label: {"rows": n, metric: value}}} (mlops.slices), and each row's labels
    slices: dict[str, dict[str, dict]] = field(default_factory=dict)
    slice_labels: dict[str, pd.Series] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # {baseline: {metric: value}}

    def document(self) -> dict:
        """metrics.json: the model's metrics, then its baselines' and its slices' (nested)."""
        return {**self.metrics, "baselines": self.baselines, "slices": self.slices}

    def scores(self) -> pd.DataFrame:
        """Every test row: actual, predicted, residual or probabilities, and its slice per slicing column."""
        labels = {slices.PREFIX + column: values.astype(str).to_numpy() for column, values in self.slice_labels.items()}
        return self.predictions.assign(**labels)


def check_test_classes(actual: pd.Series, classes: list) -> None:
    unseen = sorted(set(actual) - set(classes), key=str)
    if unseen:
        shown = ", ".join(f"{label!r} ({int((actual == label).sum())} row(s))" for label in unseen)
        raise DataValidationError(
            f"column {actual.name!r} (the target): class(es) {shown} in the test split were never seen in training "
            f"(the model knows {', '.join(repr(c) for c in classes)}); rerun prepare (dvc repro)"
        )


def evaluate(pipeline, frame: pd.DataFrame, config: Config, train: pd.DataFrame | None = None) -> Evaluation:
    """Score the pipeline on the test frame, per slice too, and measure permutation importance of each
    input; with the training frame, also fit and score the baselines."""
    task = config.data.task
    features = frame[list(config.data.features)]
    actual = frame[config.data.target]
    output = model_output.predict(pipeline, features, task)
    predictions = pd.DataFrame({"actual": actual.to_numpy(), "predicted": output.values})
    if output.classes is None:
        predictions["residual"] = predictions["predicted"] - predictions["actual"]
    else:
        check_test_classes(actual, output.classes)
        for index, label in enumerate(output.classes):
            predictions[probability_column(label)] = output.probabilities[:, index]
    scored = Scored(actual.to_numpy(), output.values, output.probabilities, output.classes)
    metric = metrics.METRICS[config.gate.metric]
    with warnings.catch_warnings():  # shuffled columns can leave a class unpredicted: the score stands
        warnings.simplefilter("ignore", UserWarning)
        result = permutation_importance(
            pipeline,
            features,
            actual,
            scoring=metric.scorer_for(len(output.classes or [])),
            n_repeats=config.evaluate.permutation_repeats,
            random_state=config.evaluate.seed,
        )
    importance = pd.DataFrame(
        {"feature": features.columns, "importance": result.importances_mean, "std": result.importances_std}
    ).sort_values("importance", ascending=False, ignore_index=True)
    labels = slices.label_rows(frame, config)
    return Evaluation(
        metrics=metrics.compute(task, scored),
        predictions=predictions,
        importance=importance,
        scored_on=metric.name,
        classes=output.classes,
        slices=slices.slice_metrics(task, scored, labels),
        slice_labels=labels,
        baselines={} if train is None else baselines.score_baselines(train, frame, config),
    )


def plot_data(evaluation: Evaluation, config: Config) -> pd.DataFrame:
    """A seeded sample of the predictions: enough points to see the shape, small enough to diff."""
    predictions = evaluation.predictions
    if len(predictions) > config.evaluate.plot_points:
        predictions = predictions.sample(config.evaluate.plot_points, random_state=config.evaluate.seed)
    return predictions.sort_index().round(4 if evaluation.classes is not None else 2)


def draw_figures(evaluation: Evaluation, directory: Path, target: str, unit: str | None = None) -> list[Path]:
    """The task's figures as PNGs (MLflow keeps them with the run): regression, predicted-vs-actual and
    residuals; classification, the confusion matrix, calibration, and ROC and precision-recall
    curves (binary); both, permutation importance."""
    plt = plotting.pyplot()
    directory.mkdir(parents=True, exist_ok=True)
    if evaluation.classes is None:
        paths = _regression_figures(plt, evaluation, directory, target, unit)
    else:
        paths = _classification_figures(plt, evaluation, directory, target)
    importance = evaluation.importance
    fig, ax = plt.subplots(figsize=(plotting.WIDTH_INCHES, 0.3 * len(importance) + 1.2))
    ordered = importance.iloc[::-1]
    ax.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"], color=plotting.PR_COLOUR)
    ax.set(xlabel=f"{evaluation.scored_on} worsening when shuffled", title="Permutation importance (test split)")
    plotting.readable(ax, which="x")
    paths.append(plotting.save(fig, directory / "importance.png"))
    plt.close("all")
    return paths


def _regression_figures(plt, evaluation: Evaluation, directory: Path, target: str, unit: str | None) -> list[Path]:
    predictions = evaluation.predictions
    fig, ax = plt.subplots(figsize=(plotting.WIDTH_INCHES, 6))
    ax.scatter(predictions["actual"], predictions["predicted"], s=4, alpha=0.3, color=plotting.PR_COLOUR)
    low = min(predictions["actual"].min(), predictions["predicted"].min())
    high = max(predictions["actual"].max(), predictions["predicted"].max())
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="perfect prediction")
    ax.set(
        xlabel=plotting.with_unit(f"actual {target}", unit),
        ylabel=plotting.with_unit(f"predicted {target}", unit),
        title=f"Predicted vs actual (RMSE {metrics.shown(evaluation.metrics['rmse'])})",
    )
    ax.legend(loc="upper left")
    plotting.readable(ax)
    paths = [plotting.save(fig, directory / "predicted_vs_actual.png")]

    fig, (left, right) = plt.subplots(1, 2, figsize=(plotting.WIDTH_INCHES, 3.6))
    left.scatter(predictions["predicted"], predictions["residual"], s=4, alpha=0.3, color=plotting.PR_COLOUR)
    left.axhline(0, color="black", linewidth=1)
    left.set(xlabel=plotting.with_unit("predicted", unit), ylabel="residual (predicted - actual)", title="Residuals")
    right.hist(predictions["residual"], bins=60, color=plotting.PR_COLOUR)
    right.set(xlabel=plotting.with_unit("residual", unit), ylabel="test rows", title="Residual distribution")
    for ax in (left, right):
        plotting.readable(ax, ticks=4)
    paths.append(plotting.save(fig, directory / "residuals.png"))
    return paths


def _classification_figures(plt, evaluation: Evaluation, directory: Path, target: str) -> list[Path]:
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    predictions, classes = evaluation.predictions, evaluation.classes
    actual, predicted = predictions["actual"].to_numpy(), predictions["predicted"].to_numpy()
    names = [str(label) for label in classes]
    size = min(plotting.WIDTH_INCHES - 1, 3 + 0.5 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ConfusionMatrixDisplay.from_predictions(
        actual,
        predicted,
        labels=classes,
        display_labels=names,
        normalize="true",
        values_format=".0%",
        ax=ax,
        colorbar=False,
        xticks_rotation=45 if len(classes) > 4 else "horizontal",
    )
    ax.set(
        title=f"Confusion matrix: share of each true {target}", xlabel=f"predicted {target}", ylabel=f"actual {target}"
    )
    paths = [plotting.save(fig, directory / "confusion_matrix.png")]

    probabilities = predictions[[probability_column(label) for label in classes]].to_numpy()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if len(classes) == 2:
        positive = classes[1]
        CalibrationDisplay.from_predictions(
            actual == positive, probabilities[:, 1], n_bins=10, ax=ax, name=str(positive)
        )
        ax.set(title=f"Calibration: P({target} = {positive})")
    else:  # top-label calibration: is the model as often right as it is confident?
        CalibrationDisplay.from_predictions(
            actual == predicted, probabilities.max(axis=1), n_bins=10, ax=ax, name="most probable class"
        )
        ax.set(title="Calibration of the most probable class", xlabel="predicted probability", ylabel="share correct")
    paths.append(plotting.save(fig, directory / "calibration.png"))

    if len(classes) == 2 and len(set(actual)) == 2:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        RocCurveDisplay.from_predictions(
            actual, probabilities[:, 1], pos_label=classes[1], ax=ax, plot_chance_level=True
        )
        ax.set(title=f"ROC curve ({target} = {classes[1]})")
        paths.append(plotting.save(fig, directory / "roc.png"))
        fig, ax = plt.subplots(figsize=(5.5, 5))
        PrecisionRecallDisplay.from_predictions(
            actual, probabilities[:, 1], pos_label=classes[1], ax=ax, plot_chance_level=True
        )
        ax.set(title=f"Precision-recall ({target} = {classes[1]})")
        paths.append(plotting.save(fig, directory / "precision_recall.png"))
    return paths


def summary(document: dict, gate_metric: str) -> str:
    """metrics.json for a terminal: the model beside its baselines, then the gated metric per slice
    (`dvc metrics show` puts every nested value in one very wide row)."""
    baselines = document.get("baselines") or {}
    names = [name for name, value in document.items() if isinstance(value, int | float)]
    width = max([len(name) for name in names] + [len("metric")])
    lines = ["  ".join([f"{'metric':<{width}}", f"{'model':>12}", *(f"{name:>12}" for name in baselines)])]
    for name in names:
        cells = [metrics.shown(document[name]), *(_shown_or_dash(values.get(name)) for values in baselines.values())]
        lines.append("  ".join([f"{name:<{width}}", *(f"{cell:>12}" for cell in cells)]))
    rows = [
        (f"{column} = {label}", values)
        for column, labelled in (document.get("slices") or {}).items()
        for label, values in labelled.items()
    ]
    if rows:
        width = max(len(name) for name, _ in rows)
        lines += ["", "  ".join([f"{'slice':<{width}}", f"{'rows':>8}", f"{gate_metric:>12}"])]
        for name, values in rows:
            count = f"{values.get('rows', 0):,}"
            lines.append(
                "  ".join([f"{name:<{width}}", f"{count:>8}", f"{_shown_or_dash(values.get(gate_metric)):>12}"])
            )
    return "\n".join(lines)


def _shown_or_dash(value) -> str:
    return metrics.shown(value) if isinstance(value, int | float) else "-"


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--show", action="store_true", help="print the last evaluation (metrics.json) and exit")
    args = parser.parse_args(argv)

    def show() -> None:
        config = load_config(args.params)
        try:
            document = json.loads(config.paths.metrics.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise cli.StageError(f"no readable {config.paths.metrics}: run `make pipeline` first") from None
        print(f"test split ({config.paths.metrics}):")
        print(summary(document, config.gate.metric))

    def work() -> None:
        from mlops import tracking  # MLflow is slow to import; only this stage's run needs it

        config = load_config(args.params)
        tracking.check_server()
        try:
            bundle = load_bundle(config.paths.model, config.paths.metadata)
        except BundleError as error:
            raise cli.StageError(str(error)) from None
        frame = read_frame(config.paths.test, config.data)
        train_frame = read_frame(config.paths.train, config.data)  # the baselines are fitted on it
        # Permutation importance predicts the test split once per feature and repeat: time one pass.
        started = time.perf_counter()
        model_output.predict(bundle.pipeline, frame[list(config.data.features)], config.data.task)
        passes = 1 + len(config.data.features) * config.evaluate.permutation_repeats
        expected = (time.perf_counter() - started) * passes
        what = f"scoring model {bundle.version} on {len(frame):,} test rows, with permutation importance"
        with progress.heartbeat(log, what, expected, f"{passes} passes over the test split"):
            evaluation = evaluate(bundle.pipeline, frame, config, train_frame)

        figures_dir = Path(config.paths.figures)
        with tempfile.TemporaryDirectory(dir=figures_dir.parent if figures_dir.parent.exists() else None) as scratch:
            unit = config.data.columns[config.data.target].unit
            drawn = draw_figures(evaluation, Path(scratch) / "figures", config.data.target, unit)
            run = read_run_record(config.paths.run, bundle.version) or {}
            run_id = (run.get("mlflow") or {}).get("run_id")
            if run_id:
                tracking.log_evaluation(run_id, config.mlflow.experiment, evaluation.document(), drawn)
            else:
                log.info("no MLflow run recorded for model %s here; test metrics not logged", bundle.version)
            with artifacts.atomic_path(config.paths.predictions) as tmp:
                plot_data(evaluation, config).to_csv(tmp, index=False)
            with artifacts.atomic_path(config.paths.scores) as tmp:
                evaluation.scores().to_csv(tmp, index=False)
            with artifacts.atomic_path(config.paths.importance) as tmp:
                evaluation.importance.round(2).to_csv(tmp, index=False)
            shutil.rmtree(figures_dir, ignore_errors=True)
            figures_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(scratch) / "figures"), figures_dir)
        artifacts.write_json(config.paths.metrics, evaluation.document())
        fast_path.save_parity(bundle.pipeline, frame, config, bundle.version)  # the API's startup check
        width = max(map(len, evaluation.metrics), default=0)
        for name, value in evaluation.metrics.items():
            against = ", ".join(
                f"{baseline} {metrics.shown(scores[name])}"
                for baseline, scores in evaluation.baselines.items()
                if name in scores
            )
            log.info(
                "  test %-*s %s%s", width, name, metrics.shown(value), f"  (baselines: {against})" if against else ""
            )

    return cli.run("evaluate", show if args.show else work)


if __name__ == "__main__":
    raise SystemExit(main())
