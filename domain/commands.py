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
from domain.money import ZERO
from domain.orders import OrderType, Side


class CloseReason(enum.StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    SOLD = "sold"  # the user asked to sell now
    CANCELED = "canceled"  # orders canceled, position kept (or nothing could be bought)
    TIMEOUT = "timeout"  # the cycle outlived stop_loss_timeout (sold at market or break-even)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    """`price` is None for a market order; `leg` is the suffix of the client order id.

    `cost`, on a market buy only, is the quote amount to spend: the exchange sizes the order
    by it (binance quoteOrderQty) or caps `amount` so the spend never exceeds it at the
    current ask; `amount` is then only the estimate made from the last price seen.
    """

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType  # not `type`: the codec keeps the message's type name in that key
    amount: Decimal
    price: Decimal | None
    cycle: int
    leg: str
    cost: Decimal | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    client_order_id: str
    symbol: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CycleClosed:
    """A cycle ended; `realized_profit` is in quote currency, net of quote and base fees.

    The cycle's own figures, for its record: `bought` base bought over the cycle (net of base
    fees, dust carried in included) for `spent` quote (fees in quote included), `base_price`
    the base order's average fill price, and `carried` base handed to the next cycle at
    `carried_cost` (dust below the market's step, or the position a stop-now keeps);
    `received` the quote its sells received, net of fees in quote.
    """

    cycle: int
    realized_profit: Decimal
    reason: CloseReason
    at: datetime
    bought: Decimal = ZERO
    spent: Decimal = ZERO
    base_price: Decimal | None = None
    carried: Decimal = ZERO
    carried_cost: Decimal = ZERO
    received: Decimal = ZERO


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
