"""Log in (a dashboard session), log out, who am I, and change my own password.

Passwords in bodies are taken exactly as sent: the bodies' usual stripping of surrounding
whitespace (`web.models.Input`) would make a password that has some (the rules allow it)
impossible to log in with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints

from services.auth import (
    authenticate_password,
    change_password,
    csrf_token,
    end_session,
)
from web.models import Input, Output
from web.routes.users import UserOut, user_out
from web.security import (
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Context,
    CurrentUser,
    clear_session_cookie,
    client_address,
    open_session,
)

router = APIRouter(tags=["auth"])

Password = Annotated[
    str, StringConstraints(strip_whitespace=False), Field(min_length=1, max_length=1024)
]


class LoginIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password = Field(repr=False)


class PasswordChangeIn(Input):
    current_password: Password = Field(repr=False)
    # The rules (12 characters and up) are the service's, so a short one is a 422 saying them.
    new_password: Password = Field(repr=False)


class LoginOut(Output):
    user: UserOut
    csrf_token: str
    expires_in: int


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response, ctx: Context) -> LoginOut:
    """Check a password (rate limited per user name and per address) and open a session: the
    cookie is HttpOnly and SameSite=Strict; state-changing requests made with it send
    `csrf_token` in the X-CSRF-Token header."""
    now = ctx.clock()
    principal = authenticate_password(
        ctx.repo, ctx.limiter, body.name, body.password, address=client_address(request), now=now
    )
    secret = open_session(response, ctx, principal.user_id, now=now)
    user = ctx.repo.get_user(principal.user_id)
    return LoginOut(user=user_out(user), csrf_token=csrf_token(secret), expires_in=SESSION_MAX_AGE)


@router.post("/auth/logout", status_code=204)
def logout(principal: CurrentUser, request: Request, ctx: Context) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session and principal.kind == "session":
        end_session(ctx.repo, session, now=ctx.clock())
    response = Response(status_code=204)
    clear_session_cookie(response, secure=ctx.secure_cookies)
    return response


@router.get("/me", response_model=UserOut)
def me(principal: CurrentUser, ctx: Context) -> UserOut:
    return user_out(ctx.repo.get_user(principal.user_id))


@router.put("/me/password", status_code=204)
def put_password(
    body: PasswordChangeIn, principal: CurrentUser, request: Request, ctx: Context
) -> Response:
    """Change my own password, giving the current one: a wrong one is 401 and counts as a
    failed login (the same limits, 429 past them); a new one breaking the rules, or the same
    as the current one, is 422 naming `new_password`.

    Every dashboard session of the user ends (whoever changes a password because it leaked
    wants them gone); API tokens stay. A caller using a session stays logged in: the answer
    sets a fresh session cookie and carries its CSRF token in the X-CSRF-Token header, which
    later requests must send in place of the old one."""
    now = ctx.clock()
    change_password(
        ctx.repo,
        ctx.limiter,
        principal.user_id,
        body.current_password,
        body.new_password,
        address=client_address(request),
        now=now,
    )
    response = Response(status_code=204)
    if principal.kind == "session":
        secret = open_session(response, ctx, principal.user_id, now=now)
        response.headers[CSRF_HEADER] = csrf_token(secret)
    return response
