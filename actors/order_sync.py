"""Turn what the exchange says about one of our orders into machine events (pure).

Used on every path that learns about an order: the answer to a create or a cancel, a wake-up
after the price crossed an order, and reconciliation at start. One function, so a restart and a
normal fill go through the same code (crash-only design).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
)
from domain.orders import Fill, Order, OrderState
from strategy.state import WorkingOrder, WorkingStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """An event for the machine plus what to write with it: the order row update and the fill."""

    event: Event
    order: Order | None = None
    fill: Fill | None = None


def observe(
    working: WorkingOrder,
    remote: Order,
    fills: Iterable[Fill],
    applied: frozenset[str] | set[str],
    *,
    at: datetime,
) -> list[Observed]:
    """Events that bring `working` up to date with `remote`.

    `fills` may hold trades of other orders and trades already applied (`applied`); both are
    skipped. The order row update (the exchange's view) rides on every fill and on the last
    event, so the row is never behind a stored fill and ends where the exchange is.
    """
    out: list[Observed] = []
    if working.status is WorkingStatus.SUBMITTED and remote.state in (
        OrderState.OPEN,
        OrderState.PARTIALLY_FILLED,
        OrderState.FILLED,
        OrderState.CANCELED,
    ):
        out.append(
            Observed(
                event=OrderAccepted(
                    at=at,
                    client_order_id=working.client_order_id,
                    exchange_order_id=remote.exchange_order_id,
                )
            )
        )
    seen = set(applied)
    for fill in sorted(fills, key=lambda f: (f.timestamp or at, f.trade_id)):
        if fill.client_order_id != working.client_order_id or fill.trade_id in seen:
            continue
        seen.add(fill.trade_id)
        # The row update rides with every fill, so a stored fill never sits beside a row that
        # does not show it, even if the steps after this one are never taken.
        out.append(Observed(event=OrderPartiallyFilled(at=at, fill=fill), fill=fill, order=remote))
    coid = working.client_order_id
    if remote.state is OrderState.FILLED:
        out.append(Observed(event=OrderFilled(at=at, client_order_id=coid)))
    elif remote.state is OrderState.CANCELED:
        out.append(Observed(event=OrderCanceled(at=at, client_order_id=coid)))
    elif remote.state is OrderState.REJECTED:
        out.append(Observed(event=OrderRejected(at=at, client_order_id=coid, reason="rejected")))
    if out:
        last = out[-1]
        out[-1] = Observed(event=last.event, order=remote, fill=last.fill)
    return out


def needs_fills(working: WorkingOrder, remote: Order) -> bool:
    """True when the exchange has filled more of the order than the machine has seen."""
    return remote.filled > working.filled
