import re

from mlops.api import create_app
from mlops.api.telemetry import prediction_buckets

from conftest import api_settings


def sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_predictions_and_model(client, served):
    record = served[1].schema.example_record()
    for _ in range(3):
        client.post("/predict", json=record)
    client.post("/predict", json={"records": [record, record]})
    client.post("/predict", json={"latitude": 1})
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", route="/predict", status="200") == 4
    assert sample(text, "http_requests_total", route="/predict", status="400") == 1
    assert sample(text, "http_request_duration_seconds_count", route="/predict", status="200") == 4
    assert sample(text, "model_prediction_value_count") == 5
    version = client.get("/ready").get_json()["model_version"]
    assert sample(text, "model_info", model_version=version) == 1


def test_unmatched_routes_share_one_label(client):
    client.get("/a")
    client.get("/b")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", route="<unmatched>", status="404") == 2


def test_batch_sizes_are_recorded(served):
    app = create_app(api_settings(served, batching=False, prediction_log_stdout=False))
    record = served[1].schema.example_record()
    app.test_client().post("/predict", json={"records": [record] * 7})
    text = app.test_client().get("/metrics").get_data(as_text=True)
    # One 7-row model call (the startup self-check is not traffic and is not counted).
    assert sample(text, "model_batch_rows_count") == 1
    assert sample(text, "model_batch_rows_sum") == 7


def test_prediction_buckets_follow_the_training_target():
    assert prediction_buckets({"min": 10.0, "max": 90.0, "deciles": [20.0, 50.0, 50.0]}) == [10.0, 20.0, 50.0, 90.0]


def test_made_up_methods_and_statuses_share_the_label_other(client):
    for method in ("BREW", "PROPFIND", "XYZZY"):
        client.open("/predict", method=method)
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", method="other", status="405") == 3
    assert 'method="BREW"' not in text


def test_metric_labels_take_values_from_closed_sets():
    from mlops.api import metric_labels

    assert metric_labels(None, "GET", 599) == {"route": "<unmatched>", "method": "GET", "status": "other"}
    assert metric_labels(None, "get", 200)["method"] == "other"  # methods are case-sensitive


def test_drift_gauges_become_nan_without_enough_data(served):
    import math

    telemetry = create_app(api_settings(served, prediction_log_stdout=False)).extensions["mlops"].telemetry
    verdict = {
        "verdict": "ok",
        "features": [{"name": "latitude", "psi": 0.01}],
        "prediction": {"name": "prediction", "psi": 0.02},
    }
    telemetry.record_drift(verdict)
    telemetry.record_drift({"verdict": "insufficient_data", "features": [], "prediction": None})
    text = telemetry.exposition().decode()
    assert math.isnan(sample(text, "model_drift_detected"))
    assert math.isnan(sample(text, "model_drift_psi", feature="latitude"))
