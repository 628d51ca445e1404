"""What a strategy did, newest first with cursor pagination, and the caller's summaries.

`cursor` is the opaque `next_cursor` of the previous page; `limit` 1..500 (default 50). A page
is read by key (never OFFSET), so paging through months of orders stays one indexed query per
page, and rows that arrive meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import TypeAdapter

from domain.orders import Fill, Order
from persistence.records import AuditRecord, CycleRecord, EventRecord
from persistence.records_history import FillRecord, OrderRecord
from services import history
from services.status import status_json
from web.models import Id, Json, money, page_json, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["history"])

Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the last page")]
Limit = Annotated[int, Query(ge=1, le=500)]


def _order(row: OrderRecord) -> dict[str, Any]:
    order: Order = row.order
    return {
        "id": row.id,
        "cycle": row.cycle,
        "leg": row.leg,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "side": order.side.value,
        "type": order.type.value,
        "state": order.state.value,
        "price": money(order.price),
        "amount": money(order.amount),
        "filled": money(order.filled),
        "cost": money(order.cost),
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
    }


def _fill(row: FillRecord) -> dict[str, Any]:
    fill: Fill = row.fill
    return {
        "id": row.id,
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "side": fill.side.value,
        "price": money(fill.price),
        "amount": money(fill.amount),
        "fee": money(fill.fee),
        "fee_currency": fill.fee_currency,
        "timestamp": when(fill.timestamp),
    }


def _cycle(cycle: CycleRecord) -> dict[str, Any]:
    return {
        "number": cycle.number,
        "status": cycle.status.value,
        "opened_at": when(cycle.opened_at),
        "closed_at": when(cycle.closed_at),
        "amount": money(cycle.amount),
        "cost": money(cycle.cost),
        "base_price": money(cycle.base_price),
        "average_price": money(cycle.average_price),
        "realized_profit": money(cycle.realized_profit),
        "safety_orders_filled": cycle.safety_orders_filled,
        "carried_amount": money(cycle.carried_amount),
        "carried_cost": money(cycle.carried_cost),
        "received": money(cycle.received),
    }


def _event(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "payload": event.payload,
        "occurred_at": when(event.occurred_at),
    }


def _log(record: AuditRecord) -> dict[str, Any]:
    entry = record.entry
    return {
        "id": record.id,
        "at": when(entry.at),
        "level": entry.level,
        "event": entry.event,
        "message": entry.message,
        "data": dict(entry.data),
    }


def _pages(kind: str, read: Callable[..., Any], render: Callable[[Any], dict[str, Any]]) -> None:
    """GET /strategies/{id}/<kind>: one page of the strategy's rows of that kind."""

    def page(
        strategy_id: Id,
        principal: CurrentUser,
        ctx: Context,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        found = read(ctx.repo, principal.user_id, strategy_id, cursor=cursor, limit=limit)
        return page_json([render(item) for item in found.items], found.next_cursor)

    page.__doc__ = f"The strategy's {kind}, newest first, a page at a time."
    router.add_api_route(f"/strategies/{{strategy_id}}/{kind}", page, methods=["GET"], name=kind)


_pages("orders", history.orders, _order)
_pages("fills", history.fills, _fill)
_pages("cycles", history.cycles, _cycle)
_pages("events", history.events, _event)
_pages("logs", history.logs, _log)


_STATUS = TypeAdapter(dict[str, Any])


@router.get("/status", response_model=dict[str, Any])
def status(principal: CurrentUser, ctx: Context) -> Json:
    """The caller's strategies as `martingale status --json` shows them."""
    lines = history.status_of(ctx.repo, principal.user_id, now=ctx.clock())
    return Json(_STATUS, status_json(lines))


@router.get("/profit")
def profit(
    principal: CurrentUser,
    ctx: Context,
    since: Annotated[date | None, Query(description="first UTC day to count")] = None,
) -> dict[str, Any]:
    """Realized profit of closed cycles: totals per quote currency, and per UTC day."""
    summary = history.profit_summary(ctx.repo, principal.user_id, since=since)
    return {
        "totals": [
            {
                "quote": t.quote,
                "realized_profit": money(t.realized_profit),
                "cycles_closed": t.cycles_closed,
            }
            for t in summary.totals
        ],
        "days": [
            {
                "day": d.day.isoformat(),
                "quote": d.quote,
                "realized_profit": money(d.realized_profit),
                "cycles_closed": d.cycles_closed,
            }
            for d in summary.days
        ],
    }
