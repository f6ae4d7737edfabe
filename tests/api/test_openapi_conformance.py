"""schemathesis against /openapi.json: generated requests, zero 5xx, zero non-conforming responses."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mlops.api import create_app

from conftest import api_settings

OPERATIONS = ["POST /predict", "GET /health", "GET /ready", "GET /metadata", "GET /metrics", "GET /monitoring/drift"]


@pytest.fixture(scope="module")
def api_schema(served):
    app = create_app(api_settings(served, prediction_log_stdout=False))
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


def test_every_documented_operation_is_exercised(api_schema):
    assert sorted(op.ok().label for op in api_schema.get_all_operations()) == sorted(OPERATIONS)


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Operations without parameters or a body have no invalid variant to generate.
CASES = [(label, POSITIVE) for label in OPERATIONS] + [("POST /predict", NEGATIVE)]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_operation_conforms_to_the_document(api_schema, label, mode):
    """Valid (positive) and invalid (negative) requests alike get documented, well-formed answers."""
    operation = next(op.ok() for op in api_schema.get_all_operations() if op.ok().label == label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        # Every built-in check: no 5xx, documented status codes, content types, response schemas.
        case.call_and_validate()

    check()
