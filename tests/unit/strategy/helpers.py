"""Small builders for machine tests: events with a fixed clock and fills with sane defaults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.commands import CancelOrder, Command, PlaceOrder
from domain.events import Event, OrderFilled, Started
from domain.market import MarketRules
from domain.orders import Fill, Side
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, initial_state

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "ETH/USDT"


def at(seconds: int = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


def params(**overrides: object) -> MartingaleParams:
    values: dict[str, object] = {
        "base_order": "10",
        "safety_order": "20",
        "max_safety_orders": 3,
        "price_deviation": "1",
        "step_scale": "2",
        "volume_scale": "2",
        "take_profit": "1",
        "max_active_safety_orders": 2,
        "cooldown": 60,
    }
    values.update(overrides)
    return MartingaleParams.from_mapping({k: v for k, v in values.items() if v is not None})


RULES = MarketRules(symbol=SYMBOL, tick_size=Decimal("0.01"), step_size=Decimal("0.0001"))


def fresh(p: MartingaleParams | None = None, rules: MarketRules = RULES) -> MartingaleState:
    return initial_state(1, SYMBOL, p or params(), rules)


_seq = [0]


def fill(
    coid: str,
    price: str,
    amount: str,
    *,
    side: Side = Side.BUY,
    fee: str = "0",
    fee_currency: str | None = None,
    trade_id: str | None = None,
) -> Fill:
    _seq[0] += 1
    return Fill(
        trade_id=trade_id or f"tr{_seq[0]}",
        client_order_id=coid,
        symbol=SYMBOL,
        side=side,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal(fee),
        fee_currency=fee_currency,
    )


def run(state: MartingaleState, *events: Event) -> tuple[MartingaleState, tuple[Command, ...]]:
    """Feed events in order; returns the last state and all commands."""
    out: list[Command] = []
    for event in events:
        state, cmds = decide(state, event)
        out.extend(cmds)
    return state, tuple(out)


def placed(cmds: Sequence[Command]) -> dict[str, PlaceOrder]:
    return {c.leg: c for c in cmds if isinstance(c, PlaceOrder)}


def canceled(cmds: Sequence[Command]) -> list[str]:
    return [c.client_order_id for c in cmds if isinstance(c, CancelOrder)]


def entered(state: MartingaleState | None = None) -> MartingaleState:
    """Cycle 1 with the base order filled at 100: TP t1, safety orders 1 and 2 resting."""
    s, _ = run(
        state or fresh(),
        Started(at=at(), price=Decimal(100)),
        OrderFilled(at=at(1), client_order_id="mg1c1b", fill=fill("mg1c1b", "100", "0.1")),
    )
    return s
