import json
import time

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops import metrics, model_output, prepare, train
from mlops.artifacts import sha256_file
from mlops.config import parse_config
from mlops.metrics import Scored, regression_metrics

from conftest import params_in


def test_the_model_beats_a_trivial_one(trained):
    """Better than always predicting the training mean (regression) or majority class (classification)."""
    config, result, train_frame, test_frame = trained
    target, actual = train_frame[config.data.target], test_frame[config.data.target]
    output = model_output.predict(result.pipeline, test_frame[list(config.data.features)], config.data.task)
    if config.data.is_classification:
        assert set(output.values) <= set(target)
        assert (output.values == actual.to_numpy()).mean() >= (actual == target.mode()[0]).mean()
    else:
        assert np.isfinite(output.values).all()
        baseline = regression_metrics(actual, np.full(len(actual), target.mean()))
        assert regression_metrics(actual, output.values)["rmse"] < baseline["rmse"]


def test_train_metrics_are_measured_on_the_training_rows(trained):
    config, result, train_frame, _ = trained
    output = model_output.predict(result.pipeline, train_frame[list(config.data.features)], config.data.task)
    scored = Scored(train_frame[config.data.target].to_numpy(), output.values, output.probabilities, output.classes)
    assert result.metrics == metrics.compute(config.data.task, scored)
    assert config.gate.metric in result.metrics


def test_a_classifier_saves_its_classes_and_profiles_predicted_labels(served_scenario):
    config, result, _, _ = served_scenario("multiclass")
    metadata = json.loads(config.paths.metadata.read_text())
    labels = sorted(pd.read_csv(config.paths.raw)[config.data.target].unique())
    assert metadata["task"] == "classification"
    assert metadata["target"]["classes"] == labels == result.classes
    assert sum(metadata["target"]["shares"]) == pytest.approx(1.0, abs=1e-5)
    profile = result.reference["features"]["prediction"]
    assert profile["type"] == "categorical"
    assert profile["categories"] == [str(label) for label in labels]


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
    assert len(model_output.predict(pipeline, test[list(config.data.features)], config.data.task).values) == len(test)
    assert metadata["task"] == config.data.task

    record = json.loads(config.paths.run.read_text())
    assert record["model_version"] == metadata["model"]["version"]
    run = mlflow.get_run(record["mlflow"]["run_id"])
    assert run.data.params["model.family"] == config.model.family
    gated = config.gate.metric
    assert run.data.metrics[f"train_{gated}"] == metadata["train_metrics"][gated]
    assert run.data.tags["task"] == config.data.task
    assert run.data.tags["data_sha256"] == metadata["data"]["train_sha256"]
    assert run.data.tags["model_version"] == metadata["model"]["version"]
    logged = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    sample = test[list(config.data.features)].head(5)
    np.testing.assert_array_equal(logged.predict(sample), pipeline.predict(sample))
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


def test_progress_says_what_to_expect_and_keeps_talking(params_file, workdir, monkeypatch, capsys):
    assert prepare.main(["--params", str(params_file)]) == 0
    monkeypatch.setenv("MLOPS_PROGRESS_SECONDS", "0.05")
    fit = train.train

    def slow_train(frame, config):
        time.sleep(0.3)  # long enough for a few progress lines
        return fit(frame, config)

    monkeypatch.setattr(train, "train", slow_train)
    assert train.main(["--params", str(params_file)]) == 0
    err = capsys.readouterr().err
    assert "(expected: about " in err
    assert "from a pilot fit" in err
    assert " elapsed" in err
    assert ": done in " in err
    # The second run of the same model on the same rows expects what the first took.
    assert train.main(["--params", str(params_file)]) == 0
    assert "as the last run of this model on these rows" in capsys.readouterr().err
