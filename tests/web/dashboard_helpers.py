"""Logging in to the dashboard the way a browser does, for the dashboard's tests."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, Seeded, World

CSRF = re.compile(r'"X-CSRF-Token": "([0-9a-f]{64})"')


class Browser:
    """A TestClient with its own cookie jar, logged in as one user, that sends the page's CSRF
    token with every state-changing request, as htmx does."""

    def __init__(self, world: World, who: Seeded) -> None:
        self.client = TestClient(world.client.app, raise_server_exceptions=False)
        answer = self.client.post(
            "/login", data={"name": who.name, "password": PASSWORD, "next": "/"}
        )
        assert answer.status_code == 200, answer.text
        found = CSRF.search(answer.text)
        assert found is not None, "the overview page carries the CSRF token"
        self.csrf = found.group(1)

    def get(self, path: str, **kwargs: object) -> object:
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> object:
        headers = {"HX-Request": "true"}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.post(path, data=data or {}, headers=headers)
