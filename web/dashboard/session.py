"""Who is looking at a dashboard page: the session cookie's user, or a redirect to /login.

Pages accept only the session cookie (an API token is for scripts). A state-changing request
needs the session's CSRF token in `X-CSRF-Token` (htmx sends it from the page's `hx-headers`)
and, when the browser says where it comes from, an Origin of this very host: two independent
defences, since the cookie is also SameSite=Strict.

A page asked for without a live session redirects to /login?next=<path>; an htmx request
answers 401 with `HX-Redirect`, so the whole page goes to the login form instead of a
fragment of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from persistence.records import UserRecord
from services.auth import (
    AuthenticationFailed,
    Forbidden,
    Principal,
    authenticate_session,
    check_csrf,
    csrf_token,
)
from web.security import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, Context


class LoginRequired(Exception):
    """No live session: the answer is the login page."""


@dataclass(frozen=True, slots=True)
class Viewer:
    principal: Principal
    user: UserRecord
    csrf: str

    @property
    def user_id(self) -> int:
        return self.principal.user_id

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def same_origin(request: Request) -> bool:
    """False when the browser names another site as the request's origin (a missing Origin is
    not proof of anything: the CSRF token or SameSite decide then)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def viewer(request: Request, ctx: Context) -> Viewer:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired
    try:
        principal = authenticate_session(ctx.repo, secret, now=ctx.clock())
    except AuthenticationFailed:
        raise LoginRequired from None
    if request.method not in SAFE_METHODS:
        if not same_origin(request):
            raise Forbidden("this request came from another site")
        if not check_csrf(secret, request.headers.get(CSRF_HEADER, "")):
            raise Forbidden("the page is out of date: reload it and try again")
    return Viewer(principal, ctx.repo.get_user(principal.user_id), csrf_token(secret))


CurrentViewer = Annotated[Viewer, Depends(viewer)]


def admin_viewer(who: CurrentViewer) -> Viewer:
    if not who.is_admin:
        raise Forbidden("this needs the admin role")
    return who


AdminViewer = Annotated[Viewer, Depends(admin_viewer)]


def safe_next(target: str | None) -> str:
    """Where a login may send the browser: a path on this site only (never //evil or http:)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
