"""Webhook signals (issue 16): the endpoint an alert posts to, and the owner's signal URL.

`POST /signals/{token}` needs no login: the token in the URL and the shared secret (in the
body, or as the HMAC key of an `X-Signature`) are the authentication (services.signal_intake).
Its answers: 202 recorded; 401 for anything unauthenticated, an unknown URL included (no
answer tells a known token from an unknown one); 400 when the strategy does not start on a
signal; 409 a replay; 413 a body over 8 KB; 422 stale, future or malformed (naming the field);
429 too many requests for the URL. It only writes the signal's row: the running service's
engine of the strategy takes it from there.

`/strategies/{id}/signal-key`: the owner sees whether the strategy has a signal URL (never its
token or secret: neither is stored readable) and creates or rotates one, shown once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from persistence.records_signal import SignalKeyRecord
from services import strategies
from services.signal_intake import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    SignalNotExpected,
    SignalRefused,
    SignalReplayed,
    accept_signal,
)
from services.signal_limit import SignalThrottled
from services.signals import SignalKeyExists, issue_signal_key, waits_for_signal
from web.context import WebContext
from web.errors import error_body
from web.models import Id, Output, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["signals"])

Token = Annotated[str, Path(min_length=1, max_length=128, description="the URL's token")]
# The body is read raw (an HMAC covers its exact bytes), so it is described here, not parsed by
# a model; services.signal_intake checks it.
_SIGNAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "secret": {"type": "string", "description": "unless X-Signature is sent"},
        "time": {"type": "string", "description": "ISO-8601, e.g. {{timenow}}"},
        "timestamp": {"type": "integer", "description": "epoch seconds, instead of time"},
        "nonce": {"type": "string", "maxLength": 64, "description": "else the body's hash"},
    },
    "additionalProperties": True,
}


class SignalKeyOut(Output):
    exists: bool
    waits_for_signal: bool = Field(description="the strategy's start_condition is signal")
    created_at: str | None
    rotated_at: str | None


class IssuedSignalKeyOut(Output):
    url: str = Field(description="where to post signals: shown this once, never again")
    secret: str = Field(description="the shared secret: shown this once, never again")
    created_at: str | None
    rotated_at: str | None
    waits_for_signal: bool
    example: dict[str, str] = Field(description="a TradingView alert message for this URL")


class AcceptedOut(Output):
    accepted: bool
    signal_id: int
    signal_at: str | None


def _key_out(key: SignalKeyRecord | None, waiting: bool) -> SignalKeyOut:
    return SignalKeyOut(
        exists=key is not None,
        waits_for_signal=waiting,
        created_at=when(key.created_at) if key else None,
        rotated_at=when(key.rotated_at) if key else None,
    )


@router.get("/strategies/{strategy_id}/signal-key", response_model=SignalKeyOut)
def get_signal_key(strategy_id: Id, principal: CurrentUser, ctx: Context) -> SignalKeyOut:
    record = strategies.get_strategy(ctx.repo, principal.user_id, strategy_id)
    return _key_out(ctx.repo.get_signal_key(record.id), waits_for_signal(record))


@router.post(
    "/strategies/{strategy_id}/signal-key", response_model=IssuedSignalKeyOut, status_code=201
)
def create_signal_key(
    strategy_id: Id,
    principal: CurrentUser,
    ctx: Context,
    request: Request,
    rotate: Annotated[
        bool, Query(description="replace the existing URL and secret (the old ones stop)")
    ] = False,
) -> IssuedSignalKeyOut:
    """Create the strategy's signal URL and secret, or with `rotate` replace them; both are in
    this answer only. Without `rotate`, a strategy that has one answers 409."""
    record = strategies.get_strategy(ctx.repo, principal.user_id, strategy_id)
    try:
        issued = issue_signal_key(ctx.repo, ctx.vault, record, now=ctx.clock(), rotate=rotate)
    except SignalKeyExists as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return IssuedSignalKeyOut(
        url=str(request.base_url).rstrip("/") + issued.path,
        secret=issued.secret,
        created_at=when(issued.record.created_at),
        rotated_at=when(issued.record.rotated_at),
        waits_for_signal=waits_for_signal(record),
        example={"secret": issued.secret, "time": "{{timenow}}"},
    )


@router.post(
    "/signals/{token}",
    status_code=202,
    response_model=AcceptedOut,
    responses={
        400: {"description": "the strategy's start_condition is not signal"},
        401: {"description": "unknown URL, or wrong secret or signature"},
        409: {"description": "a replay: this nonce (or body) was already received"},
        413: {"description": "body over 8 KB"},
        422: {"description": "stale, future or malformed signal (the field is named)"},
        429: {"description": "too many signals for this URL"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _SIGNAL_SCHEMA}},
        }
    },
)
async def post_signal(token: Token, request: Request) -> Any:
    """Record a signal for the strategy of this URL. Body: a JSON object with `time`
    (ISO-8601, e.g. TradingView's `{{timenow}}`) or `timestamp` (epoch seconds), optionally
    `nonce` or `id`, and `secret` unless the request carries `X-Signature: sha256=<hex
    HMAC-SHA256 of the body keyed by the secret>`."""
    ctx: WebContext = request.app.state.ctx
    try:
        ctx.signal_limiter.hit(token)
    except SignalThrottled as exc:
        return _answer(429, str(exc), {"Retry-After": str(exc.retry_after_s)})
    body = await _read_body(request)
    if body is None:
        return _answer(413, f"the body is over {MAX_BODY_BYTES} bytes")
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        signal = await run_in_threadpool(
            accept_signal, ctx.repo, ctx.vault, token, body, signature=signature, now=ctx.clock()
        )
    except SignalRefused as exc:
        return _answer(401, str(exc))
    except SignalNotExpected as exc:
        return _answer(400, str(exc))
    except SignalReplayed as exc:
        return _answer(409, str(exc))
    return JSONResponse(
        status_code=202,
        content={"accepted": True, "signal_id": signal.id, "signal_at": when(signal.signal_at)},
    )


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(message), headers=headers)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over the limit (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
