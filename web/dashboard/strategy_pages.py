"""The overview and the strategy page: full pages, the fragments htmx polls, the chart's data,
and the strategy's actions (the same services the REST API calls).

Live parts poll: the overview and a strategy's summary every 2 s, its events every 5 s, its
chart every 2 s (static/chart.js). A poll is one short read of the user's own rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from domain.money import fmt
from services import history, strategies
from services.control import ACTIONS, Action, apply_action
from services.dashboard import PriceOf, no_prices, overview
from services.event_text import event_line
from services.strategy_exits import exit_state
from services.strategy_page import strategy_page
from web.context import WebContext
from web.dashboard.render import page
from web.dashboard.session import CurrentViewer
from web.dashboard.signal_pages import signal_context
from web.models import Id
from web.security import Context

router = APIRouter(include_in_schema=False)

EVENTS_SHOWN = 50
RAW_TITLE_CHARS = 1000  # the stored JSON, in the line's tooltip


def price_of(ctx: WebContext) -> PriceOf:
    observer = ctx.observer
    return observer.price if observer is not None else no_prices


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    data = overview(ctx.repo, who.user_id, now=ctx.clock(), price_of=price_of(ctx))
    return page(request, "overview.html", {"viewer": who, "nav": "overview", "data": data})


@router.get("/ui/overview", response_class=HTMLResponse)
def overview_part(request: Request, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    data = overview(ctx.repo, who.user_id, now=ctx.clock(), price_of=price_of(ctx))
    return page(request, "parts/overview.html", {"data": data})


@router.get("/strategies/{strategy_id}", response_class=HTMLResponse)
def strategy(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    found = strategy_page(
        ctx.repo, who.user_id, strategy_id, now=ctx.clock(), price_of=price_of(ctx)
    )
    exits = exit_state(ctx.repo, found.record.id)
    context = {"viewer": who, "nav": "", "page": found, "exits": exits}
    return page(request, "strategy.html", signal_context(ctx, found.record, **context))


@router.get("/ui/strategies/{strategy_id}/summary", response_class=HTMLResponse)
def summary(request: Request, strategy_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    found = strategy_page(
        ctx.repo, who.user_id, strategy_id, now=ctx.clock(), price_of=price_of(ctx), fills=False
    )
    return page(request, "parts/strategy_summary.html", {"page": found})


@router.get("/ui/strategies/{strategy_id}/events", response_class=HTMLResponse)
def events(
    request: Request,
    strategy_id: Id,
    who: CurrentViewer,
    ctx: Context,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """The newest events (polled), or with `cursor` the page before it (the "older" button;
    a page of older events then offers the one before it in its place)."""
    found = history.events(ctx.repo, who.user_id, strategy_id, cursor=cursor, limit=EVENTS_SHOWN)
    shown = [
        {
            "occurred_at": e.occurred_at,
            "type": e.type,
            "line": event_line(e.type, e.payload),
            "raw": e.payload[:RAW_TITLE_CHARS],
        }
        for e in found.items
    ]
    context = {
        "events": shown,
        "next_cursor": found.next_cursor,
        "strategy_id": strategy_id,
        "older": cursor is not None,
    }
    return page(request, "parts/events.html", context)


@router.get("/ui/strategies/{strategy_id}/chart")
def chart(strategy_id: Id, who: CurrentViewer, ctx: Context) -> JSONResponse:
    """The chart's series: prices (the service's recent ticks of the market, in market time),
    the fills of the recent cycles as markers, the open cycle's average and take-profit, and
    the resting orders. Numbers are decimal strings, times UNIX seconds."""
    found = strategy_page(
        ctx.repo, who.user_id, strategy_id, now=ctx.clock(), price_of=price_of(ctx), cycles=False
    )
    record = found.record
    account = ctx.repo.get_account(record.account_id)
    prices = (
        ctx.observer.price_history(account.venue, record.symbol) if ctx.observer is not None else []
    )
    body: dict[str, Any] = {
        "symbol": record.symbol,
        "prices": [[_unix(at), fmt(price)] for at, price in prices],
        "fills": [
            {
                "time": _unix(f.fill.timestamp or f.created_at),
                "side": f.fill.side.value,
                "price": fmt(f.fill.price),
                "amount": fmt(f.fill.amount),
            }
            for f in found.fills
            if (f.fill.timestamp or f.created_at) is not None
        ],
        "average": _text(found.row.average),
        "take_profit": _text(found.row.take_profit),
        "orders": [
            {
                "side": o.order.side.value,
                "price": _text(o.order.price),
                "leg": o.leg,
            }
            for o in found.resting
            if o.order.price is not None
        ],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _unix(at: datetime | None) -> int:
    return int(at.timestamp()) if at is not None else 0


def _text(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


@router.post("/ui/strategies/{strategy_id}/actions/{action}", response_class=HTMLResponse)
def act(
    request: Request, strategy_id: Id, action: Action, who: CurrentViewer, ctx: Context
) -> HTMLResponse:
    record = strategies.get_strategy(ctx.repo, who.user_id, strategy_id)
    apply_action(ctx.repo, record, action, now=ctx.clock())
    flash = f"{action.value}: {ACTIONS[action].help}. The service applies it within seconds."
    # Beside the summary, not in it: the summary's next poll would wipe it within 2 s (and
    # shows the state the service reaches).
    return page(request, "parts/flash.html", {"flash": flash})


@router.post("/ui/strategies/{strategy_id}/delete")
def delete(strategy_id: Id, who: CurrentViewer, ctx: Context) -> Response:
    strategies.delete_strategy(ctx.repo, who.user_id, strategy_id, now=ctx.clock())
    return Response(headers={"HX-Redirect": "/"})  # 200: htmx follows it as for the others
