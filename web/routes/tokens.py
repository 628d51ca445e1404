"""API tokens of the caller: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, Field

from persistence.records import TokenRecord
from services import auth
from web.models import Id, Input, Output, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["tokens"])


class TokenIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    expires_at: AwareDatetime | None = None


class TokenOut(Output):
    id: int
    name: str
    prefix: str
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class IssuedTokenOut(Output):
    token: TokenOut
    secret: str = Field(description="the token itself: shown this once, never again")


def token_out(token: TokenRecord) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=when(token.created_at),
        expires_at=when(token.expires_at),
        last_used_at=when(token.last_used_at),
        revoked_at=when(token.revoked_at),
    )


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(principal: CurrentUser, ctx: Context) -> list[TokenOut]:
    return [token_out(t) for t in auth.list_tokens(ctx.repo, principal.user_id)]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201)
def create_token(body: TokenIn, principal: CurrentUser, ctx: Context) -> IssuedTokenOut:
    issued = auth.issue_token(
        ctx.repo, principal.user_id, name=body.name, expires_at=body.expires_at, now=ctx.clock()
    )
    return IssuedTokenOut(token=token_out(issued.record), secret=issued.secret)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: Id, principal: CurrentUser, ctx: Context) -> Response:
    auth.revoke_token(ctx.repo, principal.user_id, token_id, now=ctx.clock())
    return Response(status_code=204)
