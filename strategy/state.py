"""The state of one Martingale strategy: a frozen value the engine snapshots after every step.

Everything the machine needs to resume lives here, and it all encodes with `domain.codec`, so
`codec.loads(codec.dumps(state)) == state` and a restarted engine carries on exactly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.codec import register
from domain.commands import CloseReason
from domain.events import StopMode
from domain.market import MarketRules, split_symbol
from domain.money import ONE, ZERO
from domain.orders import OrderType, Side
from strategy.params import MartingaleParams


class Phase(enum.StrEnum):
    IDLE = "idle"  # created, waiting for Started
    ENTERING = "entering"  # base order working
    ACTIVE = "active"  # position open: safety orders and take-profit managed
    CLOSING = "closing"  # canceling the cycle's orders (why: closing_reason)
    SELLING = "selling"  # market exit working (stop loss or sell now)
    COOLDOWN = "cooldown"  # between cycles, until wake_at
    WAITING = "waiting"  # between cycles, until StartSignalled (strategy.start)
    FINISHED = "finished"  # no more orders will be placed


class Role(enum.StrEnum):
    BASE = "base"
    SAFETY = "safety"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"


class WorkingStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # PlaceOrder sent, not yet acknowledged
    OPEN = "open"  # acknowledged by the exchange
    CANCELING = "canceling"  # CancelOrder sent, not yet confirmed


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkingOrder:
    """An order of ours that is not known to be finished. `filled`/`cost` are gross."""

    client_order_id: str
    role: Role
    leg: str
    side: Side
    order_type: OrderType
    amount: Decimal
    price: Decimal | None
    status: WorkingStatus = WorkingStatus.SUBMITTED
    exchange_order_id: str | None = None
    filled: Decimal = ZERO
    cost: Decimal = ZERO
    quote: Decimal | None = None  # a market buy's quote amount to spend (PlaceOrder.cost)


@dataclass(frozen=True, slots=True, kw_only=True)
class Book:
    """Cash flows of the current cycle; the position and its average cost follow from them.

    bought: base received by buys, net of fees paid in base (plus dust carried in);
    spent: quote paid by buys, including fees paid in quote (plus the carried dust's cost);
    sold: base given up by sells, including fees paid in base;
    received: quote received by sells, net of fees paid in quote.
    """

    bought: Decimal = ZERO
    spent: Decimal = ZERO
    sold: Decimal = ZERO
    received: Decimal = ZERO

    @property
    def position(self) -> Decimal:
        return self.bought - self.sold

    @property
    def average(self) -> Decimal | None:
        """Average entry: total quote spent / total base bought (None before any buy)."""
        return self.spent / self.bought if self.bought > 0 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeTotal:
    """Fees paid in a third currency (e.g. an exchange token): recorded, not in the position."""

    currency: str
    amount: Decimal


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MartingaleState:
    strategy_id: int
    symbol: str
    params: MartingaleParams
    rules: MarketRules
    order_tag: str = ""  # the deployment tag every client order id carries (domain.ids)
    phase: Phase = Phase.IDLE
    cycle: int = 0  # number of the current (or last) cycle; 1 is the first
    cycles_closed: int = 0
    orders: tuple[WorkingOrder, ...] = ()
    base_price: Decimal | None = None  # P0: the base order's average fill price
    next_safety: int = 1  # next safety order level to place
    tp_revision: int = 0  # take-profit legs t1, t2, ... used this cycle
    exit_revision: int = 0  # market exit legs x1, x2, ... used this cycle
    tp_blocked: bool = False  # a take-profit was rejected; wait for the position to change
    closing_reason: CloseReason | None = None
    stop_mode: StopMode | None = None
    wake_at: datetime | None = None
    book: Book = Book()
    applied_trades: tuple[str, ...] = ()  # trade ids applied this cycle, for deduplication
    other_fees: tuple[FeeTotal, ...] = ()
    realized_profit: Decimal = ZERO  # sum over closed cycles, quote currency
    finished_reason: str | None = None
    # strategy.exits: the trailing stop's best price since the last buy fill; the cycle's
    # timeout deadline and whether it was applied; reinvested profit and this cycle's scale.
    stop_best: Decimal | None = None
    timeout_at: datetime | None = None
    timed_out: bool = False
    reinvested: Decimal = ZERO
    size_scale: Decimal = ONE
    # take-profit variants (strategy.take_profit), reset with each cycle
    trail_peak: Decimal | None = None  # a trailing take-profit's best price since it armed
    tp_steps_done: tuple[int, ...] = ()  # take-profit steps (0-based) filled this cycle

    def order(self, client_order_id: str) -> WorkingOrder | None:
        for order in self.orders:
            if order.client_order_id == client_order_id:
                return order
        return None

    def orders_with(self, role: Role) -> tuple[WorkingOrder, ...]:
        return tuple(o for o in self.orders if o.role is role)


def initial_state(
    strategy_id: int, symbol: str, params: MartingaleParams, rules: MarketRules
) -> MartingaleState:
    """The state of a strategy that has not started; `Started` sets it going."""
    if rules.symbol != symbol:
        raise ValueError(f"market rules are for {rules.symbol!r}, not {symbol!r}")
    split_symbol(symbol)  # refuses a malformed symbol now rather than at the first fill
    return MartingaleState(strategy_id=strategy_id, symbol=symbol, params=params, rules=rules)
