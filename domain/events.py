"""Events: what happened, told to a strategy machine (`strategy.machine.decide`).

Events are facts in the past tense and each carries `at`, the time it happened, because the
machine has no clock of its own. The engine turns exchange reports, price ticks, timers and user
requests into these events; the machine turns them into commands.

Ordering contract for the engine: deliver an order's fills (`OrderPartiallyFilled`, or the fill
on `OrderFilled`) before that order's terminal event. A fill that arrives after the order's
`OrderCanceled` is ignored, because by then the machine has stopped tracking the order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.codec import register
from domain.market import MarketRules
from domain.orders import Fill


class StopMode(enum.StrEnum):
    """How a user asked a strategy to stop."""

    FINISH_CYCLE = "finish_cycle"  # let the running cycle end normally, start no new one
    CANCEL = "cancel"  # cancel open orders, keep the position, finish
    SELL = "sell"  # cancel open orders, sell the position at market, finish


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Started:
    """The engine starts the strategy for the first time; `price` sizes the base order.

    `rules`, when given, are the venue's current market rules: the cycle is sized with them.
    `balance`, when given, is the account's free quote balance: reinvested sizes are capped so
    the cycle's ladder fits it (`strategy.exits`).
    """

    at: datetime
    price: Decimal
    rules: MarketRules | None = None
    balance: Decimal | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted:
    at: datetime
    client_order_id: str
    exchange_order_id: str | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPartiallyFilled:
    """One trade against a still-open order. Trade ids make redelivery harmless."""

    at: datetime
    fill: Fill

    @property
    def client_order_id(self) -> str:
        return self.fill.client_order_id


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled:
    """The exchange reports the order complete.

    `fill` is the last trade when the engine has one it has not delivered yet; None when every
    trade already arrived as `OrderPartiallyFilled` (e.g. when reconciliation learns only the
    final status).
    """

    at: datetime
    client_order_id: str
    fill: Fill | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled:
    """The order is gone from the book (by our request, by the user, or expired)."""

    at: datetime
    client_order_id: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected:
    """The exchange refused the order (or never heard of it after an unknown outcome).

    `rules` is set when the engine re-read the market's rules after the refusal and found
    them changed (a new tick, step or minimum): the order is then placed again under them.
    """

    at: datetime
    client_order_id: str
    reason: str
    rules: MarketRules | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTicked:
    at: datetime
    price: Decimal


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StopRequested:
    at: datetime
    mode: StopMode


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownElapsed:
    """Sent by the engine at (or after) the time of a `ScheduleWakeup`.

    `price` is the current price: the next cycle's market base order is sized from it, under
    `rules` when given (the venue's current market rules), and `balance` as for `Started`.
    During a cycle it is the wake-up of the cycle's timeout (`stop_loss_timeout`).
    """

    at: datetime
    price: Decimal
    rules: MarketRules | None = None
    balance: Decimal | None = None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StartSignalled:
    """A strategy waiting for its start condition (`phase` WAITING) may start a cycle now.

    `source` says why: the indicator that held on the last closed candle ("rsi", "ma") or an
    authenticated webhook signal ("signal"). `price` and `rules` size the cycle, as for
    `CooldownElapsed`.
    """

    at: datetime
    price: Decimal
    source: str
    rules: MarketRules | None = None
    balance: Decimal | None = None  # as for `Started` (reinvested sizes are capped by it)


Event = (
    Started
    | OrderAccepted
    | OrderPartiallyFilled
    | OrderFilled
    | OrderCanceled
    | OrderRejected
    | PriceTicked
    | StopRequested
    | CooldownElapsed
    | StartSignalled
)

EVENT_TYPES: tuple[type[Event], ...] = (
    Started,
    OrderAccepted,
    OrderPartiallyFilled,
    OrderFilled,
    OrderCanceled,
    OrderRejected,
    PriceTicked,
    StopRequested,
    CooldownElapsed,
    StartSignalled,
)
