"""When the served model was trained: /metadata, the Prometheus gauge and the age in /monitoring/drift."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from mlops.api import create_app
from mlops.api.monitoring import model_age, trained_time
from mlops.config import ConfigError, parse_config

from conftest import api_settings, params_in
from metrics_text import sample
from servers import gunicorn


def recorded_time(served) -> datetime:
    """trained_at from the run record the served bundle has on disk."""
    return datetime.fromisoformat(json.loads(served[0].paths.run.read_text())["trained_at"])


def test_metadata_says_when_and_how_it_knows(client, served):
    model = client.get("/metadata").get_json()["model"]
    assert datetime.fromisoformat(model["trained_at"]) == recorded_time(served)
    assert model["trained_at_source"] == "training run"


def test_a_model_restored_from_dvc_cache_is_dated_by_its_commit(served, tmp_path):
    record = {**json.loads(served[0].paths.run.read_text()), "source": "dvc.lock commit", "mlflow": None}
    record["trained_at"] = "2025-06-30T12:00:00+00:00"
    (tmp_path / "run.json").write_text(json.dumps(record))
    app = create_app(api_settings(served, run=tmp_path / "run.json", prediction_log_stdout=False))
    model = app.test_client().get("/metadata").get_json()["model"]
    assert (model["trained_at"], model["trained_at_source"]) == ("2025-06-30T12:00:00+00:00", "dvc.lock commit")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert sample(metrics, "model_trained_timestamp_seconds") == datetime(2025, 6, 30, 12, tzinfo=UTC).timestamp()


def test_the_training_time_is_a_prometheus_gauge(client, served):
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "model_trained_timestamp_seconds") == recorded_time(served).timestamp()


@pytest.mark.parametrize("record", [None, {"model_version": "another-model", "trained_at": "2026-01-01T00:00:00Z"}])
def test_an_unknown_training_time_is_null_and_no_gauge(served, tmp_path, record):
    if record:  # a run record of a different model (DVC restored this one from its cache)
        (tmp_path / "run.json").write_text(json.dumps(record))
    app = create_app(api_settings(served, run=tmp_path / "run.json", prediction_log_stdout=False))
    model = app.test_client().get("/metadata").get_json()["model"]
    assert (model["trained_at"], model["trained_at_source"]) == (None, None)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "model_trained_timestamp_seconds" not in text  # absent, not 0 (which would read as 1970)
    age = app.test_client().get("/monitoring/drift").get_json()["model_age"]
    assert age == {
        "trained_at": None,
        "age_days": None,
        "max_age_days": served[0].monitor.max_model_age_days,
        "stale": None,
    }


def test_age_against_the_limit():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    trained = (now - timedelta(days=30, hours=12)).isoformat()
    assert model_age(trained, 30, now) == {
        "trained_at": trained,
        "age_days": 30.5,
        "max_age_days": 30,
        "stale": True,
    }
    assert model_age(trained, 31, now)["stale"] is False
    assert model_age(trained, None, now)["stale"] is False  # no limit: never flagged
    assert model_age("2026-01-01T00:00:00", 30, now)["stale"] is None  # no time zone: not a time we can compare
    assert model_age("yesterday", 30, now)["age_days"] is None
    assert trained_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("limit", "stale"), [(1.0, True), (1e6, False), (None, False)])
def test_drift_report_carries_the_model_age(served, limit, stale):
    monitor = served[0].monitor.model_copy(update={"max_model_age_days": limit})
    settings = api_settings(served, prediction_log_stdout=False, monitor=monitor)
    age = create_app(settings).test_client().get("/monitoring/drift").get_json()["model_age"]
    expected = (datetime.now(UTC) - recorded_time(served)).total_seconds() / 86400
    assert age["age_days"] == pytest.approx(expected, abs=0.02)
    assert (age["max_age_days"], age["stale"]) == (limit, stale)


@pytest.mark.slow
def test_the_gauge_is_the_same_across_gunicorn_workers(served):
    with gunicorn(served[3], workers=2) as (url, _), urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert sample(text, "model_trained_timestamp_seconds") == recorded_time(served).timestamp()  # max, not a sum


@pytest.mark.parametrize(("value", "accepted"), [(30, True), (None, True), (0, False), (-1, False), ("a week", False)])
def test_the_age_limit_is_validated(tmp_path, value, accepted):
    params = params_in(tmp_path)
    params["monitor"]["max_model_age_days"] = value
    if accepted:
        assert parse_config(params).monitor.max_model_age_days == value
    else:
        with pytest.raises(ConfigError, match=r"monitor\.max_model_age_days"):
            parse_config(params)
    del params["monitor"]["max_model_age_days"]
    assert parse_config(params).monitor.max_model_age_days is None  # absent: no limit
