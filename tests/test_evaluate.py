import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops import evaluate, prepare, train
from mlops.config import parse_config
from mlops.metrics import regression_metrics

from conftest import params_in, write_params

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_evaluation_scores_the_test_rows(trained):
    config, result, _, test = trained
    evaluation = evaluate.evaluate(result.pipeline, test, config)
    predicted = result.pipeline.predict(test[list(config.data.features)])
    assert evaluation.metrics == regression_metrics(test[config.data.target], predicted)
    np.testing.assert_allclose(evaluation.predictions["residual"], predicted - test[config.data.target].to_numpy())
    assert list(evaluation.importance["feature"].sort_values()) == sorted(config.data.features)
    assert evaluation.importance["importance"].is_monotonic_decreasing
    # median_income is the strongest predictor of house value in this data.
    assert evaluation.importance["feature"].iloc[0] == "median_income"


def test_plot_data_is_a_seeded_sample(trained, tmp_path):
    _, result, _, test = trained
    small = parse_config(params_in(tmp_path, evaluate={"permutation_repeats": 1, "plot_points": 20, "seed": 3}))
    evaluation = evaluate.evaluate(result.pipeline, test, small)
    first, second = evaluate.plot_data(evaluation, small), evaluate.plot_data(evaluation, small)
    assert len(first) == 20
    pd.testing.assert_frame_equal(first, second)


def test_figures_are_pngs(trained, tmp_path):
    config, result, _, test = trained
    evaluation = evaluate.evaluate(result.pipeline, test, config)
    paths = evaluate.draw_figures(evaluation, tmp_path / "figures", config.data.target)
    assert [p.name for p in paths] == ["predicted_vs_actual.png", "residuals.png", "importance.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_main_writes_metrics_plots_and_logs_to_the_training_run(params_file, workdir):
    for stage in (prepare, train, evaluate):
        assert stage.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    metrics = json.loads(config.paths.metrics.read_text())
    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert pd.read_csv(config.paths.predictions).columns.tolist() == ["actual", "predicted", "residual"]
    assert sorted(p.name for p in config.paths.figures.iterdir()) == [
        "importance.png",
        "predicted_vs_actual.png",
        "residuals.png",
    ]
    run_id = json.loads(config.paths.run.read_text())["mlflow"]["run_id"]
    run = mlflow.get_run(run_id)
    assert run.data.metrics["test_rmse"] == pytest.approx(metrics["rmse"])
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "figures")]
    assert "figures/residuals.png" in artifacts


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
