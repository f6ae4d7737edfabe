"""POST /predict for any fork's model and task: each answer is the model's own output, and every
bad input is a 400 naming its field (the cases are built from the model's feature schema)."""

import json
import math

import numpy as np
import pytest

from mlops.api import create_app
from mlops.api.prediction_log import read_predictions
from mlops.config import REGRESSION

from conftest import TASK_SCENARIOS, api_settings, expected_answer, pick_feature, records_of


def app_of(served, **changes):
    """The API serving `served`, its prediction log off unless asked."""
    return create_app(api_settings(served, **{"prediction_log_stdout": False, **changes}))


def kind_of(served) -> str:
    """The served model's task as conftest.TASK_SCENARIOS names it: regression, multiclass or binary."""
    classes = served[1].classes
    if classes is None:
        return REGRESSION
    return "binary" if len(classes) == 2 else "multiclass"


def model_for(kind: str, served, served_scenario):
    """A served model of task `kind`: this repository's own when that is its task, else tests/forks.py's."""
    return served if kind_of(served) == kind else served_scenario(TASK_SCENARIOS[kind])


@pytest.fixture(params=list(TASK_SCENARIOS))
def task_model(request, served, served_scenario):
    """A served model of each task (whatever this repository's own task is)."""
    return model_for(request.param, served, served_scenario)


def as_batch(bodies: list[dict]) -> dict:
    """Single-record answers (or prediction log lines) in the shape of one batch answer."""
    batch = {"predictions": [body["prediction"] for body in bodies]}
    if "probabilities" in bodies[0]:
        batch["probabilities"] = [body["probabilities"] for body in bodies]
    return batch


def assert_answers(body: dict, expected) -> None:
    """`body` (a /predict answer, single or batch) is `expected` (the model's own ModelOutput): the
    values (regression), or the labels, of the label's own type, and each class's probability."""
    if "prediction" in body:
        body = as_batch([body])
    answered = body["predictions"]
    if expected.classes is None:
        assert "probabilities" not in body
        np.testing.assert_allclose(answered, expected.values)
        return
    labels = expected.values.tolist()
    assert answered == labels
    assert [type(label) for label in answered] == [type(label) for label in labels]  # "a" stays text, 1 a number
    keys = [str(label) for label in expected.classes]
    assert [sorted(row) for row in body["probabilities"]] == [sorted(keys)] * len(answered)
    table = np.array([[row[key] for key in keys] for row in body["probabilities"]])
    np.testing.assert_allclose(table, expected.probabilities)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert [keys[index] for index in table.argmax(axis=1)] == [str(label) for label in answered]


def test_one_record(task_model):
    record = records_of(task_model, 1)[0]
    response = app_of(task_model).test_client().post("/predict", json=record)
    assert response.status_code == 200
    body = response.get_json()
    assert_answers(body, expected_answer(task_model, [record]))
    assert body["model_version"] == json.loads(task_model[0].paths.metadata.read_text())["model"]["version"]
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_a_batch_returns_each_record_its_own_prediction(task_model):
    records = records_of(task_model, 25)
    body = app_of(task_model).test_client().post("/predict", json={"records": records}).get_json()
    assert_answers(body, expected_answer(task_model, records))


def test_missing_nullable_field_is_predicted(client, served):
    name = pick_feature(served[1].schema, nullable=True).name
    record = records_of(served, 1)[0]
    record.pop(name)
    response = client.post("/predict", json=record)
    assert response.status_code == 200
    assert_answers(response.get_json(), expected_answer(served, [record]))
    record[name] = None
    assert_answers(client.post("/predict", json=record).get_json(), expected_answer(served, [record]))


def test_request_id_is_echoed_when_safe(client, served):
    record = records_of(served, 1)[0]
    assert (
        client.post("/predict", json=record, headers={"X-Request-ID": "abc-123"}).get_json()["request_id"] == "abc-123"
    )
    unsafe = client.post("/predict", json=record, headers={"X-Request-ID": "<script>"}).get_json()["request_id"]
    assert unsafe != "<script>"
    assert len(unsafe) == 32


def invalid_value(spec):
    """A value `spec`'s feature refuses: text for a number, or a text no category equals."""
    if spec.type == "numeric":
        return "not a number"
    return "?" * (1 + max(map(len, spec.categories or []), default=0))


def unknown_name(schema) -> str:
    """A field name that is no feature of `schema` (longer than every one)."""
    return "extra:" + "+".join(schema.names)


def declaring(schema, bound: str):
    """The first feature with a declared `bound` ("min" or "max"), or skip."""
    for spec in schema.features:
        if getattr(spec, bound) is not None:
            return spec
    pytest.skip(f"no feature of the model declares a {bound} in params.yaml")


def number(schema, **kind):
    return pick_feature(schema, kind="numeric", **kind)


