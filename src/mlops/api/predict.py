"""POST /predict: one record or a batch, validated against the model's feature schema."""

from __future__ import annotations

import hmac
import time

import pydantic_core
from flask import Blueprint, g, jsonify, request

from mlops.api.errors import ApiError
from mlops.api.predictor import PredictionError
from mlops.api.state import serving_state

blueprint = Blueprint("predict", __name__)


def _check_api_key(expected: str | None) -> None:
    if not expected:
        return
    supplied = request.headers.get("X-API-Key", "")
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        supplied = authorization[7:].strip()
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _parse_body() -> object:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the records as JSON with 'Content-Type: application/json'")
    try:
        return pydantic_core.from_json(request.get_data(cache=False))
    except ValueError as error:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {error}") from None


def _records(body: object, max_records: int) -> tuple[list, bool]:
    """The records to predict and whether the request was a single record."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'expected a JSON object: one record, or {"records": [record, ...]}')
    if "records" not in body:
        return [body], True
    extra = sorted(set(body) - {"records"})
    if extra:
        raise ApiError(400, "bad_request", f"a batch holds only 'records'; unexpected key(s): {', '.join(extra)}")
    records = body["records"]
    if not isinstance(records, list):
        raise ApiError(400, "bad_request", "'records' must be a list of records")
    if not 1 <= len(records) <= max_records:
        raise ApiError(400, "bad_request", f"'records' must hold 1 to {max_records} records, got {len(records)}")
    return records, False


def _problems(errors) -> str:
    listed = "each is listed" if len(errors) == errors.total else f"the first {len(errors)} are listed"
    return f"{errors.total} problem(s) in the request; {listed} in details"


@blueprint.post("/predict")
def predict():
    state = serving_state()
    _check_api_key(state.settings.api_key)
    predictor = state.predictor
    if not predictor.ready:
        raise ApiError(503, "not_ready", predictor.not_ready_reason or "model not ready")
    started = time.perf_counter()
    try:
        records, single = _records(_parse_body(), state.settings.serve.max_records)
        valid, errors = predictor.schema.validate_records(records)
        if errors:
            raise ApiError(400, "invalid_input", _problems(errors), [error.model_dump() for error in errors])
        answer = predictor.predict(valid)
    except PredictionError as error:
        raise ApiError(500, "prediction_failed", str(error)) from None
    latency_ms = (time.perf_counter() - started) * 1000
    version = predictor.bundle.version
    state.prediction_log.write(
        request_id=g.request_id,
        model_version=version,
        records=valid,
        predictions=answer.values,
        probabilities=answer.probabilities,
        latency_ms=latency_ms,
    )
    state.telemetry.observe(answer)
    if single:
        extra = {"probabilities": answer.probabilities[0]} if answer.probabilities is not None else {}
        return jsonify(prediction=answer.values[0], **extra, model_version=version, request_id=g.request_id)
    extra = {"probabilities": answer.probabilities} if answer.probabilities is not None else {}
    return jsonify(predictions=answer.values, **extra, model_version=version, request_id=g.request_id)
