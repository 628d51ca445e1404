"""schemathesis against the OpenAPI schema: whatever a client sends, the API never answers 500.

Every operation of /openapi.json gets generated requests (valid and invalid bodies, paths and
queries) as an authenticated user, on SQLite and MySQL. Bounded for CI: a fixed number of
examples per operation, no deadline (these machines are noisy; a slow answer is not a failure
here, bench/bench_api.py measures speed).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.web.conftest import World

EXAMPLES = 15


@pytest.fixture
def api_schema(world: World) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", world.client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_the_api_answer_500(case: schemathesis.Case, world: World) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {world.alice.token}"}
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("message"), str) and body["message"], body
