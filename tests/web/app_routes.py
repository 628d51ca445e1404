"""Every (method, path) an app serves, through the routers it included.

FastAPI (0.16x) keeps an included router as one `_IncludedRouter` entry in `app.routes`, not
as the routes it holds, so a test that looks for `APIRoute`s in `app.routes` finds none and
passes whatever the app serves. This walks the included routers, with their prefixes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = _walk(app.routes, "")
    assert ("GET", "/health/live") in found or ("GET", "/login") in found, "the walk found routes"
    return found


def _walk(routes: list[Any], prefix: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(method, prefix + route.path) for method in route.methods}
            continue
        context = getattr(route, "include_context", None)
        inner = getattr(route, "original_router", None)
        if context is not None and inner is not None:
            found |= _walk(inner.routes, prefix + context.prefix)
    return found
