import json

import numpy as np
import pytest

from mlops.api import create_app
from mlops.api.predictor import Predictor
from mlops.bundle import BundleError, ModelBundle
from mlops.config import CLASSIFICATION, REGRESSION
from mlops.model_output import classes_of

from conftest import CLASSIFICATION_SCENARIOS, api_settings
from test_predict import app_of, model_for


def test_health_and_ready(client, served):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json()["model_version"] == json.loads(served[0].paths.metadata.read_text())["model"]["version"]


def test_metadata_names_commit_model_data_metrics_and_run(client, served):
    cfg = served[0]
    metadata = client.get("/metadata").get_json()
    saved = json.loads(cfg.paths.metadata.read_text())
    assert metadata["commit"] == api_settings(served).commit
    assert metadata["build_time"] == "2026-11-26T00:00:00Z"
    assert metadata["model"]["sha256"] == saved["model"]["sha256"]
    assert metadata["model"]["trained_at"] == json.loads(cfg.paths.run.read_text())["trained_at"]
    assert metadata["task"] == cfg.data.task
    assert metadata["target"] == saved["target"]
    assert metadata["data"] == saved["data"]
    assert metadata["params"] == saved["params"]
    assert metadata["metrics"] == json.loads(cfg.paths.metrics.read_text())
    assert metadata["mlflow"] == {"run_id": "r1"}
    assert metadata["schema"] == saved["schema"]


@pytest.mark.parametrize("kind", CLASSIFICATION_SCENARIOS)
def test_a_classifier_is_ready_and_its_metadata_names_the_classes(served, served_scenario, kind):
    model = model_for(kind, served, served_scenario)
    client = app_of(model).test_client()
    assert client.get("/ready").get_json()["status"] == "ready"
    metadata = client.get("/metadata").get_json()
    assert metadata["task"] == CLASSIFICATION
    # The model's own labels, in its order and of its type (text stays text, 1 stays 1).
    assert json.dumps(metadata["target"]["classes"]) == json.dumps(classes_of(model[1].pipeline))


def test_a_regressor_metadata_names_its_task_and_no_classes(served, served_scenario):
    metadata = app_of(model_for(REGRESSION, served, served_scenario)).test_client().get("/metadata").get_json()
    assert metadata["task"] == REGRESSION
    assert "classes" not in metadata["target"]
    assert metadata["target"]["min"] <= metadata["target"]["max"]


def test_metadata_without_metrics_or_run_record(served, tmp_path):
    settings = api_settings(served, metrics=tmp_path / "absent.json", run=tmp_path / "absent-run.json")
    metadata = create_app(settings).test_client().get("/metadata").get_json()
    assert metadata["metrics"] is None
    assert metadata["mlflow"] is None


class Broken:
    """A model that cannot predict (stands in for a bundle whose pipeline is incompatible)."""

    def predict(self, frame):
        raise ValueError("columns do not match")

    predict_proba = predict  # what a classifier's self-check calls


def test_not_ready_when_the_self_check_fails(client, served):
    state = client.application.extensions["mlops"]
    bundle = state.predictor.bundle
    broken = Predictor(ModelBundle(Broken(), bundle.metadata, bundle.schema), state.settings.serve.batching)
    assert not broken.ready
    object.__setattr__(state, "predictor", broken)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "not_ready",
        "reason": "self-check prediction failed: ValueError: columns do not match",
    }
    assert client.get("/health").status_code == 200
    predict = client.post("/predict", json=bundle.schema.example_record())
    assert predict.status_code == 503
    assert predict.get_json()["error"]["code"] == "not_ready"


def test_self_check_refuses_a_non_finite_prediction(served, served_scenario):
    class NaNModel:
        def predict(self, frame):
            return np.array([np.nan])

    model = model_for(REGRESSION, served, served_scenario)
    bundle = app_of(model).extensions["mlops"].predictor.bundle
    predictor = Predictor(ModelBundle(NaNModel(), bundle.metadata, bundle.schema), model[0].serve.batching)
    assert not predictor.ready
    assert "not a finite number" in predictor.not_ready_reason


class Probabilities:
    """A classifier that answers `rows` (a function of the number of classes) for any input."""

    def __init__(self, rows):
        self.rows = rows

    def predict_proba(self, frame):
        return np.asarray(self.rows)


# What a classifier's self-check refuses, as a function of its number of classes.
BAD_PROBABILITIES = [
    pytest.param(lambda n: [[1 / (n + 1)] * (n + 1)], "do not match the {n} classes", id="a-column-too-many"),
    pytest.param(lambda n: [[1 / n] * n] * 2, "do not match the {n} classes", id="two-rows-for-one"),
    pytest.param(lambda n: [[np.nan] * n], "not all finite numbers", id="not-a-number"),
    pytest.param(lambda n: [[0.9] * n], "sum to", id="not-summing-to-one"),
]


@pytest.mark.parametrize("kind", CLASSIFICATION_SCENARIOS)
@pytest.mark.parametrize(("rows", "reason"), BAD_PROBABILITIES)
def test_a_classifier_self_check_refuses_bad_probabilities(served, served_scenario, kind, rows, reason):
    model = model_for(kind, served, served_scenario)
    bundle = app_of(model).extensions["mlops"].predictor.bundle
    n = len(bundle.classes)
    predictor = Predictor(ModelBundle(Probabilities(rows(n)), bundle.metadata, bundle.schema), model[0].serve.batching)
    assert not predictor.ready
    assert reason.format(n=n) in predictor.not_ready_reason


def test_a_tampered_model_stops_the_app_from_starting(served, tmp_path):
    cfg = served[0]
    tampered = tmp_path / "model.joblib"
    tampered.write_bytes(cfg.paths.model.read_bytes() + b"!")
    with pytest.raises(BundleError, match="integrity check failed"):
        create_app(api_settings(served, model=tampered))


def test_settings_from_the_environment(served):
    from mlops.api.settings import ApiSettings

    directory = served[3]
    env = {
        "PARAMS_FILE": str(directory / "params.yaml"),
        "GIT_COMMIT": "deadbeef",
        "BUILD_TIME": "2026-11-26T12:00:00Z",
        "API_KEY": "s3cret-api-key",
        "PREDICTION_LOG_FILE": "/tmp/p.jsonl",
        "PREDICTION_LOG_STDOUT": "0",
    }
    settings = ApiSettings.from_environment(env)
    assert settings.model == served[0].paths.model
    assert (settings.commit, settings.build_time, settings.api_key) == (
        "deadbeef",
        "2026-11-26T12:00:00Z",
        "s3cret-api-key",
    )
    assert str(settings.prediction_log_file) == "/tmp/p.jsonl"
    assert settings.prediction_log_stdout is False
    assert "s3cret-api-key" not in repr(settings)
    defaults = ApiSettings.from_environment({"PARAMS_FILE": str(directory / "params.yaml")})
    assert defaults.api_key is None
    assert defaults.prediction_log_file is None
    assert defaults.commit  # from git, or "unknown"
