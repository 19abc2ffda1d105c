"""Property-based requests generated from the OpenAPI document: never a 5xx.

Uses schemathesis's Python API directly (its pytest plugin's ``from_fixture`` does not work
with pytest 9): every operation gets a bounded number of valid and invalid examples.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.helpers.server import running_server

# every operation, up to 15 valid and 15 invalid requests each (65 operations: about 70 s
# on a quiet 2-core machine); no time budget: a loaded machine takes longer, and a timing
# is not what this test checks (pytest-timeout still ends a hang)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES_PER_OPERATION = 15


def test_generated_requests_never_get_a_server_error(tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
        auth = (server.access_key, server.secret_key)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 30
        tested = []
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
                def check(case) -> None:  # type: ignore[no-untyped-def]
                    if case.method == "PATCH" and case.path == "/api/v1/users/{name}":
                        case.path_parameters = {"name": "fuzzed-user"}  # keep the admin enabled
                    if case.path == "/api/v1/queues/claim" and isinstance(case.body, dict) \
                            and isinstance(case.body.get("wait_s"), int | float):
                        case.body["wait_s"] = min(case.body["wait_s"], 0.1)  # long polls
                    if case.path == "/api/v1/tasks/{task_id}/children/version" \
                            and isinstance(case.query, dict) \
                            and isinstance(case.query.get("wait_s"), int | float):
                        case.query["wait_s"] = min(case.query["wait_s"], 0.1)
                    case.call_and_validate(checks=[not_a_server_error], auth=auth, timeout=30)

                try:
                    check()
                except Unsatisfiable:
                    if mode is GenerationMode.POSITIVE:
                        raise
                    # nothing can be made invalid (an operation without inputs)
                tested.append(operation.label)
        assert len(tested) == 2 * len(operations)
        assert "internal server error" not in server.log().lower()
