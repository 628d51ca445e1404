"""A strategy's webhook signal URL on its page (issue 16): whether it has one, create, rotate
or revoke it, and the signals it brought; the same services as
`/api/v1/strategies/{id}/signal-key` and `martingale strategy signal-url`.

The URL (its token) and the shared secret are in the answer that makes them and nowhere else:
neither is stored readable (the token as a hash, the secret sealed), so the page can say only
that a key exists and when it was made. The answer is a fragment of the page, never cached
(`SecurityHeaders` adds no-store), and the part that polls (the signals) is apart from it, so
a poll never wipes the secret before it is copied.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain.errors import MartingaleError
from persistence.records import StrategyRecord
from services import strategies
from services.signals import (
    IssuedSignalKey,
    SignalKeyExists,
    issue_signal_key,
    revoke_signal_key,
    signal_key_state,
)
from web.context import WebContext
from web.dashboard.render import page
from web.dashboard.session import CurrentViewer
from web.errors import describe
from web.models import Id
from web.security import Context

router = APIRouter(include_in_schema=False)


def signal_context(ctx: WebContext, record: StrategyRecord, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "strategy": record,
        "signal": signal_key_state(ctx.repo, record),
        "issued": None,
        "signal_flash": "",
        "signal_error": "",
    }
    return {**context, **extra}


def _issued(request: Request, issued: IssuedSignalKey) -> dict[str, str]:
    """What the owner copies into the alert, as the API's answer gives it."""
    return {
        "url": str(request.base_url).rstrip("/") + issued.path,
        "secret": issued.secret,
        "example": json.dumps({"secret": issued.secret, "time": "{{timenow}}"}),
    }


def _part(request: Request, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return page(request, "parts/signal_key.html", context, status_code=status)


@router.get("/ui/strategies/{strategy_id}/signals", response_class=HTMLResponse)
def signals(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    """The signals received, newest first (polled)."""
    record = strategies.get_strategy(ctx.repo, who.user_id, strategy_id)
    return page(request, "parts/signals.html", signal_context(ctx, record))


@router.post("/ui/strategies/{strategy_id}/signal-key", response_class=HTMLResponse)
def create(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    return _issue(request, strategy_id, who.user_id, ctx, rotate=False)


@router.post("/ui/strategies/{strategy_id}/signal-key/rotate", response_class=HTMLResponse)
def rotate(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    return _issue(request, strategy_id, who.user_id, ctx, rotate=True)


def _issue(
    request: Request, strategy_id: int, user_id: int, ctx: WebContext, *, rotate: bool
) -> HTMLResponse:
    record = strategies.get_strategy(ctx.repo, user_id, strategy_id)  # another user's: 404
    try:
        issued = issue_signal_key(ctx.repo, ctx.vault, record, now=ctx.clock(), rotate=rotate)
    except SignalKeyExists as error:  # made meanwhile (another tab): rotating is asked for
        return _part(request, signal_context(ctx, record, signal_error=str(error)), 422)
    except MartingaleError as error:  # no master key on this server
        message = str(describe(error)[1]["message"])
        return _part(request, signal_context(ctx, record, signal_error=message), 422)
    flash = "Signal URL rotated: the old URL and secret no longer work." if rotate else ""
    context = signal_context(ctx, record, issued=_issued(request, issued), signal_flash=flash)
    return _part(request, context)


@router.post("/ui/strategies/{strategy_id}/signal-key/revoke", response_class=HTMLResponse)
def revoke(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    record = strategies.get_strategy(ctx.repo, who.user_id, strategy_id)
    done = revoke_signal_key(ctx.repo, record)
    flash = (
        "Signal URL revoked: signals sent to it are refused from now on."
        if done
        else "This strategy has no signal URL to revoke."
    )
    return _part(request, signal_context(ctx, record, signal_flash=flash))
