"""The pages: the OpenAPI document and a page that renders it, a page to try a prediction, the
favicon. No CDN: everything a page needs comes from this app."""

from __future__ import annotations

import json
import math

from flask import Blueprint, Response, jsonify, render_template, request

from mlops.api.state import serving_state
from mlops.schema import FeatureSchema, FeatureSpec

blueprint = Blueprint("docs", __name__, template_folder="templates")

# A small chart mark, so that every page (and the JSON endpoints, opened in a browser) has an icon.
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#1f4e79"/>'
    b'<path d="M3 12 L6 8 L9 10 L13 4" stroke="#fff" stroke-width="1.8" fill="none" stroke-linecap="round"/>'
    b"</svg>"
)


def number(value: float) -> str:
    """A number as people write it: 1,000,000 and -124.35, never 1e+06."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.6g}"


def field_hint(spec: FeatureSpec) -> str:
    """What a numeric field accepts (the API's range) and what training saw."""
    if spec.min is not None and spec.max is not None:
        accepted = f"accepts {number(spec.min)} to {number(spec.max)}"
    elif spec.min is not None:
        accepted = f"accepts {number(spec.min)} or more"
    elif spec.max is not None:
        accepted = f"accepts up to {number(spec.max)}"
    else:
        accepted = "accepts any number"
    if spec.observed_min is not None and spec.observed_max is not None:
        accepted += f"; training saw {number(spec.observed_min)} to {number(spec.observed_max)}"
    return accepted


def shell_quote(text: str) -> str:
    """`text` as one single-quoted POSIX shell word (a ' inside becomes '\\'')."""
    return "'" + text.replace("'", "'\\''") + "'"


def curl_command(base_url: str, example: dict, auth: bool) -> str:
    """The curl line for one prediction: plain text, escaped by the template like any other."""
    lines = [f"curl -s -X POST {base_url.rstrip('/')}/predict", "  -H 'Content-Type: application/json'"]
    if auth:
        lines.append('  -H "Authorization: Bearer $API_KEY"')
    lines.append(f"  -d {shell_quote(json.dumps(example, ensure_ascii=False))}")
    return " \\\n".join(lines)


def target_of(metadata: dict) -> dict:
    """The target's name and unit (params.yaml may declare one), and the task, for the result line."""
    target = metadata.get("target") or {}
    return {
        "name": target.get("name") or "prediction",
        "unit": target.get("unit") or "",
        "task": metadata.get("task") or "regression",
    }


def units_of(metadata: dict, schema: FeatureSchema) -> dict[str, str]:
    """Each feature's unit as params.yaml declares it (data.columns.<name>.unit), or "" when there
    is none or the name already says it ("Area (m²)")."""
    columns = ((metadata.get("params") or {}).get("data") or {}).get("columns") or {}
    units = {spec.name: (columns.get(spec.name) or {}).get("unit") or "" for spec in schema.features}
    return {name: "" if unit.casefold() in name.casefold() else unit for name, unit in units.items()}


def pretty_json(value: object) -> str:
    """JSON for a <pre>: real characters (`<1H OCEAN`, `é`); the template HTML-escapes it."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(serving_state().openapi)


@blueprint.get("/docs")
def docs():
    spec = serving_state().openapi
    return render_template("docs.html", spec=spec, spec_json=pretty_json(spec), pretty_json=pretty_json)


@blueprint.get("/")
def index():
    state = serving_state()
    schema: FeatureSchema = state.predictor.schema
    example = schema.example_record()
    auth = bool(state.settings.api_key)
    return render_template(
        "index.html",
        schema=schema,
        example=example,
        hints={spec.name: field_hint(spec) for spec in schema.features if spec.type == "numeric"},
        units=units_of(state.metadata, schema),
        metadata=state.metadata,
        target=target_of(state.metadata),
        auth=auth,
        curl=curl_command(request.host_url, example, auth),
    )


@blueprint.get("/favicon.ico")
def favicon():
    return Response(FAVICON, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
