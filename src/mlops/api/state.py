"""What one app instance holds: settings, the model, metrics and the prediction log."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from mlops.api.monitoring import Monitoring
from mlops.api.prediction_log import PredictionLog
from mlops.api.predictor import Predictor
from mlops.api.settings import ApiSettings
from mlops.api.telemetry import Telemetry


@dataclass(frozen=True)
class ServingState:
    settings: ApiSettings
    predictor: Predictor
    telemetry: Telemetry
    prediction_log: PredictionLog
    metadata: dict  # the /metadata document, built once at startup
    openapi: dict
    monitoring: Monitoring | None  # None when the bundle has no drift reference


def serving_state() -> ServingState:
    return current_app.extensions["mlops"]
