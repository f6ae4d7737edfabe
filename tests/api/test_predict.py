import json
import math

import numpy as np
import pytest

from mlops.api import create_app
from mlops.api.prediction_log import read_predictions

from conftest import api_settings


def records_of(served, n: int, start: int = 0) -> list[dict]:
    cfg, _, test_frame, _ = served
    rows = test_frame[list(cfg.data.features)].iloc[start : start + n]
    return json.loads(rows.to_json(orient="records"))


def in_process(served, records: list[dict]) -> np.ndarray:
    _, result, _, _ = served
    from mlops.schema import FeatureSchema

    frame = FeatureSchema.model_validate(result.schema.model_dump()).to_frame(records)
    return result.pipeline.predict(frame)


def test_one_record(client, served):
    record = records_of(served, 1)[0]
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    body = response.get_json()
    assert body["prediction"] == pytest.approx(in_process(served, [record])[0])
    assert body["model_version"] == json.loads(served[0].paths.metadata.read_text())["model"]["version"]
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_a_batch_returns_each_record_its_own_prediction(client, served):
    records = records_of(served, 25)
    body = client.post("/predict", json={"records": records}).get_json()
    np.testing.assert_allclose(body["predictions"], in_process(served, records))


def test_missing_nullable_field_is_predicted(client, served):
    record = records_of(served, 1)[0]
    record.pop("total_bedrooms")
    assert client.post("/predict", json=record).status_code == 200
    record["total_bedrooms"] = None
    assert client.post("/predict", json=record).status_code == 200


def test_request_id_is_echoed_when_safe(client, served):
    record = records_of(served, 1)[0]
    assert (
        client.post("/predict", json=record, headers={"X-Request-ID": "abc-123"}).get_json()["request_id"] == "abc-123"
    )
    unsafe = client.post("/predict", json=record, headers={"X-Request-ID": "<script>"}).get_json()["request_id"]
    assert unsafe != "<script>"
    assert len(unsafe) == 32


def _body(served, **changes):
    record = records_of(served, 1)[0]
    record.update(changes)
    return json.dumps(record)


