import json

import joblib
import mlflow
import numpy as np
import pandas as pd

from mlops import prepare, train
from mlops.artifacts import sha256_file
from mlops.config import parse_config
from mlops.metrics import regression_metrics

from conftest import params_in


def test_model_predictions_are_sane(trained):
    config, result, train_frame, test_frame = trained
    predictions = result.pipeline.predict(test_frame[list(config.data.features)])
    target = train_frame[config.data.target]
    assert np.isfinite(predictions).all()
    assert (predictions >= 0).all()
    assert predictions.max() <= 1.25 * target.max()
    # Better than always predicting the training mean, by a clear margin.
    baseline = regression_metrics(test_frame[config.data.target], np.full(len(test_frame), target.mean()))
    assert regression_metrics(test_frame[config.data.target], predictions)["rmse"] < 0.8 * baseline["rmse"]


def test_train_metrics_are_measured_on_the_training_rows(trained):
    config, result, train_frame, _ = trained
    predictions = result.pipeline.predict(train_frame[list(config.data.features)])
    assert result.metrics == regression_metrics(train_frame[config.data.target], predictions)


def test_main_saves_model_metadata_and_an_mlflow_run(params_file, workdir):
    assert prepare.main(["--params", str(params_file)]) == 0
    assert train.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    metadata = json.loads(config.paths.metadata.read_text())

    assert metadata["model"]["sha256"] == sha256_file(config.paths.model)
    assert metadata["model"]["version"] == metadata["model"]["sha256"][:12]
    assert metadata["data"]["train_sha256"] == sha256_file(config.paths.train)
    assert metadata["data"]["train_rows"] == len(pd.read_csv(config.paths.train))
    assert metadata["params"]["model"] == config.model.model_dump(mode="json")
    assert set(metadata["versions"]) >= {"python", "scikit-learn", "pandas", "numpy"}
    assert [f["name"] for f in metadata["schema"]["features"]] == list(config.data.features)

    pipeline = joblib.load(config.paths.model)
    test = prepare.read_frame(config.paths.test, config.data)
    assert np.isfinite(pipeline.predict(test[list(config.data.features)])).all()

    record = json.loads(config.paths.run.read_text())
    assert record["model_version"] == metadata["model"]["version"]
    run = mlflow.get_run(record["mlflow"]["run_id"])
    assert run.data.params["model.family"] == config.model.family
    assert run.data.metrics["train_rmse"] == metadata["train_metrics"]["rmse"]
    assert run.data.tags["data_sha256"] == metadata["data"]["train_sha256"]
    assert run.data.tags["model_version"] == metadata["model"]["version"]
    logged = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    sample = test[list(config.data.features)].head(5)
    np.testing.assert_allclose(logged.predict(sample), pipeline.predict(sample))
    model_info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    assert model_info.signature.inputs.input_names() == list(config.data.features)


def test_retraining_rewrites_identical_metadata_and_model(params_file, workdir):
    """Training is a pure function of code, params and data, so dvc.lock survives a rerun."""
    assert prepare.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    outputs = []
    for _ in range(2):
        assert train.main(["--params", str(params_file)]) == 0
        outputs.append(
            (config.paths.metadata.read_bytes(), config.paths.model.read_bytes(), config.paths.run.read_text())
        )
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1]
    assert outputs[0][2] != outputs[1][2]  # each run has its own record (time, MLflow run id)


def test_main_with_an_unreachable_tracking_server_fails_in_one_line(params_file, workdir, monkeypatch, capsys):
    assert prepare.main(["--params", str(params_file)]) == 0
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    assert train.main(["--params", str(params_file)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("[train] error: MLflow tracking server http://127.0.0.1:9 is unreachable")
    assert "Traceback" not in "\n".join(err)
    assert not [line for line in err if "fitting" in line]  # checked before any work
    config = parse_config(params_in(workdir))
    assert not config.paths.model.exists()
    assert not config.paths.metadata.exists()
    assert not config.paths.run.exists()
    assert list(config.paths.model.parent.glob("*")) == []
