"""schemathesis against /openapi.json: generated requests, zero 5xx, zero non-conforming responses."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import CLASSIFICATION_SCENARIOS
from test_predict import app_of, kind_of, model_for

OPERATIONS = ["POST /predict", "GET /health", "GET /ready", "GET /metadata", "GET /metrics", "GET /monitoring/drift"]
# A classifier's document differs in its answers: labels and probabilities, its metadata and drift.
CLASSIFIER_OPERATIONS = ["POST /predict", "GET /metadata", "GET /monitoring/drift"]


@pytest.fixture(scope="module")
def schemas(served, served_scenario) -> dict:
    """Each model's document: this repository's own, and each classifier task's (forks.py's when needed)."""
    apps = {"own": app_of(served)}
    for kind in CLASSIFICATION_SCENARIOS:
        if kind != kind_of(served):
            apps[kind] = app_of(model_for(kind, served, served_scenario))
    return {name: schemathesis.openapi.from_wsgi("/openapi.json", app) for name, app in apps.items()}


def operation(schema, label: str):
    return next(op.ok() for op in schema.get_all_operations() if op.ok().label == label)


def test_every_documented_operation_is_exercised(schemas):
    for schema in schemas.values():
        assert sorted(op.ok().label for op in schema.get_all_operations()) == sorted(OPERATIONS)


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Operations without parameters or a body have no invalid variant to generate.
CASES = [("own", label, POSITIVE) for label in OPERATIONS] + [("own", "POST /predict", NEGATIVE)]
CASES += [(kind, label, POSITIVE) for kind in CLASSIFICATION_SCENARIOS for label in CLASSIFIER_OPERATIONS]
CASES += [(kind, "POST /predict", NEGATIVE) for kind in CLASSIFICATION_SCENARIOS]


@pytest.mark.parametrize(
    ("model", "label", "mode"), CASES, ids=[f"{model}-{label}-{mode.value}" for model, label, mode in CASES]
)
def test_operation_conforms_to_the_document(schemas, model, label, mode):
    """Valid (positive) and invalid (negative) requests alike get documented, well-formed answers."""
    if model not in schemas:
        pytest.skip(f"this repository's own model is {model}: its document is checked as 'own'")
    op = operation(schemas[model], label)

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        # Every built-in check: no 5xx, documented status codes, content types, response schemas.
        case.call_and_validate()

    check()
