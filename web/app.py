"""The FastAPI application: /api/v1 (OpenAPI at /docs), /health and /metrics.

Built by `create_app(ctx)` from a `WebContext` the composition root fills in; the app keeps no
state of its own beyond it. Endpoints are plain `def`: FastAPI runs them in its thread pool,
where the blocking database calls of services/ belong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from web import dashboard, errors, observability
from web.context import WebContext
from web.priority import TradingFirst
from web.routes import (
    accounts,
    auth,
    history,
    notifications,
    signals,
    strategies,
    tokens,
    users,
)

API_PREFIX = "/api/v1"
# The largest body a client has reason to send (an account with its keys, a strategy) is a few
# KB; anything past this is refused (413) before it is read into memory.
MAX_BODY_BYTES = 256 * 1024


def create_app(ctx: WebContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The thread pool every plain-def endpoint runs in: its size bounds how much of the
        # interpreter (the GIL the engines need) the API can take at once.
        anyio.to_thread.current_default_thread_limiter().total_tokens = ctx.workers
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="martingale",
        summary="Multi-tenant Martingale (DCA) trading service: management API",
        version="1",
        docs_url=None,  # served below, from the vendored Swagger UI
        redoc_url=None,
        openapi_url="/openapi.json",
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.ctx = ctx

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The interactive API page, on Swagger UI vendored in web/static/vendor: like the
        dashboard, it loads nothing from another host."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    errors.install(app, pages=dashboard.error_page)
    for module in (auth, users, tokens, accounts, strategies, history, signals, notifications):
        app.include_router(module.router, prefix=API_PREFIX)
    if ctx.observer is not None:
        app.state.observer = ctx.observer
        app.include_router(observability.router)
    dashboard.install(app)
    if ctx.trading_busy is not None:
        app.add_middleware(TradingFirst, busy=ctx.trading_busy, max_wait_s=ctx.yield_to_trading_s)
    return app
