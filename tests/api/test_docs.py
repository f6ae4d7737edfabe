import re

from jsonschema import Draft202012Validator


def test_openapi_is_generated_from_the_feature_schema(client, served):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    record = spec["components"]["schemas"]["Record"]
    schema = served[1].schema
    assert set(record["properties"]) == set(schema.names)
    assert record["properties"]["ocean_proximity"]["enum"] == schema.features[-1].categories
    assert spec["components"]["schemas"]["Batch"]["properties"]["records"]["maxItems"] == served[0].serve.max_records
    # The documented example is a valid record by the documented schema.
    example = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]["one record"]
    Draft202012Validator(record).validate(example["value"])


def test_docs_page_renders_every_operation_offline(client):
    spec = client.get("/openapi.json").get_json()
    page = client.get("/docs").get_data(as_text=True)
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page
    assert "median_income" in page
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
