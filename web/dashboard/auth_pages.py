"""Log in and out, and the account settings page: password change, API tokens and (from
`notify_pages`) notification targets.

The login form posts name and password (rate limited per name and per address, like the REST
login) and, on success, gets the session cookie and a redirect to where the person was going.
A login posted from another site (Origin of another host) is refused: that is login CSRF.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain.errors import ValidationError
from services.auth import (
    AuthenticationFailed,
    LoginThrottled,
    authenticate_password,
    change_password,
    end_session,
)
from services.tokens import issue_token, list_tokens, revoke_token
from web.dashboard.notify_pages import notify_context
from web.dashboard.render import page
from web.dashboard.session import CurrentViewer, safe_next, same_origin
from web.dashboard.strategy_forms import Form
from web.models import Id
from web.security import (
    SESSION_COOKIE,
    Context,
    clear_session_cookie,
    client_address,
    open_session,
)

router = APIRouter(include_in_schema=False)

MAX_DAYS = 3650


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/"
) -> HTMLResponse:
    return page(request, "login.html", {"next": safe_next(next), "name": "", "error": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, values: Form, ctx: Context) -> Response:
    name = values.get("name", "")[:64]
    target = safe_next(values.get("next"))
    context = {"next": target, "name": name, "error": ""}
    if not same_origin(request):
        context["error"] = "This login form came from another site."
        return page(request, "login.html", context, status_code=403)
    now = ctx.clock()
    try:
        principal = authenticate_password(
            ctx.repo,
            ctx.limiter,
            name,
            values.get("password", ""),
            address=client_address(request),
            now=now,
        )
    except LoginThrottled:
        context["error"] = "Too many failed logins; try again later."
        return page(request, "login.html", context, status_code=429)
    except AuthenticationFailed:
        context["error"] = "Wrong user name or password."
        return page(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    open_session(response, ctx, principal.user_id, now=now)
    return response


@router.post("/logout")
def logout(request: Request, who: CurrentViewer, ctx: Context) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        end_session(ctx.repo, secret, now=ctx.clock())
    response = Response(headers={"HX-Redirect": "/login"})
    clear_session_cookie(response, secure=ctx.secure_cookies)
    return response


@router.get("/settings", response_class=HTMLResponse)
def settings(
    request: Request, who: CurrentViewer, ctx: Context, changed: bool = False
) -> HTMLResponse:
    context = notify_context(
        who, ctx, nav="settings", tokens=list_tokens(ctx.repo, who.user_id), changed=changed
    )
    return page(request, "settings.html", context)


@router.post("/ui/settings/password", response_class=HTMLResponse)
def password(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> Response:
    """Change one's own password. Every session ends (`change_password`), so this one gets a
    new session cookie and the page reloads with the new session's CSRF token."""
    now = ctx.clock()
    new = values.get("new_password", "")
    try:
        if new != values.get("new_password_again", ""):
            raise ValidationError("the two new passwords differ", field="new_password_again")
        change_password(
            ctx.repo,
            ctx.limiter,
            who.user_id,
            values.get("current_password", ""),
            new,
            address=client_address(request),
            now=now,
        )
    except LoginThrottled:
        return _password_problem(request, "Too many failed attempts; try again later.", 429)
    except AuthenticationFailed:
        return _password_problem(request, "The current password is wrong; nothing changed.", 401)
    except ValidationError as error:
        return _password_problem(request, str(error), 422)
    response = Response(headers={"HX-Redirect": "/settings?changed=true"})
    open_session(response, ctx, who.user_id, now=now)
    return response


def _password_problem(request: Request, message: str, status: int) -> HTMLResponse:
    # 401 here is a wrong current password, not a lost session: the fragment says so in place
    return page(request, "parts/problem.html", {"message": message}, status_code=status)


@router.post("/ui/tokens", response_class=HTMLResponse)
def create_token(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> Response:
    """A new API token: its secret is shown once, in this answer, and never again."""
    now = ctx.clock()
    days = values.get("expires_days")
    error = ""
    issued = None
    try:
        expires = None
        if days:
            if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= MAX_DAYS:
                raise ValidationError(f"a whole number from 1 to {MAX_DAYS}", field="expires_days")
            expires = now + timedelta(days=int(days))
        issued = issue_token(
            ctx.repo, who.user_id, name=values.get("name", ""), now=now, expires_at=expires
        )
    except ValidationError as problem:
        error = str(problem)
    context = {"viewer": who, "tokens": list_tokens(ctx.repo, who.user_id), "issued": issued}
    context["token_error"] = error
    return page(request, "parts/tokens.html", context, status_code=422 if error else 200)


@router.post("/ui/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, token_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    revoke_token(ctx.repo, who.user_id, token_id, now=ctx.clock())
    context = {"viewer": who, "tokens": list_tokens(ctx.repo, who.user_id), "issued": None}
    return page(request, "parts/tokens.html", context)
