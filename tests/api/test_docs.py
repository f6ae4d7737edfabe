import re

import pytest
from jsonschema import Draft202012Validator

from mlops.config import REGRESSION

from conftest import CLASSIFICATION_SCENARIOS
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
    assert all(name in page for name in spec["components"]["schemas"]["Record"]["properties"])
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from a CDN


def test_index_page_has_a_field_per_feature(client, served):
    page = client.get("/").get_data(as_text=True)
    for name in served[1].schema.names:
        assert f'name="{name}"' in page
    assert "curl -s -X POST" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_security_headers(client):
    response = client.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
