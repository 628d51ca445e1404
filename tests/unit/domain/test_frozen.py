"""`domain.frozen.replace` gives what `dataclasses.replace` gives, for every class it serves."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.frozen import replace
from domain.market import MarketRules
from domain.orders import Order, OrderState, OrderType, Side
from persistence.records import ActualState, DesiredState, StrategyRecord
from strategy.params import MartingaleParams
from strategy.state import Book, MartingaleState, Phase, Role, WorkingOrder, initial_state

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARAMS = MartingaleParams.from_mapping(
    {
        "base_order": "10",
        "safety_order": "20",
        "max_safety_orders": "3",
        "price_deviation": "1.5",
        "step_scale": "1",
        "volume_scale": "2",
        "take_profit": "1",
    }
)
RULES = MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.001"))
WORKING = WorkingOrder(
    client_order_id="x1",
    role=Role.SAFETY,
    leg="s1",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    amount=Decimal("1.5"),
    price=Decimal("99"),
)
ORDER = Order(
    client_order_id="x1",
    symbol="ETH/USDT",
    side=Side.BUY,
    type=OrderType.LIMIT,
    amount=Decimal("1.5"),
    price=Decimal("99"),
    created_at=NOW,
)
RECORD = StrategyRecord(
    id=1,
    user_id=1,
    account_id=1,
    name="s",
    symbol="ETH/USDT",
    params={},
    desired_state=DesiredState.RUNNING,
    actual_state=ActualState.RUNNING,
    restart_count=0,
    version=0,
    created_at=NOW,
    updated_at=NOW,
)
STATE = initial_state(1, "ETH/USDT", PARAMS, RULES)

CASES = [
    (STATE, {"phase": Phase.ACTIVE, "cycle": 3, "orders": (WORKING,)}),
    (STATE, {}),
    (WORKING, {"filled": Decimal("0.5"), "cost": Decimal("49.5")}),
    (Book(), {"bought": Decimal(1), "spent": Decimal(99)}),
    (ORDER, {"state": OrderState.OPEN, "filled": Decimal("0.1")}),
    (RECORD, {"version": 7, "updated_at": NOW}),
]


@pytest.mark.parametrize(("value", "changes"), CASES, ids=lambda v: type(v).__name__)
def test_same_value_and_class_as_dataclasses_replace(value: object, changes: dict) -> None:
    fast = replace(value, **changes)
    slow = dataclasses.replace(value, **changes)  # type: ignore[type-var]
    assert type(fast) is type(slow) is type(value)
    assert fast == slow
    assert fast is not value
    for f in dataclasses.fields(slow):  # type: ignore[arg-type]
        assert getattr(fast, f.name) is getattr(slow, f.name)
    if not isinstance(value, StrategyRecord):  # its params are a dict: no hash
        assert hash(fast) == hash(slow)


def test_the_copy_is_still_frozen_and_the_original_unchanged() -> None:
    copy = replace(STATE, cycle=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.cycle = 10  # type: ignore[misc]
    assert STATE.cycle == 0 and copy.cycle == 9
    assert not hasattr(copy, "__dict__")


def test_an_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="'cycles_left'"):
        replace(STATE, cycles_left=1)


def test_a_class_with_post_init_still_validates() -> None:
    # MartingaleParams checks itself in __post_init__: it goes through dataclasses.replace.
    assert replace(PARAMS, max_safety_orders=4).max_safety_orders == 4
    with pytest.raises(Exception, match="max_safety_orders"):
        replace(PARAMS, max_safety_orders=-1)


def test_not_a_dataclass() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        replace(object())


def test_a_state_through_many_copies_equals_the_slow_path() -> None:
    fast: MartingaleState = STATE
    slow: MartingaleState = STATE
    for n in range(1, 30):
        changes = {"cycle": n, "next_safety": n % 4 + 1, "tp_blocked": bool(n % 2)}
        fast, slow = replace(fast, **changes), dataclasses.replace(slow, **changes)
    assert fast == slow
