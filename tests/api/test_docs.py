import html
import json
import re

import markupsafe
import pytest
from jsonschema import Draft202012Validator

from mlops.api import docs
from mlops.config import REGRESSION
from mlops.drift import drift_rule
from mlops.schema import FeatureSpec

from conftest import CLASSIFICATION_SCENARIOS, api_settings, pick_feature
from test_predict import app_of, model_for


def enum_of(prop: dict) -> list | None:
    """The allowed values of a record property (a nullable one is anyOf [enum, null])."""
    for option in [prop, *prop.get("anyOf", [])]:
        if "enum" in option:
            return option["enum"]
    return None


def test_openapi_is_generated_from_the_feature_schema(client, served):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    record = spec["components"]["schemas"]["Record"]
    schema = served[1].schema
    assert set(record["properties"]) == set(schema.names)
    for feature in schema.features:
        assert enum_of(record["properties"][feature.name]) == feature.categories  # None for a number
    assert spec["components"]["schemas"]["Batch"]["properties"]["records"]["maxItems"] == served[0].serve.max_records
    # The documented example is a valid record by the documented schema.
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]["one record"]
    Draft202012Validator(record).validate(example["value"])


@pytest.mark.parametrize("kind", CLASSIFICATION_SCENARIOS)
def test_openapi_documents_a_classifiers_labels_and_probabilities(served, served_scenario, kind):
    model = model_for(kind, served, served_scenario)
    schemas = app_of(model).test_client().get("/openapi.json").get_json()["components"]["schemas"]
    classes = model[1].classes
    one, many = schemas["Prediction"]["properties"], schemas["Predictions"]["properties"]
    assert one["prediction"]["enum"] == many["predictions"]["items"]["enum"] == classes
    for probabilities in (one["probabilities"], many["probabilities"]["items"]):
        assert sorted(probabilities["required"]) == sorted(map(str, classes))
    assert {"prediction", "probabilities"} <= set(schemas["Prediction"]["required"])
    assert {"predictions", "probabilities"} <= set(schemas["Predictions"]["required"])
    assert schemas["Metadata"]["properties"]["target"]["properties"]["classes"]["items"]["enum"] == classes
    assert "task" in schemas["Metadata"]["required"]


def test_openapi_documents_a_regressors_values(served, served_scenario):
    schemas = app_of(model_for(REGRESSION, served, served_scenario)).test_client().get("/openapi.json").get_json()
    one = schemas["components"]["schemas"]["Prediction"]["properties"]
    assert one["prediction"]["type"] == "number"
    assert "probabilities" not in one


def test_docs_page_renders_every_operation_offline(client):
    spec = client.get("/openapi.json").get_json()
    page = client.get("/docs").get_data(as_text=True)
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page
    assert all(html.escape(name) in page for name in spec["components"]["schemas"]["Record"]["properties"])
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from a CDN


def test_index_page_has_a_field_per_feature(client, served):
    page = client.get("/").get_data(as_text=True)
    for name in served[1].schema.names:
        assert f'name="{html.escape(name)}"' in page
    assert "curl -s -X POST" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_security_headers(client):
    response = client.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def curl_payload(page: str) -> dict:
    """The JSON after `-d` in the page's curl snippet, as a shell would pass it."""
    import shlex

    snippet = html.unescape(re.search(r'<pre id="curl">(.*?)</pre>', page, re.S).group(1))
    words = shlex.split(snippet.replace("\\\n", " "))
    return json.loads(words[words.index("-d") + 1])


def test_pages_show_real_characters_not_json_escapes(client, served):
    schema = served[1].schema
    example = schema.example_record()
    index, docs = client.get("/").get_data(as_text=True), client.get("/docs").get_data(as_text=True)
    assert curl_payload(index) == example  # a shell passes exactly the example record
    for page in (index, docs):
        assert not re.search(r"\\u00(3c|3e|26|27)", page)  # tojson's escapes, shown as text
    category = pick_feature(schema, kind="categorical").typical
    assert json.dumps(category) in html.unescape(docs)  # the example category reads as written


def test_curl_quotes_any_value_for_the_shell():
    import shlex

    example = {"name": "it's <b>&", "x": 1.5}
    command = docs.curl_command("http://h:1/", example, auth=True)
    words = shlex.split(command.replace("\\\n", " "))
    assert words[:5] == ["curl", "-s", "-X", "POST", "http://h:1/predict"]
    assert json.loads(words[words.index("-d") + 1]) == example
    assert "Authorization: Bearer $API_KEY" in words


