"""schemathesis against the OpenAPI schema: whatever a client sends, the API never answers 500,
and every error is JSON with a message.

Every operation of /openapi.json gets generated requests, valid ones (positive) and invalid
ones (negative: wrong types, missing fields, out-of-range numbers), as an authenticated user,
on SQLite and MySQL. Bounded for CI: a fixed number of examples per operation and mode, no
deadline (these machines are noisy; bench/bench_api.py measures speed).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persistence.memory import MemoryRepository
from tests.web.conftest import World
from web.app import create_app
from web.context import WebContext

EXAMPLES = 12


def _labels() -> list[str]:
    app = create_app(WebContext(repo=MemoryRepository()))  # only to list the operations
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return sorted(result.ok().label for result in schema.get_all_operations())


OPERATIONS = _labels()


def test_the_schema_lists_the_api() -> None:
    assert len(OPERATIONS) >= 25
    assert "POST /api/v1/strategies" in OPERATIONS


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_request_makes_the_api_answer_500(
    world: World, label: str, mode: schemathesis.GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app)
    [operation] = [r.ok() for r in schema.get_all_operations() if r.ok().label == label]
    auth = {"Authorization": f"Bearer {world.alice.token}"}

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(mode))
        response = case.call(headers=auth)
        where = f"{case.method} {case.formatted_path} {case.query} {case.body!r}"
        assert response.status_code < 500, f"{where}: {response.text}"
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("message"), str) and body["message"], (where, body)

    check()
