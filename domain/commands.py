"""Commands: what a strategy machine asks the engine to do (imperative, never facts).

The engine executes them in the order given. `PlaceOrder` carries a deterministic client order id
(`domain.ids.client_order_id`) so a restarted engine can find out whether the exchange already
has the order before it places it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.codec import register
from domain.orders import OrderType, Side


class CloseReason(enum.StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    SOLD = "sold"  # the user asked to sell now
    CANCELED = "canceled"  # orders canceled, position kept (or nothing could be bought)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    """`price` is None for a market order; `leg` is the suffix of the client order id."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType  # not `type`: the codec keeps the message's type name in that key
    amount: Decimal
    price: Decimal | None
    cycle: int
    leg: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    client_order_id: str
    symbol: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CycleClosed:
    """A cycle ended; `realized_profit` is in quote currency, net of quote and base fees."""

    cycle: int
    realized_profit: Decimal
    reason: CloseReason
    at: datetime


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleWakeup:
    """Send `CooldownElapsed` (with the current price) at or after `at`."""

    at: datetime


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyFinished:
    """The machine will place no more orders; `reason` is for the user."""

    reason: str


Command = PlaceOrder | CancelOrder | CycleClosed | ScheduleWakeup | StrategyFinished

COMMAND_TYPES: tuple[type[Command], ...] = (
    PlaceOrder,
    CancelOrder,
    CycleClosed,
    ScheduleWakeup,
    StrategyFinished,
)
