"""The model API: `create_app()` is the gunicorn target ("mlops.api:create_app()").

Serving imports neither DVC, MLflow nor matplotlib: only Flask, the model's own libraries, and
the training code's feature schema and pipeline (mlops.schema, mlops.features).
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from http import HTTPStatus

from flask import Flask, g, request

from mlops import fast_path
from mlops.api import docs, errors, health, monitoring, predict, telemetry
from mlops.api.batching import AnnounceRequests
from mlops.api.drift_window import DriftWindow
from mlops.api.monitoring import trained_time
from mlops.api.openapi import build_spec
from mlops.api.prediction_log import PredictionLog
from mlops.api.predictor import Predictor
from mlops.api.settings import ApiSettings
from mlops.api.state import Monitoring, ServingState
from mlops.bundle import ModelBundle, load_bundle, read_json_object, read_run_record

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Metric labels take only these values (anything else is "other"), so /metrics stays the same size
# whatever method or path a client makes up.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUSES = frozenset(str(status.value) for status in HTTPStatus)


def create_app(settings: ApiSettings | None = None) -> Flask:
    """Load and verify the model bundle, then build the app. Raises BundleError if it cannot."""
    settings = settings or ApiSettings.from_environment()
    bundle = load_bundle(settings.model, settings.metadata, defer=True)  # the fast path may not need the Pipeline
    metrics = _telemetry_for(bundle, settings)
    watch = _monitoring_for(bundle, settings)
    predictor = Predictor(
        bundle,
        settings.serve.batching,
        on_model_call=metrics.model_calls.observe,
        on_predictions=watch.window.add_records if watch else None,
        parity=read_parity(settings.parity),
        fast_path_file=fast_path.read_file(settings.fast_path),
    )

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.serve.max_body_bytes
    app.json.sort_keys = False
    app.extensions["mlops"] = ServingState(
        settings=settings,
        predictor=predictor,
        telemetry=metrics,
        prediction_log=PredictionLog(
            stream=sys.stdout if settings.prediction_log_stdout else None,
            path=settings.prediction_log_file,
            on_lost=metrics.prediction_log_errors.inc,
        ),
        metadata=metadata_document(bundle, settings, predictor.fast_path_status),
        openapi=build_spec(
            bundle.schema,
            model_version=bundle.version,
            max_records=settings.serve.max_records,
            auth=bool(settings.api_key),
            classes=bundle.classes,
        ),
        monitoring=watch,
    )
    if predictor.batcher is not None:
        app.wsgi_app = AnnounceRequests(app.wsgi_app, predictor.batcher, "/predict")
    errors.register(app)
    _register_hooks(app, metrics)
    for module in (predict, health, docs, telemetry, monitoring):
        app.register_blueprint(module.blueprint)
    return app


def _telemetry_for(bundle: ModelBundle, settings: ApiSettings) -> telemetry.Telemetry:
    target = bundle.metadata.get("target") or {"min": 0.0, "max": 1.0}
    trained = trained_time((read_run_record(settings.run, bundle.version) or {}).get("trained_at"))
    return telemetry.Telemetry(
        model_version=bundle.version,
        commit=settings.commit,
        prediction_buckets=telemetry.prediction_buckets(target),
        classes=bundle.classes,
        trained_timestamp=trained.timestamp() if trained else None,
    )


def _monitoring_for(bundle: ModelBundle, settings: ApiSettings) -> Monitoring | None:
    """The drift window, when the bundle has its training reference (older bundles may not)."""
    try:
        reference = json.loads(settings.reference.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    window = DriftWindow(bundle.schema, settings.monitor.window_size, settings.monitoring_dir, classes=bundle.classes)
    return Monitoring(window=window, reference=reference, config=settings.monitor)


def read_parity(path) -> dict | None:
    """The bundle's parity rows for the fast path's startup check; None when absent or unreadable
    (the API then predicts through the Pipeline and /metadata says why)."""
    return None if path is None else read_json_object(path)


def metadata_document(bundle: ModelBundle, settings: ApiSettings, fast_path: dict | None = None) -> dict:
    """What is being served and where it came from: the /metadata body."""
    run = read_run_record(settings.run, bundle.version) or {}
    try:
        test_metrics = json.loads(settings.metrics.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        test_metrics = None
    meta = bundle.metadata
    return {
        "commit": settings.commit,
        "build_time": settings.build_time,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            **meta["model"],
            # The training run's record; for a model DVC restored from its cache, mlops.run_record's
            # (dated by the commit that recorded the model). Never in metadata.json: that stays reproducible.
            "trained_at": run.get("trained_at"),
            "trained_at_commit": run.get("git_commit"),
            "trained_at_source": (run.get("source") or "training run") if run.get("trained_at") else None,
        },
        "task": bundle.task,
        "data": meta.get("data"),
        "target": meta.get("target"),
        "params": meta.get("params"),
        "metrics": test_metrics,
        "train_metrics": meta.get("train_metrics"),
        "mlflow": run.get("mlflow"),
        "versions": meta.get("versions"),
        "schema": meta["schema"],
        "fast_path": fast_path,
    }


def _register_hooks(app: Flask, metrics: telemetry.Telemetry) -> None:
    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-ID", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        labels = metric_labels(request.url_rule, request.method, response.status_code)
        metrics.requests.labels(**labels).inc()
        metrics.latency.labels(**labels).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def metric_labels(url_rule, method: str, status: int) -> dict[str, str]:
    """Route, method and status labels from closed sets: what a client sends cannot add a series."""
    return {
        "route": url_rule.rule if url_rule is not None else "<unmatched>",
        "method": method if method in _METHODS else "other",
        "status": str(status) if str(status) in _STATUSES else "other",
    }
