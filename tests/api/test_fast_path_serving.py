"""The API serves through the fast path when the bundle's parity rows confirm it, says so in
/metadata, answers what the Pipeline answers, and starts without scikit-learn for boosted trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlops.api import create_app
from mlops.fast_path import PARITY_TOLERANCE

from conftest import CLASSIFICATION_SCENARIOS, api_settings, expected_answer, records_of

HEAVY = ("sklearn", "scipy", "pandas", "joblib")


def _answers(client, records):
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _assert_same(served, body, records):
    expected = expected_answer(served, records)
    if expected.probabilities is None:
        np.testing.assert_allclose(body["predictions"], expected.values, rtol=PARITY_TOLERANCE, atol=0)
        return
    assert body["predictions"] == expected.values.tolist()
    for got, want in zip(body["probabilities"], expected.probabilities, strict=True):
        assert list(got) == [str(label) for label in expected.classes]
        np.testing.assert_allclose(list(got.values()), want, rtol=0, atol=PARITY_TOLERANCE)


@pytest.mark.parametrize("scenario", [None, "regression", *CLASSIFICATION_SCENARIOS])
def test_the_fast_path_serves_and_says_so(served, served_scenario, scenario):
    served = served_scenario(scenario) if scenario else served
    client = create_app(api_settings(served, prediction_log_stdout=False)).test_client()
    status = client.get("/metadata").get_json()["fast_path"]
    assert status["enabled"] is True, status
    assert status["startup_rows"] > 0
    records = records_of(served, 40)  # some requests of a few rows, one of many
    _assert_same(served, _answers(client, records[:3]), records[:3])
    _assert_same(served, _answers(client, records), records)


def test_without_its_files_the_api_serves_the_pipeline_and_says_why(served):
    settings = api_settings(served, prediction_log_stdout=False, parity=None, fast_path=None)
    client = create_app(settings).test_client()
    status = client.get("/metadata").get_json()["fast_path"]
    assert status["enabled"] is False
    assert "no parity rows" in status["reason"]
    records = records_of(served, 5)
    _assert_same(served, _answers(client, records), records)


def test_boosted_trees_serve_without_scikit_learn(served_scenario):
    """The demo's model family: startup, a prediction and /metadata import none of the heavy libraries."""
    *_, directory = served_scenario("regression")  # HistGradientBoostingRegressor
    script = (
        "import json, sys\n"
        "from mlops.api import create_app\n"
        "client = create_app().test_client()\n"
        "example = client.application.extensions['mlops'].predictor.schema.example_record()\n"
        "assert client.post('/predict', json=example).status_code == 200\n"
        "status = client.get('/metadata').get_json()['fast_path']\n"
        f"print(json.dumps({{'status': status, 'loaded': sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})}}))\n"
    )
    env = {**os.environ, "PARAMS_FILE": str(directory / "params.yaml"), "PREDICTION_LOG_STDOUT": "0", "GIT_COMMIT": "c"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=directory)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"]["enabled"] is True
    assert result["status"]["loads_pipeline"] is False
    assert result["loaded"] == []