def category(schema, **kind):
    return pick_feature(schema, kind="categorical", **kind)


def number_as_text(schema):
    spec = number(schema)
    return spec.name, str(spec.typical), "expected a finite number"


def above_max(schema):
    spec = declaring(schema, "max")
    return spec.name, spec.max + abs(spec.max) + 1, "less than or equal to"


def below_min(schema):
    spec = declaring(schema, "min")
    return spec.name, spec.min - abs(spec.min) - 1, "greater than or equal to"


def unknown_category(schema):
    spec = category(schema)
    return spec.name, invalid_value(spec), f"not an allowed value; expected one of: {spec.categories[0]!r}"


# Each case, from the model's schema: (field, bad value, what the error says). A case the model's
# features cannot show (no categorical feature, no declared bound) skips, naming what is missing.
BAD_VALUES = [
    pytest.param(number_as_text, id="string-for-number"),
    pytest.param(lambda s: (number(s).name, True, "expected a finite number"), id="bool-for-number"),
    pytest.param(lambda s: (number(s).name, [1], "expected a finite number"), id="list-for-number"),
    pytest.param(lambda s: (number(s, nullable=False).name, None, "expected a finite number"), id="null-not-nullable"),
    pytest.param(above_max, id="above-max"),
    pytest.param(below_min, id="below-min"),
    pytest.param(unknown_category, id="unknown-category"),
    pytest.param(lambda s: (category(s, nullable=False).name, None, "not an allowed value"), id="null-category"),
    pytest.param(lambda s: (unknown_name(s), "red", "unknown field"), id="extra-field"),
]


@pytest.mark.parametrize("case", BAD_VALUES)
def test_invalid_record_is_a_400_naming_the_field(client, served, case):
    field, value, message = case(served[1].schema)
    record = {**records_of(served, 1)[0], field: value}
    response = client.post("/predict", json=record)
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
    name = number(served[1].schema).name
    record = {**records_of(served, 1)[0], name: "<number>"}
    text = json.dumps(record).replace('"<number>"', literal, 1)
    response = client.post("/predict", data=text, content_type="application/json")
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == name
    assert shown in detail["message"]


def test_missing_field(client, served):
    name = pick_feature(served[1].schema, nullable=False).name
    record = records_of(served, 1)[0]
    del record[name]
    detail = client.post("/predict", json=record).get_json()["error"]["details"]
    assert detail == [{"record": 0, "field": name, "message": "required field is missing"}]


def test_every_error_of_every_record_at_once(client, served):
    schema = served[1].schema
    first, last, extra = schema.features[0], schema.features[-1], unknown_name(schema)
    records = records_of(served, 3)
    records[0][first.name] = invalid_value(first)
    records[0][extra] = 1
    records[2][last.name] = invalid_value(last)
    details = client.post("/predict", json={"records": records}).get_json()["error"]["details"]
    assert sorted((d["record"], d["field"]) for d in details) == sorted([(0, first.name), (0, extra), (2, last.name)])


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


def test_non_finite_model_output_is_reported(task_model, monkeypatch):
    app = app_of(task_model, batching=False)
    predictor = app.extensions["mlops"].predictor
    shape = () if predictor.classes is None else (len(predictor.classes),)  # values, or probabilities
    monkeypatch.setattr(predictor, "predict_rows", lambda rows: np.full((len(rows), *shape), math.nan))
    response = app.test_client().post("/predict", json=records_of(task_model, 1)[0])
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


def test_prediction_log_lines_to_file_and_stdout(task_model, tmp_path, capsys):
    log_file = tmp_path / "logs" / "predictions.jsonl"
    app = create_app(api_settings(task_model, prediction_log_file=log_file))
    records = records_of(task_model, 3)
    body = app.test_client().post("/predict", json={"records": records}).get_json()
    events = read_predictions(log_file)
    assert [e["inputs"] for e in events] == records
    # Each line: the record's prediction (a value or a label) and, from a classifier, its probabilities.
    assert as_batch(events) == {key: body[key] for key in ("predictions", "probabilities") if key in body}
    assert_answers(as_batch(events), expected_answer(task_model, records))
    assert {e["request_id"] for e in events} == {body["request_id"]}
    assert all(e["latency_ms"] > 0 and e["model_version"] == body["model_version"] for e in events)
    stdout_events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert stdout_events == events


def test_invalid_requests_are_not_logged_as_predictions(served, tmp_path):
    log_file = tmp_path / "predictions.jsonl"
    app = create_app(api_settings(served, prediction_log_file=log_file, prediction_log_stdout=False))
    first = served[1].schema.features[0]
    app.test_client().post("/predict", json={"records": [{first.name: invalid_value(first)}]})
    assert read_predictions(log_file) == []
