"""Log in (a dashboard session), log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import Field

from services.auth import (
    SESSION_TTL,
    authenticate_password,
    csrf_token,
    end_session,
    issue_session,
)
from web.models import Input, Output
from web.routes.users import UserOut, user_out
from web.security import (
    SESSION_COOKIE,
    Context,
    CurrentUser,
    clear_session_cookie,
    set_session_cookie,
)

router = APIRouter(tags=["auth"])


class LoginIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)] = Field(repr=False)


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
    address = request.client.host if request.client else "unknown"
    principal = authenticate_password(
        ctx.repo, ctx.limiter, body.name, body.password, address=address, now=now
    )
    issued = issue_session(ctx.repo, principal.user_id, now=now)
    max_age = int(SESSION_TTL.total_seconds())
    set_session_cookie(response, issued.secret, max_age=max_age, secure=ctx.secure_cookies)
    user = ctx.repo.get_user(principal.user_id)
    return LoginOut(user=user_out(user), csrf_token=csrf_token(issued.secret), expires_in=max_age)


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