@pytest.mark.parametrize(
    ("bounds", "hint"),
    [
        ({"min": 0, "max": 1000000}, "accepts 0 to 1,000,000; training saw -1.5 to 2,500"),
        ({"min": 0.5, "max": None}, "accepts 0.5 or more; training saw -1.5 to 2,500"),
        ({"min": None, "max": 10}, "accepts up to 10; training saw -1.5 to 2,500"),
        ({"min": None, "max": None}, "accepts any number; training saw -1.5 to 2,500"),
    ],
)
def test_a_hint_gives_the_accepted_range_next_to_the_range_seen_in_training(bounds, hint):
    spec = FeatureSpec(name="x", type="numeric", nullable=False, observed_min=-1.5, observed_max=2500.0, **bounds)
    assert docs.field_hint(spec) == hint


def test_numeric_inputs_carry_the_schemas_range(client, served):
    page = client.get("/").get_data(as_text=True)
    for spec in served[1].schema.features:
        if spec.type != "numeric":
            continue
        tag = re.search(rf'<input [^>]*name="{re.escape(spec.name)}"[^>]*>', page, re.S).group(0)
        assert (f'min="{spec.min}"' in tag) == (spec.min is not None)
        assert (f'max="{spec.max}"' in tag) == (spec.max is not None)
        assert docs.field_hint(spec) in page


def test_the_result_names_the_target_and_its_unit_when_params_declare_one(app):
    target = app.extensions["mlops"].metadata["target"]
    target["unit"] = None  # what a bundle without a declared unit holds
    page = app.test_client().get("/").get_data(as_text=True)
    assert f'<span id="result-target">{target["name"]}</span>' in page
    assert '<span class="muted" id="result-unit"></span>' in page
    target["unit"] = "kg CO₂e"
    page = app.test_client().get("/").get_data(as_text=True)
    assert '<span class="muted" id="result-unit">kg CO₂e</span>' in page
    assert f"<strong>{target['name']}</strong> (kg CO₂e)" in page


def test_a_field_shows_its_unit_when_params_declare_one(app, served):
    columns = app.extensions["mlops"].metadata["params"]["data"]["columns"]
    spec = pick_feature(served[1].schema, kind="numeric")
    columns[spec.name]["unit"] = None
    label = re.compile(
        rf'<label for="f-\d+">{re.escape(html.escape(spec.name))}( <span class="unit">\(([^)]*)\)</span>)?'
    )
    page = app.test_client().get("/").get_data(as_text=True)
    assert label.search(page).group(1) is None
    columns[spec.name]["unit"] = "m²"
    page = app.test_client().get("/").get_data(as_text=True)
    assert label.search(page).group(2) == "m²"
    columns[spec.name]["unit"] = spec.name[-3:]  # the name says it already: not twice
    page = app.test_client().get("/").get_data(as_text=True)
    assert label.search(page).group(1) is None


def test_favicon_is_served_and_linked(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg")
    assert '<link rel="icon" type="image/svg+xml" href="/favicon.ico">' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/docs", "/monitoring"])
def test_every_page_links_back_and_to_the_drift_view(client, path):
    page = client.get(path).get_data(as_text=True)
    for link in ('href="/"', 'href="/docs"', 'href="/monitoring"', 'href="/metadata"', 'href="/metrics"'):
        assert link in page
    assert 'aria-current="page"' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_the_drift_page_shows_the_verdict_and_every_feature(client, served):
    for record in [served[1].schema.example_record()] * 3:
        assert client.post("/predict", json=record).status_code == 200
    page = client.get("/monitoring").get_data(as_text=True)
    report = client.get("/monitoring/drift").get_json()
    assert report["verdict"] == "insufficient_data"
    assert f"{report['window']['rows']} of the {report['min_rows']} rows a verdict needs" in page
    assert 'href="/monitoring/drift"' in page
    rule = drift_rule(report["thresholds"]["psi"], report["thresholds"]["ks_alpha"])
    assert f"A feature has drifted when {markupsafe.escape(rule)}." in page  # the rule drift.md states


def test_the_drift_page_says_when_there_is_no_reference(served):
    from mlops.api import create_app

    settings = api_settings(served, prediction_log_stdout=False, reference=served[3] / "missing.json")
    response = create_app(settings).test_client().get("/monitoring")
    assert response.status_code == 503
    assert "Unavailable: the model bundle has no drift reference." in response.get_data(as_text=True)
