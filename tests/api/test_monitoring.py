"""/monitoring/drift and the window behind it (in process; tests/api/test_gunicorn_monitoring.py
covers several gunicorn workers)."""

import json

import numpy as np
import pytest

from mlops.api import create_app
from mlops.api.drift_window import DriftWindow, window_file

from conftest import api_settings
from test_telemetry import sample


def records(frame, cfg) -> list[dict]:
    return json.loads(frame[list(cfg.data.features)].to_json(orient="records"))


@pytest.fixture
def client_full(served_full):
    return create_app(api_settings(served_full, prediction_log_stdout=False)).test_client()


def post_all(client, rows: list[dict], size: int = 100) -> None:
    for start in range(0, len(rows), size):
        assert client.post("/predict", json={"records": rows[start : start + size]}).status_code == 200


def test_no_verdict_before_enough_traffic(client_full, served_full):
    cfg, _, test, _ = served_full
    post_all(client_full, records(test.head(cfg.monitor.min_window - 1), cfg))
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "insufficient_data"
    assert report["window"]["rows"] == cfg.monitor.min_window - 1


def test_traffic_like_training_is_ok(client_full, served_full):
    cfg, _, test, _ = served_full
    post_all(client_full, records(test.sample(1000, random_state=3), cfg))
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "ok"
    assert report["window"]["rows"] == 1000
    assert report["window"]["workers"] == 1
    assert report["model_version"] == client_full.get("/ready").get_json()["model_version"]


def test_one_region_is_flagged_and_exported_to_prometheus(client_full, served_full):
    cfg, _, test, _ = served_full
    post_all(client_full, records(test[test["ocean_proximity"] == "INLAND"].head(600), cfg))
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "drift"
    assert "ocean_proximity" in report["drifted"]
    metrics = client_full.get("/metrics").get_data(as_text=True)
    by_name = {item["name"]: item["psi"] for item in report["features"]}
    assert sample(metrics, "model_drift_psi", feature="ocean_proximity") == pytest.approx(by_name["ocean_proximity"])
    assert sample(metrics, "model_drift_detected") == 1


def test_the_window_keeps_only_the_newest_rows(client_full, served_full):
    cfg, _, test, _ = served_full
    capacity = cfg.monitor.window_size
    post_all(client_full, records(test.head(capacity + 250), cfg), size=500)
    report = client_full.get("/monitoring/drift").get_json()
    assert report["window"]["rows"] == capacity


def test_bundles_without_a_reference_say_so(served_full, tmp_path):
    app = create_app(api_settings(served_full, reference=tmp_path / "absent.json", prediction_log_stdout=False))
    response = app.test_client().get("/monitoring/drift")
    assert response.status_code == 503
    assert response.get_json()["verdict"] == "unavailable"


def test_window_round_trips_rows_and_merges_sibling_workers(served_full, tmp_path):
    cfg, result, test, _ = served_full
    schema = result.schema
    frame = schema.to_frame(records(test.head(6), cfg))
    frame.loc[1, "total_bedrooms"] = np.nan
    window = DriftWindow(schema, capacity=5, directory=tmp_path)
    window.add(frame.iloc[:3], np.arange(3.0))
    window.add(frame.iloc[3:], np.arange(3.0, 6.0))
    features, predictions, workers, _ = window.snapshot()
    assert list(predictions) == [1.0, 2.0, 3.0, 4.0, 5.0]  # the oldest row fell out
    assert features["ocean_proximity"].tolist() == frame["ocean_proximity"].iloc[1:].tolist()
    assert np.isnan(features["total_bedrooms"].iloc[0])
    assert workers == 1

    sibling = DriftWindow(schema, capacity=5, directory=tmp_path)
    sibling.add(frame.iloc[:2], np.array([10.0, 11.0]))
    sibling.flush()
    # Pretend the sibling's file belongs to another process (a second gunicorn worker).
    mine = window_file(tmp_path, __import__("os").getpid())
    mine.rename(window_file(tmp_path, 999_999))
    features, predictions, workers, _ = window.snapshot()
    assert workers == 2
    assert sorted(predictions) == [3.0, 4.0, 5.0, 10.0, 11.0]  # the newest five of both


def test_an_assessment_is_reused_for_report_cache_seconds(served_full, tmp_path, monkeypatch):
    import mlops.api.monitoring as monitoring

    cfg, _, test, _ = served_full
    calls = []
    real_assess = monitoring.assess
    monkeypatch.setattr(monitoring, "assess", lambda *args: calls.append(1) or real_assess(*args))
    now = [100.0]
    window = DriftWindow(served_full[1].schema, cfg.monitor.window_size, tmp_path)
    reference = json.loads(cfg.paths.reference.read_text())
    watch = monitoring.Monitoring(window, reference, cfg.monitor, clock=lambda: now[0])
    first = watch.report()
    window.add(served_full[1].schema.to_frame(records(test.head(5), cfg)), np.ones(5))
    now[0] += cfg.monitor.report_cache_seconds / 2
    assert watch.report() == first  # within the cache time: the same assessment, no new work
    assert len(calls) == 1
    now[0] += cfg.monitor.report_cache_seconds
    assert watch.report()["rows"] == first["rows"] + 5
    assert len(calls) == 2
