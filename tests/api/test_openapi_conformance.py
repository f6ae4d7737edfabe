"""schemathesis against /openapi.json: generated requests, zero 5xx, zero non-conforming responses."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from conftest import TASK_SCENARIOS
from test_predict import app_of, kind_of, model_for

OPERATIONS = ["POST /predict", "GET /health", "GET /ready", "GET /metadata", "GET /metrics", "GET /monitoring/drift"]
# The operations whose answers depend on the task (values, or labels and probabilities).
BY_TASK = ["POST /predict", "GET /metadata", "GET /monitoring/drift"]


@pytest.fixture(scope="module")
def api_schema(served, served_scenario):
    """api_schema(kind): the document of a model of that task (this repository's own for its task, or "own")."""
    schemas: dict = {}

    def of(kind: str):
        kind = kind_of(served) if kind == "own" else kind
        if kind not in schemas:
            schemas[kind] = schemathesis.openapi.from_wsgi(
                "/openapi.json", app_of(model_for(kind, served, served_scenario))
            )
        return schemas[kind]

    return of


def test_every_documented_operation_is_exercised(api_schema):
    for kind in TASK_SCENARIOS:
        assert sorted(op.ok().label for op in api_schema(kind).get_all_operations()) == sorted(OPERATIONS)


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Each task's model for the operations that depend on it; this repository's own for the others.
# Operations without parameters or a body have no invalid variant to generate.
CASES = [(kind, label, POSITIVE) for kind in TASK_SCENARIOS for label in BY_TASK]
CASES += [(kind, "POST /predict", NEGATIVE) for kind in TASK_SCENARIOS]
CASES += [("own", label, POSITIVE) for label in OPERATIONS if label not in BY_TASK]


@pytest.mark.parametrize(
    ("kind", "label", "mode"), CASES, ids=[f"{kind}-{label}-{mode.value}" for kind, label, mode in CASES]
)
def test_operation_conforms_to_the_document(api_schema, kind, label, mode):
    """Valid (positive) and invalid (negative) requests alike get documented, well-formed answers."""
    operation = next(op.ok() for op in api_schema(kind).get_all_operations() if op.ok().label == label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        # Every built-in check: no 5xx, documented status codes, content types, response schemas.
        case.call_and_validate()

    check()
