import pytest

from mlops.api import create_app
from mlops.api.telemetry import prediction_buckets
from mlops.config import REGRESSION

from conftest import CLASSIFICATION_SCENARIOS, api_settings, expected_answer, records_of
from metrics_text import sample
from test_predict import app_of, invalid_value, model_for


def test_metrics_count_requests_and_model(client, served):
    record = served[1].schema.example_record()
    for _ in range(3):
        client.post("/predict", json=record)
    client.post("/predict", json={"records": [record, record]})
    first = served[1].schema.features[0]
    client.post("/predict", json={first.name: invalid_value(first)})
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", route="/predict", status="200") == 4
    assert sample(text, "http_requests_total", route="/predict", status="400") == 1
    assert sample(text, "http_request_duration_seconds_count", route="/predict", status="200") == 4
    version = client.get("/ready").get_json()["model_version"]
    assert sample(text, "model_info", model_version=version) == 1


def post_and_scrape(served, records: list[dict]) -> str:
    """/metrics after predicting `records` (one request each, then all in one batch)."""
    client = app_of(served).test_client()
    for record in records:
        assert client.post("/predict", json=record).status_code == 200
    assert client.post("/predict", json={"records": records}).status_code == 200
    return client.get("/metrics").get_data(as_text=True)


def test_a_regressor_observes_its_predicted_values(served, served_scenario):
    model = model_for(REGRESSION, served, served_scenario)
    records = records_of(model, 5)
    text = post_and_scrape(model, records)
    values = expected_answer(model, records).values
    assert sample(text, "model_prediction_value_count") == 2 * len(records)
    assert sample(text, "model_prediction_value_sum") == pytest.approx(2 * values.sum())
    assert "model_predictions_by_label" not in text  # a classifier's metrics only for a classifier
    assert "model_prediction_confidence" not in text


@pytest.mark.parametrize("kind", CLASSIFICATION_SCENARIOS)
def test_a_classifier_counts_predictions_per_label_and_observes_their_confidence(served, served_scenario, kind):
    model = model_for(kind, served, served_scenario)
    records = records_of(model, 20)
    text = post_and_scrape(model, records)
    expected = expected_answer(model, records)
    for label in expected.classes:  # every label is exported, 0 for one never predicted
        assert f'model_predictions_by_label_total{{label="{label}"}}' in text
        count = 2 * int((expected.values == label).sum())
        assert sample(text, "model_predictions_by_label_total", label=str(label)) == count
    assert sample(text, "model_prediction_confidence_count") == 2 * len(records)
    assert sample(text, "model_prediction_confidence_sum") == pytest.approx(
        2 * expected.probabilities.max(axis=1).sum()
    )
    assert "model_prediction_value" not in text  # labels have no value to bucket


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
    assert prediction_buckets({"classes": ["a", "b"], "shares": [0.5, 0.5]}) == [0.0]  # labels are counted instead


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
        "features": [{"name": "feature_a", "psi": 0.01}],
        "prediction": {"name": "prediction", "psi": 0.02},
    }
    telemetry.record_drift(verdict)
    telemetry.record_drift({"verdict": "insufficient_data", "features": [], "prediction": None})
    text = telemetry.exposition().decode()
    assert math.isnan(sample(text, "model_drift_detected"))
    assert math.isnan(sample(text, "model_drift_psi", feature="feature_a"))
