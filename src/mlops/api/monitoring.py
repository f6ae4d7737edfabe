"""GET /monitoring/drift: recent inputs and predictions against the training reference."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, jsonify

from mlops.api.drift_window import DriftWindow
from mlops.api.state import serving_state
from mlops.config import MonitorConfig
from mlops.drift import assess


def drift_report(window: DriftWindow, reference: dict, config: MonitorConfig) -> dict:
    features, predictions, workers, timestamps = window.snapshot()
    result = assess(reference, features, predictions, config)
    now = time.time()
    result["window"] = {
        "rows": len(features),
        "capacity": window.capacity,
        "workers": workers,
        "oldest": _iso(timestamps.min()) if len(timestamps) else None,
        "newest": _iso(timestamps.max()) if len(timestamps) else None,
        "age_seconds": round(now - float(timestamps.min()), 3) if len(timestamps) else None,
    }
    return result


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat(timespec="seconds")


blueprint = Blueprint("monitoring", __name__)


@blueprint.get("/monitoring/drift")
def drift():
    state = serving_state()
    if state.monitoring is None:
        return jsonify(verdict="unavailable", reason="the model bundle has no drift reference"), 503
    report = drift_report(state.monitoring.window, state.monitoring.reference, state.monitoring.config)
    state.telemetry.record_drift(report)
    report["model_version"] = state.predictor.bundle.version
    return jsonify(report)
