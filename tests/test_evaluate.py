import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops import evaluate, metrics, model_output, prepare, slices, tracking, train
from mlops.config import parse_config
from mlops.metrics import Scored
from mlops.raw_data import DataValidationError

from conftest import params_in, write_params

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_evaluation_scores_the_test_rows(trained):
    config, result, _, test = trained
    evaluation = evaluate.evaluate(result.pipeline, test, config)
    output = model_output.predict(result.pipeline, test[list(config.data.features)], config.data.task)
    actual = test[config.data.target].to_numpy()
    scored = Scored(actual, output.values, output.probabilities, output.classes)
    assert evaluation.metrics == metrics.compute(config.data.task, scored)
    np.testing.assert_array_equal(evaluation.predictions["predicted"], output.values)
    if output.classes is None:
        np.testing.assert_allclose(evaluation.predictions["residual"], output.values - actual)
    assert evaluation.scored_on == config.gate.metric
    assert list(evaluation.importance["feature"].sort_values()) == sorted(config.data.features)
    assert evaluation.importance["importance"].is_monotonic_decreasing
    # Every row, with its slice per slicing column; the slices' metrics; no baselines without a training split.
    scores = evaluation.scores()
    assert len(scores) == len(test)
    columns = slices.slicing_columns(config)
    assert [name for name in scores.columns if name.startswith(slices.PREFIX)] == [slices.PREFIX + c for c in columns]
    assert list(evaluation.slices) == columns
    assert evaluation.baselines == {}


@pytest.mark.parametrize("scenario", ["multiclass", "binary"])
def test_a_classifier_is_scored_on_labels_and_probabilities(served_scenario, scenario):
    config, result, test, _ = served_scenario(scenario)
    evaluation = evaluate.evaluate(result.pipeline, test, config)
    assert set(evaluation.metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"}
    classes = result.classes
    probability_columns = [evaluate.probability_column(label) for label in classes]
    assert evaluation.predictions.columns.tolist() == ["actual", "predicted", *probability_columns]
    np.testing.assert_allclose(evaluation.predictions[probability_columns].sum(axis=1), 1.0)
    correct = (evaluation.predictions["actual"] == evaluation.predictions["predicted"]).mean()
    assert evaluation.metrics["accuracy"] == pytest.approx(correct)
    # Permutation importance is measured on the gated metric: shuffling the best feature must hurt it.
    assert evaluation.scored_on == config.gate.metric
    assert evaluation.importance["importance"].iloc[0] > 0


def test_a_test_label_the_model_never_saw_is_refused(served_scenario):
    config, result, test, _ = served_scenario("multiclass")
    test = test.copy()
    test.loc[test.index[0], config.data.target] = "never-seen"
    with pytest.raises(
        DataValidationError, match=r"class\(es\) 'never-seen' \(1 row\(s\)\) in the test split were never seen"
    ):
        evaluate.evaluate(result.pipeline, test, config)


def test_plot_data_is_a_seeded_sample(trained, tmp_path):
    _, result, _, test = trained
    small = parse_config(params_in(tmp_path, evaluate={"permutation_repeats": 1, "plot_points": 20, "seed": 3}))
    evaluation = evaluate.evaluate(result.pipeline, test, small)
    first, second = evaluate.plot_data(evaluation, small), evaluate.plot_data(evaluation, small)
    assert len(first) == 20
    pd.testing.assert_frame_equal(first, second)


FIGURES = {
    "regression": ["predicted_vs_actual.png", "residuals.png", "importance.png"],
    "multiclass": ["confusion_matrix.png", "calibration.png", "importance.png"],
    "binary": ["confusion_matrix.png", "calibration.png", "roc.png", "precision_recall.png", "importance.png"],
}


@pytest.mark.parametrize("scenario", list(FIGURES))
def test_each_task_draws_its_figures(served_scenario, tmp_path, scenario):
    config, result, test, _ = served_scenario(scenario)
    evaluation = evaluate.evaluate(result.pipeline, test, config)
    paths = evaluate.draw_figures(evaluation, tmp_path / "figures", config.data.target, "units")
    assert [p.name for p in paths] == FIGURES[scenario]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_main_writes_metrics_plots_and_logs_to_the_training_run(params_file, workdir, capsys):
    for stage in (prepare, train, evaluate):
        assert stage.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    document = json.loads(config.paths.metrics.read_text())
    scores = {name: value for name, value in document.items() if name not in ("baselines", "slices")}
    assert set(scores) <= set(metrics.names(config.data.task))
    assert config.gate.metric in scores
    assert set(document["baselines"]) == {"trivial", "linear"}
    assert list(document["slices"]) == slices.slicing_columns(config)
    assert pd.read_csv(config.paths.predictions).columns.tolist()[:2] == ["actual", "predicted"]
    rows = pd.read_csv(config.paths.scores)
    assert len(rows) == len(pd.read_csv(config.paths.test))
    figures = sorted(p.name for p in config.paths.figures.iterdir())
    assert "importance.png" in figures
    run_id = json.loads(config.paths.run.read_text())["mlflow"]["run_id"]
    run = mlflow.get_run(run_id)
    gated = config.gate.metric
    assert run.data.metrics[f"test_{gated}"] == pytest.approx(scores[gated])
    trivial = document["baselines"]["trivial"][gated]
    assert run.data.metrics[f"test_baseline.trivial.{gated}"] == pytest.approx(trivial)
    for column, by_label in document["slices"].items():  # slice names as MLflow takes them
        logged = {name for name in run.data.metrics if name.startswith(tracking.mlflow_name(f"test_slice.{column}."))}
        assert len(logged) == sum(len(values) for values in by_label.values())
    # `make pipeline` prints it readably: the model beside its baselines, the gated metric per slice.
    capsys.readouterr()
    assert evaluate.main(["--params", str(params_file), "--show"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[1].split() == ["metric", "model", "trivial", "linear"]
    row = next(line.split() for line in shown if line.startswith(f"{gated} "))
    assert row == [gated, metrics.shown(scores[gated])] + [
        metrics.shown(document["baselines"][b][gated]) for b in ("trivial", "linear")
    ]
    for column, by_label in document["slices"].items():
        label, values = next(iter(by_label.items()))
        assert any(line.startswith(f"{column} = {label} ") and f"{values['rows']:,}" in line for line in shown)
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "figures")]
    assert sorted(artifacts) == [f"figures/{name}" for name in figures]


def test_main_without_a_run_record_still_evaluates(params_file, workdir, capsys):
    for stage in (prepare, train):
        assert stage.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    config.paths.run.unlink()  # as when DVC restores the model from its cache
    assert evaluate.main(["--params", str(params_file)]) == 0
    assert "no MLflow run recorded for model" in capsys.readouterr().err
    assert config.paths.metrics.exists()


def test_main_refuses_a_tampered_model(params_file, workdir, capsys):
    for stage in (prepare, train):
        assert stage.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    with open(config.paths.model, "ab") as handle:
        handle.write(b"tampered")
    assert evaluate.main(["--params", str(params_file)]) == 1
    assert "integrity check failed" in capsys.readouterr().err
    assert not config.paths.metrics.exists()


def test_main_without_a_model(workdir, capsys):
    params = write_params(workdir, params_in(workdir))
    assert evaluate.main(["--params", str(params)]) == 1
    assert "model metadata not found; train the model first" in capsys.readouterr().err
    assert evaluate.main(["--params", str(params), "--show"]) == 1
    assert "metrics.json: run `make pipeline` first" in capsys.readouterr().err
