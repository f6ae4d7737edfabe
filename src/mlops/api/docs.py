"""The OpenAPI document, a page that renders it, and a page to try a prediction. No CDN."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, render_template

from mlops.api.state import serving_state

blueprint = Blueprint("docs", __name__, template_folder="templates")


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(serving_state().openapi)


@blueprint.get("/docs")
def docs():
    state = serving_state()
    spec = state.openapi
    return render_template("docs.html", spec=spec, spec_json=json.dumps(spec, indent=2))


@blueprint.get("/")
def index():
    state = serving_state()
    return render_template(
        "index.html",
        schema=state.predictor.schema,
        example=state.predictor.schema.example_record(),
        metadata=state.metadata,
        auth=bool(state.settings.api_key),
    )
