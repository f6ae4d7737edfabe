"""GET /monitoring/drift: recent inputs and predictions against the training reference."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, render_template

from mlops.api.drift_window import DriftWindow
from mlops.config import MonitorConfig
from mlops.drift import assess, drift_rule


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


def trained_time(iso: str | None) -> datetime | None:
    """A run record's trained_at as a time, or None (absent, unreadable, or without a time zone)."""
    try:
        moment = datetime.fromisoformat(iso) if isinstance(iso, str) else None
    except ValueError:
        return None
    return moment if moment and moment.tzinfo else None


def model_age(trained_at: str | None, max_age_days: float | None, now: datetime) -> dict:
    """How old the served model is; `stale` when older than monitor.max_model_age_days (None: unknown)."""
    trained = trained_time(trained_at)
    age = (now - trained).total_seconds() / 86400 if trained else None
    stale = None if age is None else (max_age_days is not None and age > max_age_days)
    return {
        "trained_at": trained.isoformat(timespec="seconds") if trained else None,
        "age_days": None if age is None else round(age, 2),
        "max_age_days": max_age_days,
        "stale": stale,
    }


class Monitoring:
    """The drift window and its training reference. An assessment costs about 20 ms of CPU, and
    /monitoring/drift and /metrics are open: one is reused for `report_cache_seconds`."""

    def __init__(
        self,
        window: DriftWindow,
        reference: dict,
        config: MonitorConfig,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.window, self.reference, self.config = window, reference, config
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, dict] | None = None

    def report(self) -> dict:
        """The current drift report (a copy: callers may add to it)."""
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= self.config.report_cache_seconds:
                self._cached = (now, drift_report(self.window, self.reference, self.config))
            return dict(self._cached[1])


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat(timespec="seconds")


blueprint = Blueprint("monitoring", __name__, template_folder="templates")
UNAVAILABLE = "the model bundle has no drift reference"


def _current_report() -> dict | None:
    state = current_app.extensions["mlops"]
    if state.monitoring is None:
        return None
    report = state.monitoring.report()
    state.telemetry.record_drift(report)
    report["model_version"] = state.predictor.bundle.version
    report["model_age"] = model_age(
        state.metadata["model"].get("trained_at"), state.settings.monitor.max_model_age_days, datetime.now(UTC)
    )
    return report


@blueprint.get("/monitoring/drift")
def drift():
    report = _current_report()
    if report is None:
        return jsonify(verdict="unavailable", reason=UNAVAILABLE), 503
    return jsonify(report)


@blueprint.get("/monitoring")
def page():
    """The drift report as a page, for people (/monitoring/drift is the same, as JSON)."""
    report = _current_report()
    rule = drift_rule(report["thresholds"]["psi"], report["thresholds"]["ks_alpha"]) if report else None
    return render_template("monitoring.html", report=report, rule=rule, reason=UNAVAILABLE), 200 if report else 503
