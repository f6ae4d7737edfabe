"""Prometheus metrics, correct under several gunicorn workers (prometheus_client multiprocess mode).

gunicorn's config sets PROMETHEUS_MULTIPROC_DIR before the app is imported; each worker then
writes its samples to files there and /metrics aggregates every worker's files.
"""

from __future__ import annotations

import math
import os

from flask import Blueprint, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONFIDENCE_BUCKETS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Telemetry:
    """The service's metrics, in a registry of their own (so tests can build many apps)."""

    def __init__(
        self,
        *,
        model_version: str,
        commit: str,
        prediction_buckets: list[float],
        classes: list | None = None,
        trained_timestamp: float | None = None,
    ):
        """Regression observes predicted values in `prediction_buckets`; classification (`classes`)
        counts predictions per label and observes the winning probability."""
        self.registry = CollectorRegistry()
        labels = ("route", "method", "status")
        self.requests = Counter("http_requests", "HTTP requests", labels, registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.classes = classes
        # Only the task's own prediction metrics: a series that can never move would mislead a dashboard.
        if classes is None:
            self.predictions = Histogram(
                "model_prediction_value", "Predicted values", buckets=prediction_buckets, registry=self.registry
            )
        else:
            self.labels = Counter(
                "model_predictions_by_label",
                "Predictions per predicted label (classification)",
                ("label",),
                registry=self.registry,
            )
            self.confidence = Histogram(
                "model_prediction_confidence",
                "Probability of the predicted label (classification)",
                buckets=CONFIDENCE_BUCKETS,
                registry=self.registry,
            )
            # Every label from the start, so a label never predicted shows as 0 rather than absent.
            for label in classes:
                self.labels.labels(label=str(label))
        self.model_calls = Histogram(
            "model_batch_rows", "Rows per model call (micro-batching)", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.model_info = Gauge(
            "model_info",
            "The model being served",
            ("model_version", "commit"),
            multiprocess_mode="max",
            registry=self.registry,
        )
        self.model_info.labels(model_version=model_version, commit=commit).set(1)
        self._drift_features: set[str] = set()
        if trained_timestamp is not None:  # only when known: an unset gauge would read 0, i.e. 1970
            Gauge(
                "model_trained_timestamp_seconds",
                "When the model was trained (Unix time): its age is time() - this",
                multiprocess_mode="max",
                registry=self.registry,
            ).set(trained_timestamp)
        self.drift_psi = Gauge(
            "model_drift_psi",
            "Population stability index of recent data vs the training reference",
            ("feature",),
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.prediction_log_errors = Counter(
            "prediction_log_errors",
            "Prediction log lines that could not be written (disk full, unwritable file); predictions were answered",
            registry=self.registry,
        )
        self.drift_detected = Gauge(
            "model_drift_detected",
            "1 when the latest drift check found drift, 0 when not, NaN while there is too little data for a verdict",
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )

    def observe(self, answer) -> None:
        """One request's predictions (an mlops.api.predictor.Answer)."""
        if answer.probabilities is None:
            for value in answer.values:
                self.predictions.observe(value)
            return
        for label, probabilities in zip(answer.values, answer.probabilities, strict=True):
            self.labels.labels(label=str(label)).inc()
            self.confidence.observe(probabilities[str(label)])

    def record_drift(self, report: dict) -> None:
        if report["verdict"] not in ("ok", "drift"):
            self._forget_drift()
            return
        for item in [*report["features"], report["prediction"]]:
            self.drift_psi.labels(feature=item["name"]).set(item["psi"])
            self._drift_features.add(item["name"])
        self.drift_detected.set(1 if report["verdict"] == "drift" else 0)

    def _forget_drift(self) -> None:
        """Not enough data for a verdict: the drift gauges say so (NaN) instead of an old verdict."""
        self.drift_detected.set(math.nan)
        for name in self._drift_features:
            self.drift_psi.labels(feature=name).set(math.nan)

    def exposition(self) -> bytes:
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def prediction_buckets(target: dict) -> list[float]:
    """Histogram buckets at the training target's deciles, so the shape is comparable to training."""
    if "min" not in target:  # classification: labels are counted, not bucketed
        return [0.0]
    edges = sorted({float(target["min"]), *map(float, target.get("deciles", [])), float(target["max"])})
    return edges or [0.0]


blueprint = Blueprint("telemetry", __name__)


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition of every worker's metrics (drift gauges refreshed on each scrape)."""
    state = current_app.extensions["mlops"]
    if state.monitoring is not None:
        state.telemetry.record_drift(state.monitoring.report())
    return Response(state.telemetry.exposition(), content_type=CONTENT_TYPE_LATEST)
