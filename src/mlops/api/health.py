"""Liveness, readiness and what is being served."""

from __future__ import annotations

from flask import Blueprint, jsonify

from mlops.api.state import serving_state

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health():
    """Liveness: the process answers. Never touches the model."""
    return jsonify(status="ok")


@blueprint.get("/ready")
def ready():
    """Readiness: the model loaded and its self-check prediction succeeded."""
    predictor = serving_state().predictor
    if predictor.ready:
        return jsonify(status="ready", model_version=predictor.bundle.version)
    return jsonify(status="not_ready", reason=predictor.not_ready_reason), 503


@blueprint.get("/metadata")
def metadata():
    return jsonify(serving_state().metadata)
