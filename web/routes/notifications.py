"""The caller's notification targets (issue 16): list, create or replace, delete, test.

A target's apprise URL travels only inwards: it is sealed under the master key as the request
is handled, and no answer carries it, nor any part of it but its scheme ("tgram", "discord").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field

from domain.notifications import EVENT_NAMES
from domain.secrets import Secret
from persistence.records_notify import NotificationTarget
from services import notifications
from web.models import Input, Output, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["notifications"])

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
TargetName = Annotated[str, Field(min_length=1, max_length=64, pattern=_NAME)]
NameInPath = Annotated[str, Path(min_length=1, max_length=64, pattern=_NAME)]


class TargetIn(Input):
    name: TargetName
    url: Annotated[str, Field(min_length=4, max_length=4000, repr=False)] = Field(
        repr=False,
        description="the apprise URL, e.g. tgram://BOT_TOKEN/CHAT_ID; stored encrypted and "
        "never returned",
    )
    events: Annotated[list[str], Field(max_length=len(EVENT_NAMES))] | None = Field(
        default=None,
        description=f"any of {', '.join(EVENT_NAMES)}; default: all but safety_filled",
    )
    enabled: bool = True


class TargetOut(Output):
    name: str
    scheme: str = Field(description="the URL's scheme: all of the URL an answer shows")
    events: list[str]
    enabled: bool
    source: str = Field(description='"config" (a config file manages it) or "api"')
    created_at: str | None
    updated_at: str | None


class DeliveryOut(Output):
    target: str
    scheme: str
    ok: bool
    reason: str | None = None


class TestOut(Output):
    results: list[DeliveryOut]


def target_out(target: NotificationTarget) -> TargetOut:
    return TargetOut(
        name=target.name,
        scheme=target.scheme,
        events=sorted(e.value for e in target.events),
        enabled=target.enabled,
        source=target.source,
        created_at=when(target.created_at),
        updated_at=when(target.updated_at),
    )


@router.get("/notifications", response_model=list[TargetOut])
def list_targets(principal: CurrentUser, ctx: Context) -> list[TargetOut]:
    return [target_out(t) for t in notifications.list_targets(ctx.repo, principal.user_id)]


@router.post("/notifications", response_model=TargetOut)
def put_target(body: TargetIn, principal: CurrentUser, ctx: Context) -> TargetOut:
    """Create the caller's target `name`, or replace it whole (URL, events, enabled); the
    running service uses it within seconds. The URL is never sent back."""
    record = notifications.put_target(
        ctx.repo,
        ctx.vault,
        principal.user_id,
        body.name,
        Secret(body.url),
        events=body.events,
        enabled=body.enabled,
        now=ctx.clock(),
    )
    return target_out(record)


@router.delete("/notifications/{target_name}", status_code=204)
def delete_target(target_name: NameInPath, principal: CurrentUser, ctx: Context) -> Response:
    notifications.delete_target(ctx.repo, principal.user_id, target_name)
    return Response(status_code=204)


@router.post("/notifications/test", response_model=TestOut)
def test_all(principal: CurrentUser, ctx: Context) -> TestOut:
    """Send a test message to each of the caller's targets, enabled or not."""
    return _test(principal.user_id, ctx, None)


@router.post("/notifications/{target_name}/test", response_model=TestOut)
def test_one(target_name: NameInPath, principal: CurrentUser, ctx: Context) -> TestOut:
    return _test(principal.user_id, ctx, target_name)


def _test(user_id: int, ctx: Context, name: str | None) -> TestOut:
    results = notifications.test_targets(ctx.repo, ctx.vault, user_id, now=ctx.clock(), target=name)
    return TestOut(
        results=[
            DeliveryOut(target=r.target, scheme=r.scheme, ok=r.ok, reason=r.reason) for r in results
        ]
    )
