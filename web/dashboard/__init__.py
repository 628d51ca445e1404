"""The web dashboard: server-rendered pages (Jinja2) made live with htmx, on the same services
as the REST API. No build step: the JavaScript it uses (htmx, TradingView's lightweight-charts)
is vendored under web/static/vendor and served by the app; nothing loads from elsewhere.

Pages: login; overview (live); a strategy (chart, ladder, cycles, events, actions, parameters);
new strategy with a live preview; accounts (balances, key rotation, key warnings); settings
(password, API tokens, notification targets); a strategy's webhook signal URL on its page;
admin users. Every page and fragment answers for the session's user
only: another user's strategy or account is a 404 page, as in the API.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.dashboard import (
    account_pages,
    admin_pages,
    auth_pages,
    notify_pages,
    signal_pages,
    strategy_forms,
    strategy_pages,
)
from web.dashboard.render import STATIC_DIR, page
from web.dashboard.session import LoginRequired, login_redirect

NOT_PAGES = ("/api/", "/health", "/metrics", "/docs", "/openapi.json", "/static/")
TITLES = {401: "Log in again", 403: "Not allowed", 404: "Not found", 422: "Not valid"}
# lightweight-charts 5.3.0 adds one <style> element, for TradingView's attribution logo (its
# licence asks for the attribution): allowed by its hash, and by nothing broader. A new version
# whose style differs shows as a CSP error in the browser tests' console check.
CHART_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
# The pages run only our own scripts and styles: no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; script-src 'self'; style-src 'self' {CHART_STYLE}; "
        "img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# Pages show balances, positions and, once, a new token: no cache keeps them.
NO_STORE = [(b"cache-control", b"no-store")]


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None
) -> Response | None:
    """The HTML form of an error, on the dashboard's paths (None elsewhere: the API's JSON).
    An htmx request gets the message as text for the page's notice; a page, an error page."""
    if not is_page(request):
        return None
    if status == 500:
        message = "Something went wrong on our side; it has been logged."
    if request.headers.get("hx-request"):
        # Never swapped into the page (htmx would parse it as HTML): the page's script shows
        # it as text in its notice (the "martingale-error" event, static/app.js).
        events = json.dumps({"martingale-error": message})  # ASCII: a header may carry it
        extra = {"HX-Reswap": "none", "HX-Trigger": events}
        return PlainTextResponse(message, status_code=status, headers={**(headers or {}), **extra})
    context = {"status": status, "title": TITLES.get(status, "Error"), "message": message}
    answer = page(request, "error.html", context, status_code=status)
    if status == 500:  # answered outside the middleware that adds them to every other page
        answer.headers.update(SECURITY_HEADERS)
    return answer


async def _login_required(request: Request, _exc: Exception) -> Response:
    return login_redirect(request)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to the dashboard's answers (plain ASGI: the API's requests pass
    through untouched, at no cost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or (
            path.startswith(NOT_PAGES) and not path.startswith("/static/")
        ):
            await self.app(scope, receive, send)
            return

        extra = self.raw if path.startswith("/static/") else self.raw + NO_STORE

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        auth_pages,
        notify_pages,
        strategy_forms,
        strategy_pages,
        signal_pages,
        account_pages,
        admin_pages,
    ):
        app.include_router(module.router)
    app.add_middleware(SecurityHeaders)
