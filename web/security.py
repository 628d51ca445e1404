"""Who is asking: a bearer API token, or a dashboard session cookie with its CSRF token.

- `Authorization: Bearer mgt_...`: API tokens (services.auth), for scripts and tools.
- Cookie `mg_session` (HttpOnly, SameSite=Strict, Secure unless the server config turns it off
  for plain-HTTP development): the dashboard's session. A state-changing request made with the
  cookie must carry the session's CSRF token in `X-CSRF-Token` (the login answer gives it), so a
  page on another site cannot make the browser act; bearer requests need none (a browser never
  adds that header on its own).

Every failure is 401 with the same message (services.auth.AuthenticationFailed), whatever was
wrong: no hint whether a token exists, expired or was revoked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from services.auth import (
    SESSION_TTL,
    AuthenticationFailed,
    Forbidden,
    Principal,
    authenticate_session,
    authenticate_token,
    check_csrf,
    issue_session,
)
from web.context import WebContext

SESSION_COOKIE = "mg_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="an API token: `Bearer mgt_...`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="dashboard session")


async def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


Context = Annotated[WebContext, Depends(context)]


def current_principal(
    request: Request,
    ctx: Context,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    now = ctx.clock()
    if bearer is not None:
        return authenticate_token(ctx.repo, bearer.credentials, now=now)
    if session:
        principal = authenticate_session(ctx.repo, session, now=now)
        if request.method not in SAFE_METHODS and not check_csrf(
            session, request.headers.get(CSRF_HEADER, "")
        ):
            raise Forbidden(f"a request made with the session cookie needs its {CSRF_HEADER}")
        return principal
    raise AuthenticationFailed("authentication required")


CurrentUser = Annotated[Principal, Depends(current_principal)]


def admin_principal(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs the admin role")
    return principal


Admin = Annotated[Principal, Depends(admin_principal)]


SESSION_MAX_AGE = int(SESSION_TTL.total_seconds())


def client_address(request: Request) -> str:
    """Whom login limits count a failure against (the peer, as the server sees it)."""
    return request.client.host if request.client else "unknown"


def open_session(response: Response, ctx: WebContext, user_id: int, *, now: datetime) -> str:
    """A new dashboard session for the user, its cookie set on `response`; the secret (for
    the caller's CSRF token, never shown)."""
    issued = issue_session(ctx.repo, user_id, now=now)
    set_session_cookie(response, issued.secret, max_age=SESSION_MAX_AGE, secure=ctx.secure_cookies)
    return issued.secret


def set_session_cookie(response: Response, secret: str, *, max_age: int, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict"
    )
