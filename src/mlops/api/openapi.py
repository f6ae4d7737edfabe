"""The OpenAPI document, generated from the model's feature schema (the one request validation uses)."""

from __future__ import annotations

import copy

from mlops.config import CLASSIFICATION, REGRESSION
from mlops.schema import FeatureSchema

_ERROR = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["record", "field", "message"],
                        "properties": {
                            "record": {"type": ["integer", "null"], "description": "index in `records`"},
                            "field": {"type": ["string", "null"]},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        },
        "request_id": {"type": ["string", "null"]},
    },
}


def _json(schema_ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _error(description: str) -> dict:
    return _json("#/components/schemas/Error", description)


def _outputs(classes: list | None) -> tuple[dict, dict]:
    """JSON Schemas of one prediction and of one record's probabilities (None for regression)."""
    if classes is None:
        return {"type": "number", "description": "the predicted value"}, {}
    label = {"enum": classes, "description": "the predicted label: the class with the highest probability"}
    probabilities = {
        "type": "object",
        "description": "each class's probability (they sum to 1)",
        "properties": {str(c): {"type": "number", "minimum": 0, "maximum": 1} for c in classes},
        "required": [str(c) for c in classes],
        "additionalProperties": False,
    }
    return label, probabilities


def build_spec(
    schema: FeatureSchema, *, model_version: str, max_records: int, auth: bool, classes: list | None = None
) -> dict:
    """The document for a regressor, or (with `classes`) a classifier that also returns probabilities."""
    record = copy.deepcopy(schema.record_json_schema())
    label, probabilities = _outputs(classes)
    one = {"prediction": label, **({"probabilities": probabilities} if classes is not None else {})}
    many = {
        "predictions": {"type": "array", "items": label},
        **({"probabilities": {"type": "array", "items": probabilities}} if classes is not None else {}),
    }
    target = {
        "type": ["object", "null"],
        "description": "the training target: its name and unit; a regressor's range and deciles, "
        "a classifier's classes (the labels it answers) and their shares",
    }
    if classes is not None:
        target["properties"] = {"classes": {"type": "array", "items": label}}
    example = record.pop("example")
    record.pop("title", None)
    predict_errors = {
        "400": _error("Malformed JSON, wrong shape, or invalid records (first 50 problems in `details`, all counted)"),
        "413": _error("Body larger than the configured limit"),
        "415": _error("Content-Type is not application/json"),
        "503": _error("Model not ready"),
    }
    if auth:
        predict_errors["401"] = _error("Missing or wrong API key")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Model API",
            "version": model_version,
            "description": "Predictions from the model trained by this repository's DVC pipeline. "
            "The request schema is the feature schema saved with the model.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predict one record or a batch",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/Record"},
                                        {"$ref": "#/components/schemas/Batch"},
                                    ]
                                },
                                "examples": {
                                    "one record": {"value": example},
                                    "batch": {"value": {"records": [example, example]}},
                                },
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Predictions, the model version and the request id",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            {"$ref": "#/components/schemas/Prediction"},
                                            {"$ref": "#/components/schemas/Predictions"},
                                        ]
                                    }
                                }
                            },
                        },
                        **predict_errors,
                    },
                    **({"security": [{"bearer": []}, {"apiKey": []}]} if auth else {}),
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: the process answers",
                    "responses": {"200": _json("#/components/schemas/Status", "Alive")},
                }
            },
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: model loaded and its self-check prediction succeeded",
                    "responses": {
                        "200": _json("#/components/schemas/Status", "Ready"),
                        "503": _json("#/components/schemas/Status", "Not ready, with the reason"),
                    },
                }
            },
            "/metadata": {
                "get": {
                    "operationId": "metadata",
                    "summary": "Commit, model and data hashes, params, metrics, MLflow run, schema, build time",
                    "responses": {"200": _json("#/components/schemas/Metadata", "Metadata")},
                }
            },
            "/monitoring/drift": {
                "get": {
                    "operationId": "drift",
                    "summary": "Drift of recent inputs and predictions from the training data (all workers)",
                    "responses": {
                        "200": _json("#/components/schemas/Drift", "Per-feature scores, the window and one verdict"),
                        "503": _json("#/components/schemas/Status", "The model bundle has no drift reference"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (all workers)",
                    "responses": {"200": {"description": "Exposition format", "content": {"text/plain": {}}}},
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record,
                "Batch": {
                    "type": "object",
                    "required": ["records"],
                    "additionalProperties": False,
                    "properties": {
                        "records": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": max_records,
                            "items": {"$ref": "#/components/schemas/Record"},
                        }
                    },
                },
                "Prediction": {
                    "type": "object",
                    "required": [*one, "model_version", "request_id"],
                    "properties": {**one, "model_version": {"type": "string"}, "request_id": {"type": "string"}},
                },
                "Predictions": {
                    "type": "object",
                    "required": [*many, "model_version", "request_id"],
                    "properties": {**many, "model_version": {"type": "string"}, "request_id": {"type": "string"}},
                },
                "Status": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
                },
                "Metadata": {
                    "type": "object",
                    "required": ["commit", "model", "task", "data", "params", "schema"],
                    "properties": {
                        "commit": {"type": "string"},
                        "build_time": {"type": ["string", "null"]},
                        "model": {"type": "object"},
                        "task": {"enum": [REGRESSION, CLASSIFICATION]},
                        "target": target,
                        "fast_path": {"type": ["object", "null"]},
                        "data": {"type": "object"},
                        "params": {"type": "object"},
                        "metrics": {"type": ["object", "null"]},
                        "mlflow": {"type": ["object", "null"]},
                        "schema": {"type": "object"},
                    },
                },
                "Error": _ERROR,
                "Drift": {
                    "type": "object",
                    "required": ["verdict", "rows", "min_rows", "thresholds", "features", "window"],
                    "properties": {
                        "verdict": {"enum": ["ok", "drift", "insufficient_data"]},
                        "rows": {"type": "integer"},
                        "min_rows": {"type": "integer"},
                        "thresholds": {"type": "object"},
                        "features": {"type": "array", "items": {"type": "object"}},
                        "prediction": {"type": ["object", "null"]},
                        "drifted": {"type": "array", "items": {"type": "string"}},
                        "window": {"type": "object"},
                        "model_version": {"type": "string"},
                        "model_age": {
                            "type": "object",
                            "properties": {
                                "trained_at": {"type": ["string", "null"]},
                                "age_days": {"type": ["number", "null"]},
                                "max_age_days": {"type": ["number", "null"]},
                                "stale": {"type": ["boolean", "null"]},
                            },
                        },
                    },
                },
            },
            **(
                {
                    "securitySchemes": {
                        "bearer": {"type": "http", "scheme": "bearer"},
                        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    }
                }
                if auth
                else {}
            ),
        },
    }
