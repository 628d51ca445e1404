"""Users: admins manage them; everyone else only sees themselves (GET /me)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from persistence.records import UserRecord
from services import users
from web.models import Id, Input, Output, when
from web.security import Admin, Context

router = APIRouter(tags=["users"])

Role = Literal["admin", "user"]


class UserOut(Output):
    id: int
    name: str
    email: str | None
    role: str
    has_password: bool
    source: str  # "config": managed by the config file's sync; "api": by the API
    created_at: str | None
    disabled: bool  # an admin disabled it: no login, token or session; its strategies stopped


def user_out(user: UserRecord) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        has_password=user.has_password,
        source=user.source,
        created_at=when(user.created_at),
        disabled=user.disabled,
    )


class UserIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    email: Annotated[str | None, Field(max_length=254)] = None
    role: Role = "user"


class UserPatch(Input):
    """At least one of the two (422 naming "role" when neither is given)."""

    role: Role | None = None
    disabled: bool | None = None


@router.get("/users", response_model=list[UserOut])
def list_users(_admin: Admin, ctx: Context) -> list[UserOut]:
    return [user_out(user) for user in users.list_users(ctx.repo)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, _admin: Admin, ctx: Context) -> UserOut:
    user = users.create_user(ctx.repo, body.name, email=body.email, role=body.role, now=ctx.clock())
    return user_out(user)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: Id, _admin: Admin, ctx: Context) -> UserOut:
    return user_out(users.get_user(ctx.repo, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def patch_user(user_id: Id, body: UserPatch, admin: Admin, ctx: Context) -> UserOut:
    """Change the role, disable or enable the user, or both at once (both apply or neither).

    Disabling revokes the user's tokens and sessions and stops its strategies in mode CANCEL
    (resting orders cancelled, positions kept); an admin cannot disable itself, nor the last
    enabled admin (403). Enabling lets it log in again; its strategies stay stopped until it
    resumes them."""
    user = users.update_user(
        ctx.repo, admin, user_id, role=body.role, disabled=body.disabled, now=ctx.clock()
    )
    return user_out(user)


@router.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: Id, admin: Admin, ctx: Context) -> Response:
    """Soft delete: the user's strategies are asked to stop, its history stays."""
    users.delete_user(ctx.repo, admin, user_id, now=ctx.clock())
    return Response(status_code=204)
