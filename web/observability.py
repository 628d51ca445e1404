"""Health and metrics routes: GET /health/live, /health/ready and /metrics.

No authentication: operators' probes and Prometheus scrape them. So they expose nothing of
users: no user or strategy names, no URLs with passwords, no error text that was not scrubbed
(`services.observe.checks`). The app factory puts a `ServiceView` on `app.state.observer`: the
service's `Observer` (`services.observe.observer_for(service)`), or its view across the bridge
when the web runs in a process of its own (`app.web_child`); and includes `router`.

Plain `def` handlers on purpose: FastAPI runs them in its thread pool, so a readiness check that
waits (boundedly) on the database or the root never blocks the event loop.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from services.observe import ServiceView

router = APIRouter(tags=["operations"])


def _observer(request: Request) -> ServiceView:
    return cast(ServiceView, request.app.state.observer)


@router.get("/health/live")
def live(request: Request) -> dict[str, str]:
    """200 while the process serves requests; touches neither the database nor the actors."""
    return _observer(request).live()


@router.get(
    "/health/ready",
    responses={503: {"description": "Not ready: the failing checks say why."}},
)
def ready(request: Request) -> JSONResponse:
    """200 when the database, the actor tree, every feed and every venue's breaker are well;
    503 otherwise, with every check and its detail."""
    report = _observer(request).ready()
    return JSONResponse(report.as_dict(), status_code=200 if report.ok else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(_observer(request).metrics(), media_type=CONTENT_TYPE_LATEST)
