"""Property-based API tests from the service's own OpenAPI schema (schemathesis).

Every operation gets generated requests (with an admin key, so writes are exercised too) on a
copy of the sample workspace; no response may be a 5xx, and every response must match the
documented status codes, content types and schemas.  Bounded: ``MAX_EXAMPLES`` per operation.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import auth

MAX_EXAMPLES = 12
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


def test_no_server_errors_and_schema_conformance(app, client):  # client runs the lifespan
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls = {"n": 0}
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            calls["n"] += 1
            case.call_and_validate(headers=auth("admin"), checks=CHECKS)

        run()
    assert calls["n"] >= 300
