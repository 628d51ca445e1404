"""MartingaleParams: loose input in, exact validated values out, errors naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import codec
from domain.errors import ValidationError
from domain.orders import OrderType
from strategy.params import MartingaleParams

GOOD = {
    "base_order": "10",
    "safety_order": "20",
    "max_safety_orders": 3,
    "price_deviation": "1",
    "step_scale": "2",
    "volume_scale": "2",
    "take_profit": "1",
}


def with_(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {**GOOD, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_strings_ints_and_yaml_floats_become_exact_decimals() -> None:
    p = MartingaleParams.from_mapping(
        with_(take_profit=1.1, price_deviation=Decimal("0.5"), cooldown="30")
    )
    assert p.take_profit == Decimal(
        "1.1"
    )  # repr(1.1) is what the user typed, not 1.1000000000000000888
    assert p.price_deviation == Decimal("0.5") and p.cooldown == 30
    assert (p.stop_loss, p.max_cycles, p.max_active_safety_orders) == (None, None, 1)
    assert p.base_order_type is OrderType.MARKET
    assert (
        MartingaleParams.from_mapping(with_(base_order_type="LIMIT")).base_order_type
        is OrderType.LIMIT
    )


def test_defaults_and_derived_figures() -> None:
    p = MartingaleParams.from_mapping(with_(step_scale=None, volume_scale=None))
    assert (p.step_scale, p.volume_scale) == (Decimal(1), Decimal(1))
    q = MartingaleParams.from_mapping(GOOD)
    assert [q.deviation_pct(n) for n in range(4)] == [0, 1, 3, 7]
    assert [q.quote_size(n) for n in range(4)] == [10, 20, 40, 80]
    assert q.max_funds == 150


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"base_order": "-1"}, "base_order", "must be > 0"),
        ({"base_order": "abc"}, "base_order", "not a number"),
        ({"base_order": True}, "base_order", "expected a number"),
        ({"base_order": None}, "base_order", "is required"),
        ({"safety_order": "0"}, "safety_order", "must be > 0"),
        ({"max_safety_orders": "2.5"}, "max_safety_orders", "whole number"),
        ({"max_safety_orders": -1}, "max_safety_orders", ">= 0"),
        ({"max_safety_orders": 201}, "max_safety_orders", "<= 200"),
        ({"price_deviation": "0"}, "price_deviation", "> 0 and < 100"),
        ({"price_deviation": "30"}, "price_deviation", "price <= 0"),  # 30+60 < 100, +120 is not
        ({"step_scale": "0"}, "step_scale", "must be > 0"),
        ({"volume_scale": "-2"}, "volume_scale", "must be > 0"),
        ({"take_profit": "0"}, "take_profit", "must be > 0"),
        ({"stop_loss": "100"}, "stop_loss", "> 0 and < 100"),
        ({"stop_loss": "3"}, "stop_loss", "before safety order 3"),
        ({"max_active_safety_orders": 0}, "max_active_safety_orders", ">= 1"),
        ({"cooldown": -5}, "cooldown", ">= 0"),
        ({"max_cycles": 0}, "max_cycles", ">= 1"),
        ({"base_order_type": "stop"}, "base_order_type", "market or limit"),
        ({"take_proft": "1"}, "take_proft", "unknown parameter"),
        ({"take_profit": "NaN"}, "take_profit", "not a number"),
    ],
)
def test_nonsense_is_refused_naming_the_field(
    changes: dict[str, object], field: str, text: str
) -> None:
    with pytest.raises(ValidationError, match=text) as info:
        MartingaleParams.from_mapping(with_(**changes))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_stop_loss_below_the_whole_ladder_is_accepted() -> None:
    # with base + 2 safety orders filled the average is 97.985; 6 % below is 92.1 < 93, the
    # last safety price (and likewise for fewer fills), so every rung can fill before the stop
    assert MartingaleParams.from_mapping(with_(stop_loss="6")).stop_loss == Decimal(6)


def test_direct_construction_validates_and_refuses_floats() -> None:
    with pytest.raises(ValidationError, match="expected Decimal, got float"):
        MartingaleParams(
            base_order=10.0,  # type: ignore[arg-type]
            safety_order=Decimal(1),
            max_safety_orders=1,
            price_deviation=Decimal(1),
            take_profit=Decimal(1),
        )


def test_params_round_trip_through_the_codec() -> None:
    p = MartingaleParams.from_mapping(with_(stop_loss="20", max_cycles=4, base_order_type="limit"))
    assert codec.decode(codec.encode(p), MartingaleParams) == p
