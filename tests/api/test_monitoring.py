"""/monitoring/drift and the window behind it (in process; tests/api/test_gunicorn_monitoring.py
covers several gunicorn workers). The traffic comes from the model's own data: rows like the
training data, or a slice of it that drifts on one feature or on the predictions."""

import json
import os
import random

import numpy as np
import pandas as pd
import pytest

from mlops.api import create_app
from mlops.api.drift_window import DriftWindow, window_file
from mlops.config import REGRESSION
from mlops.prepare import prepare
from mlops.raw_data import load_raw

from conftest import (
    CLASSIFICATION_SCENARIOS,
    TASK_SCENARIOS,
    api_settings,
    expected_answer,
    pick_feature,
    servable_records,
)
from metrics_text import sample
from test_predict import app_of, model_for


def records(frame, served) -> list[dict]:
    return servable_records(served, frame)


_splits: dict = {}


def split_of(served) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test rows of `served` (prepare is deterministic: the ones it was trained on)."""
    cfg = served[0]
    if cfg.paths.raw not in _splits:
        _splits[cfg.paths.raw] = prepare(load_raw(cfg.paths.raw, cfg.data), cfg)
    return _splits[cfg.paths.raw]


def like_training(served, rows: int) -> list[dict]:
    """At least `rows` records distributed as the training data: a seeded sample of the held-out rows
    when there are that many, else whole copies of the training rows (each row's share as in training)."""
    held_out = records(served[2], served)
    if len(held_out) >= rows:
        return random.Random(3).sample(held_out, rows)
    train = records(split_of(served)[0], served)
    return train * -(-rows // len(train))


def repeated(rows: list[dict], count: int) -> list[dict]:
    """`count` records, `rows` over and over."""
    return (rows * -(-count // len(rows)))[:count]


def drifting_slice(served, kind: str) -> tuple[str, pd.DataFrame]:
    """A feature and rows of the data that drift on it: the top fifth of the numeric feature with the
    most distinct values, or the rows holding the most frequent category of a categorical feature."""
    schema = served[1].schema
    frame = pd.concat(split_of(served))
    spec = pick_feature(schema, kind=kind)  # skips when the model has no such feature
    if kind == "categorical":
        return spec.name, frame[frame[spec.name] == spec.typical]
    name = max(schema.numeric, key=lambda column: frame[column].nunique())
    return name, frame[frame[name] >= frame[name].quantile(0.8)]


def unusual_predictions(served) -> list[dict]:
    """Records whose predictions are unlike training's: the top fifth of predicted values (regression),
    or those predicted as the rarest label (classification)."""
    cfg = served[0]
    rows = records(pd.concat(split_of(served)), served)
    predicted = pd.Series(expected_answer(served, rows).values)
    if cfg.data.task == REGRESSION:
        chosen = predicted >= predicted.quantile(0.8)
    else:
        chosen = predicted == predicted.value_counts().idxmin()
    return [row for row, keep in zip(rows, chosen, strict=True) if keep]


@pytest.fixture
def client_full(served_full):
    return create_app(api_settings(served_full, prediction_log_stdout=False)).test_client()


def post_all(client, rows: list[dict], size: int = 100) -> None:
    for start in range(0, len(rows), size):
        assert client.post("/predict", json={"records": rows[start : start + size]}).status_code == 200


def test_no_verdict_before_enough_traffic(client_full, served_full):
    cfg = served_full[0]
    post_all(client_full, like_training(served_full, cfg.monitor.min_window)[: cfg.monitor.min_window - 1])
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "insufficient_data"
    assert report["window"]["rows"] == cfg.monitor.min_window - 1


def test_traffic_like_training_is_ok(client_full, served_full):
    cfg = served_full[0]
    rows = like_training(served_full, 1000)
    post_all(client_full, rows)
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "ok", report["drifted"]
    assert report["window"]["rows"] == min(len(rows), cfg.monitor.window_size)
    assert report["window"]["workers"] == 1
    assert report["model_version"] == client_full.get("/ready").get_json()["model_version"]


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_drifting_feature_is_flagged_and_exported_to_prometheus(client_full, served_full, kind):
    name, rows = drifting_slice(served_full, kind)
    post_all(client_full, repeated(records(rows, served_full), 600))
    report = client_full.get("/monitoring/drift").get_json()
    assert report["verdict"] == "drift"
    assert name in report["drifted"]
    metrics = client_full.get("/metrics").get_data(as_text=True)
    by_name = {item["name"]: item["psi"] for item in report["features"]}
    assert sample(metrics, "model_drift_psi", feature=name) == pytest.approx(by_name[name])
    assert sample(metrics, "model_drift_detected") == 1


@pytest.mark.parametrize("kind", TASK_SCENARIOS)
def test_predictions_like_trainings_are_not_drift(served, served_scenario, kind):
    model = model_for(kind, served, served_scenario)
    client = app_of(model).test_client()
    post_all(client, like_training(model, 2 * model[0].monitor.min_window))
    report = client.get("/monitoring/drift").get_json()
    # Numbers are profiled in quantile bins, a classifier's labels as categories.
    assert report["prediction"]["type"] == ("numeric" if kind == REGRESSION else "categorical")
    assert report["verdict"] == "ok", report["drifted"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert sample(metrics, "model_drift_psi", feature="prediction") == pytest.approx(report["prediction"]["psi"])


@pytest.mark.parametrize("kind", TASK_SCENARIOS)
def test_predictions_unlike_trainings_are_drift(served, served_scenario, kind):
    model = model_for(kind, served, served_scenario)
    client = app_of(model).test_client()
    post_all(client, repeated(unusual_predictions(model), 2 * model[0].monitor.min_window))
    report = client.get("/monitoring/drift").get_json()
    assert "prediction" in report["drifted"]
    assert report["prediction"]["psi"] > model[0].monitor.psi_threshold


def test_the_window_keeps_only_the_newest_rows(client_full, served_full):
    cfg, _, test, _ = served_full
    capacity = cfg.monitor.window_size
    post_all(client_full, repeated(records(test, served_full), capacity + 250), size=500)
    report = client_full.get("/monitoring/drift").get_json()
    assert report["window"]["rows"] == capacity


def test_bundles_without_a_reference_say_so(served_full, tmp_path):
    app = create_app(api_settings(served_full, reference=tmp_path / "absent.json", prediction_log_stdout=False))
    response = app.test_client().get("/monitoring/drift")
    assert response.status_code == 503
    assert response.get_json()["verdict"] == "unavailable"


def test_window_round_trips_rows_and_merges_sibling_workers(served_full, tmp_path):
    _, result, test, _ = served_full
    schema = result.schema
    frame = schema.to_frame(records(test, served_full)[:6])
    frame.loc[1, pick_feature(schema, kind="numeric").name] = np.nan
    window = DriftWindow(schema, capacity=5, directory=tmp_path)
    window.add(frame.iloc[:3], np.arange(3.0))
    window.add(frame.iloc[3:], np.arange(3.0, 6.0))
    features, predictions, workers, _ = window.snapshot()
    assert list(predictions) == [1.0, 2.0, 3.0, 4.0, 5.0]  # the oldest row fell out
    # Every feature comes back as it went in: numbers, categories and missing values.
    pd.testing.assert_frame_equal(features, frame.iloc[1:].reset_index(drop=True), check_dtype=False)
    assert workers == 1

    sibling = DriftWindow(schema, capacity=5, directory=tmp_path)
    sibling.add(frame.iloc[:2], np.array([10.0, 11.0]))
    sibling.flush()
    # Pretend the sibling's file belongs to another process (a second gunicorn worker).
    window_file(tmp_path, os.getpid()).rename(window_file(tmp_path, 999_999))
    features, predictions, workers, _ = window.snapshot()
    assert workers == 2
    assert sorted(predictions) == [3.0, 4.0, 5.0, 10.0, 11.0]  # the newest five of both


@pytest.mark.parametrize("kind", CLASSIFICATION_SCENARIOS)
def test_a_classifiers_window_keeps_predicted_labels_across_workers(served, served_scenario, kind, tmp_path):
    model = model_for(kind, served, served_scenario)
    _, result, test, _ = model
    classes = result.classes
    frame = result.schema.to_frame(records(test, model)[:4])
    indices = np.arange(4) % len(classes)  # the predictor hands the window each row's class index
    window = DriftWindow(result.schema, capacity=8, directory=tmp_path, classes=classes)
    window.add(frame, indices)
    sibling = DriftWindow(result.schema, capacity=8, directory=tmp_path, classes=classes)
    sibling.add(frame.iloc[:1], indices[-1:])
    sibling.flush()
    window_file(tmp_path, os.getpid()).rename(window_file(tmp_path, 999_999))
    _, predictions, workers, _ = window.snapshot()
    assert workers == 2
    expected = [classes[index] for index in [*indices, indices[-1]]]
    assert json.dumps(sorted(predictions.tolist(), key=str)) == json.dumps(sorted(expected, key=str))


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
    window.add(served_full[1].schema.to_frame(records(test, served_full)[:5]), np.ones(5))
    now[0] += cfg.monitor.report_cache_seconds / 2
    assert watch.report() == first  # within the cache time: the same assessment, no new work
    assert len(calls) == 1
    now[0] += cfg.monitor.report_cache_seconds
    assert watch.report()["rows"] == first["rows"] + 5
    assert len(calls) == 2
