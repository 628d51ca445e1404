"""Orders, fills and the order state machine.

The state machine is explicit: `OrderState.can_become` lists the legal transitions and
`Order.transition` refuses anything else. UNKNOWN is the state of an order whose create call
had no clear outcome; it is resolved by looking the order up by client order id.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import IllegalTransition
from domain.money import ZERO

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class OrderState(enum.StrEnum):
    PENDING_SUBMIT = "pending_submit"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_live(self) -> bool:
        """Could still rest on (or be about to reach) the exchange book."""
        return not self.is_terminal

    def can_become(self, other: OrderState) -> bool:
        return other in _TRANSITIONS[self]


_TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED})

_S = OrderState
_TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    _S.PENDING_SUBMIT: frozenset(
        {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED, _S.UNKNOWN}
    ),
    # An unknown outcome resolves to whatever the exchange says, or to REJECTED when the
    # exchange has never heard of the order.
    _S.UNKNOWN: frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.REJECTED}),
    _S.OPEN: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as we know it. `price` is None for market orders."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None
    filled: Decimal = ZERO
    cost: Decimal = ZERO  # quote value of the filled part
    state: OrderState = OrderState.PENDING_SUBMIT
    exchange_order_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled > 0 else None

    def transition(self, state: OrderState, **changes: object) -> Order:
        """Return a copy in `state`; raises IllegalTransition for a move the table forbids."""
        if state != self.state and not self.state.can_become(state):
            raise IllegalTransition(
                f"order {self.client_order_id}: {self.state.value} -> {state.value} is not allowed"
            )
        return replace(self, state=state, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One trade against one of our orders. `trade_id` is unique per exchange account."""

    trade_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal = ZERO
    fee_currency: str | None = None
    exchange_order_id: str | None = None
    timestamp: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def cost(self) -> Decimal:
        return self.price * self.amount
