"""Every event, command and the machine state round-trip through the one codec."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

from domain import codec
from domain.commands import (
    COMMAND_TYPES,
    CancelOrder,
    CloseReason,
    CycleClosed,
    PlaceOrder,
    ScheduleWakeup,
    StrategyFinished,
)
from domain.events import (
    EVENT_TYPES,
    CooldownElapsed,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PriceTicked,
    Started,
    StartSignalled,
    StopMode,
    StopRequested,
)
from domain.orders import Fill, OrderType, Side
from strategy.state import Phase
from tests.unit.strategy.helpers import entered

AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
FILL = Fill(
    trade_id="t9",
    client_order_id="mg1c1s1",
    symbol="ETH/BTC",
    side=Side.BUY,
    price=Decimal("0.09876543"),
    amount=Decimal("1.001"),
    fee=Decimal("0.001001"),
    fee_currency="ETH",
)
SAMPLES = [
    Started(at=AT, price=Decimal("0.1")),
    OrderAccepted(at=AT, client_order_id="mg1c1b", exchange_order_id="123"),
    OrderPartiallyFilled(at=AT, fill=FILL),
    OrderFilled(at=AT, client_order_id="mg1c1s1", fill=FILL),
    OrderFilled(at=AT, client_order_id="mg1c1s1"),
    OrderCanceled(at=AT, client_order_id="mg1c1t1"),
    OrderRejected(at=AT, client_order_id="mg1c1s2", reason="min notional"),
    PriceTicked(at=AT, price=Decimal("0.0987")),
    StopRequested(at=AT, mode=StopMode.SELL),
    CooldownElapsed(at=AT, price=Decimal("0.0991")),
    StartSignalled(at=AT, price=Decimal("0.0991"), source="rsi"),
    PlaceOrder(
        client_order_id="mg1c1s1",
        symbol="ETH/BTC",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal("0.203"),
        price=Decimal("0.0977"),
        cycle=1,
        leg="s1",
    ),
    CancelOrder(client_order_id="mg1c1t1", symbol="ETH/BTC"),
    CycleClosed(cycle=3, realized_profit=Decimal("-0.00012"), reason=CloseReason.STOP_LOSS, at=AT),
    ScheduleWakeup(at=AT),
    StrategyFinished(reason="max_cycles (3) reached"),
]


def test_every_event_and_command_type_has_a_sample() -> None:
    assert {type(s) for s in SAMPLES} == set(EVENT_TYPES) | set(COMMAND_TYPES)


def test_every_message_round_trips_exactly() -> None:
    for message in SAMPLES:
        text = codec.dumps(message)
        assert codec.loads(text) == message
        assert all(f.name in text for f in fields(message))  # type: ignore[arg-type]


def test_a_live_state_round_trips() -> None:
    state = entered()
    assert state.phase is Phase.ACTIVE and state.orders
    assert codec.loads(codec.dumps(state)) == state