BAD_RECORDS = [
    pytest.param({"median_income": "8.3"}, "median_income", "expected a finite number", id="string-for-number"),
    pytest.param({"median_income": True}, "median_income", "expected a finite number", id="bool-for-number"),
    pytest.param({"median_income": [1]}, "median_income", "expected a finite number", id="list-for-number"),
    pytest.param({"median_income": None}, "median_income", "expected a finite number", id="null-not-nullable"),
    pytest.param({"latitude": 1e300}, "latitude", "less than or equal to 90", id="huge-number"),
    pytest.param({"population": -5}, "population", "greater than or equal to 0", id="negative"),
    pytest.param({"ocean_proximity": "MARS"}, "ocean_proximity", "expected one of: '<1H OCEAN'", id="unknown-category"),
    pytest.param({"ocean_proximity": None}, "ocean_proximity", "not an allowed value", id="null-category"),
    pytest.param({"colour": "red"}, "colour", "unknown field", id="extra-field"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_RECORDS)
def test_invalid_record_is_a_400_naming_the_field(client, served, changes, field, message):
    response = client.post("/predict", data=_body(served, **changes), content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert [(d["record"], d["field"]) for d in error["details"]] == [(0, field)]
    assert message in error["details"][0]["message"]


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e999", "inf"), ("9" * 400, "999")],
)
def test_non_finite_and_overflowing_numbers_are_refused(client, served, literal, shown):
    record = json.loads(_body(served))
    text = json.dumps(record).replace(json.dumps(record["median_income"]), literal, 1)
    response = client.post("/predict", data=text, content_type="application/json")
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == "median_income"
    assert shown in detail["message"]


def test_missing_field(client, served):
    record = records_of(served, 1)[0]
    del record["latitude"]
    detail = client.post("/predict", json=record).get_json()["error"]["details"]
    assert detail == [{"record": 0, "field": "latitude", "message": "required field is missing"}]


def test_every_error_of_every_record_at_once(client, served):
    records = records_of(served, 3)
    records[0]["latitude"] = "north"
    records[0]["ocean_proximity"] = "MARS"
    records[2]["households"] = -1
    details = client.post("/predict", json={"records": records}).get_json()["error"]["details"]
    assert sorted((d["record"], d["field"]) for d in details) == [
        (0, "latitude"),
        (0, "ocean_proximity"),
        (2, "households"),
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        pytest.param("{not json", "application/json", 400, "malformed_json", id="malformed"),
        pytest.param("", "application/json", 400, "malformed_json", id="empty-body"),
        pytest.param("[1, 2]", "application/json", 400, "bad_request", id="array-body"),
        pytest.param('"text"', "application/json", 400, "bad_request", id="string-body"),
        pytest.param('{"records": []}', "application/json", 400, "bad_request", id="empty-batch"),
        pytest.param('{"records": {"a": 1}}', "application/json", 400, "bad_request", id="records-not-a-list"),
        pytest.param('{"records": [], "extra": 1}', "application/json", 400, "bad_request", id="batch-extra-key"),
        pytest.param("a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", id="form"),
        pytest.param("{}", "text/plain", 415, "unsupported_media_type", id="text"),
    ],
)
def test_malformed_requests(client, body, content_type, status, code):
    response = client.post("/predict", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["error"]["code"] == code


def test_batch_over_the_cap(client, served):
    cap = served[0].serve.max_records
    record = records_of(served, 1)[0]
    response = client.post("/predict", json={"records": [record] * (cap + 1)})
    assert response.status_code in (400, 413)
    assert response.is_json


def test_batch_at_the_cap_is_served(served):
    app = create_app(api_settings(served, prediction_log_stdout=False))
    cap = served[0].serve.max_records
    record = records_of(served, 1)[0]
    body = app.test_client().post("/predict", json={"records": [record] * cap}).get_json()
    assert len(body["predictions"]) == cap


def test_oversized_body_is_413(client):
    response = client.post("/predict", data="x" * (2 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/predict", 405), ("get", "/nope", 404), ("post", "/health", 405)]
)
def test_routing_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.get_json()["error"]["status"] == status
    if status == 405:
        assert "Allow" in response.headers


def test_unexpected_errors_are_json_500_without_a_trace(served, monkeypatch):
    app = create_app(api_settings(served, prediction_log_stdout=False))
    predictor = app.extensions["mlops"].predictor

    def explode(rows):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(predictor, "predict", explode)
    response = app.test_client().post("/predict", json=records_of(served, 1)[0])
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal_error"
    assert "boom" not in json.dumps(body)


def test_non_finite_model_output_is_reported(served, monkeypatch):
    app = create_app(api_settings(served, batching=False, prediction_log_stdout=False))
    predictor = app.extensions["mlops"].predictor
    monkeypatch.setattr(predictor, "predict_rows", lambda rows: np.array([math.nan] * len(rows)))
    response = app.test_client().post("/predict", json=records_of(served, 1)[0])
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "prediction_failed"


class TestApiKey:
    @pytest.fixture
    def secured(self, served):
        return create_app(api_settings(served, api_key="s3cret-key", prediction_log_stdout=False)).test_client()

    @pytest.mark.parametrize(
        "headers",
        [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cret"}, {"Authorization": "Basic czNjcmV0LWtleQ=="}],
    )
    def test_predict_refuses_without_the_key(self, secured, served, headers):
        response = secured.post("/predict", json=records_of(served, 1)[0], headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "s3cret" not in response.get_data(as_text=True)

    @pytest.mark.parametrize("headers", [{"Authorization": "Bearer s3cret-key"}, {"X-API-Key": "s3cret-key"}])
    def test_predict_accepts_the_key(self, secured, served, headers):
        assert secured.post("/predict", json=records_of(served, 1)[0], headers=headers).status_code == 200

    @pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/metadata", "/openapi.json"])
    def test_operational_endpoints_stay_open(self, secured, path):
        assert secured.get(path).status_code == 200

    def test_openapi_declares_the_security(self, secured):
        spec = secured.get("/openapi.json").get_json()
        assert spec["paths"]["/predict"]["post"]["security"]
        assert "401" in spec["paths"]["/predict"]["post"]["responses"]


def test_prediction_log_lines_to_file_and_stdout(served, tmp_path, capsys):
    log_file = tmp_path / "logs" / "predictions.jsonl"
    app = create_app(api_settings(served, prediction_log_file=log_file))
    records = records_of(served, 3)
    body = app.test_client().post("/predict", json={"records": records}).get_json()
    events = read_predictions(log_file)
    assert [e["inputs"] for e in events] == records
    assert [e["prediction"] for e in events] == body["predictions"]
    assert {e["request_id"] for e in events} == {body["request_id"]}
    assert all(e["latency_ms"] > 0 and e["model_version"] == body["model_version"] for e in events)
    stdout_events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert stdout_events == events


def test_invalid_requests_are_not_logged_as_predictions(served, tmp_path):
    log_file = tmp_path / "predictions.jsonl"
    app = create_app(api_settings(served, prediction_log_file=log_file, prediction_log_stdout=False))
    app.test_client().post("/predict", json={"records": [{"latitude": "x"}]})
    assert read_predictions(log_file) == []
