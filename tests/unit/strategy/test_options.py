"""The optional parameters: parsing from every input form, and errors that name the field."""

from decimal import Decimal

import pytest

from domain.errors import ValidationError
from strategy.options import (
    Direction,
    StartKind,
    TimeoutAction,
    start_condition,
    start_text,
    take_profit_steps,
)
from strategy.params import MartingaleParams

BASE = {"base_order": "10", "safety_order": "20", "max_safety_orders": 3, "price_deviation": "1"}


def params(**extra: object) -> MartingaleParams:
    return MartingaleParams.from_mapping({**BASE, "take_profit": "1.5", **extra})


def field_of(**extra: object) -> str | None:
    with pytest.raises(ValidationError) as info:
        MartingaleParams.from_mapping({**BASE, **extra})
    return info.value.field


def test_defaults_keep_the_long_ladder_that_starts_at_once() -> None:
    p = params()
    assert p.direction is Direction.LONG
    assert p.take_profit_steps == ()
    assert p.trailing_deviation is None
    assert p.stop_loss_trailing is False
    assert p.stop_loss_timeout is None
    assert p.stop_loss_timeout_action is TimeoutAction.MARKET
    assert p.reinvest_percent == 0
    assert p.start_condition.kind is StartKind.ASAP


def test_take_profit_steps_from_text_list_and_mapping_agree() -> None:
    text = take_profit_steps("1:40, 2.5:60")
    listed = take_profit_steps([{"percent": "1", "portion": 40}, {"percent": 2.5, "portion": 60}])
    assert text == listed
    assert [s.percent for s in text] == [Decimal(1), Decimal("2.5")]


def test_steps_make_take_profit_the_first_step() -> None:
    p = MartingaleParams.from_mapping({**BASE, "take_profit_steps": "1:50,2:50"})
    assert p.take_profit == Decimal(1)
    same = MartingaleParams.from_mapping(
        {**BASE, "take_profit": "1", "take_profit_steps": "1:50,2:50"}
    )
    assert same == p
    assert field_of(take_profit="2", take_profit_steps="1:50,2:50") == "take_profit"


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ("1:50,1:50", "take_profit_steps[1].percent"),
        ("2:50,1:50", "take_profit_steps[1].percent"),
        ("1:50,2:40", "take_profit_steps"),
        ("1:0,2:100", "take_profit_steps[0].portion"),
        ("0:50,2:50", "take_profit_steps[0].percent"),
        ("1-50", "take_profit_steps"),
        ([{"percent": "1"}], "take_profit_steps[0].portion"),
        ([{"percent": "1", "portion": "100", "size": 1}], "take_profit_steps[0]"),
    ],
)
def test_bad_steps_name_the_field(steps: object, field: str) -> None:
    assert field_of(take_profit_steps=steps) == field


def test_take_profit_is_required_without_steps() -> None:
    assert field_of() == "take_profit"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"trailing_deviation": "0"}, "trailing_deviation"),
        ({"trailing_deviation": "0.5", "take_profit_steps": "1.5:50,2:50"}, "trailing_deviation"),
        ({"stop_loss_trailing": "yes"}, "stop_loss_trailing"),
        ({"stop_loss_trailing": True}, "stop_loss_trailing"),  # needs stop_loss
        ({"stop_loss_timeout": "0"}, "stop_loss_timeout"),
        ({"stop_loss_timeout_action": "pray"}, "stop_loss_timeout_action"),
        ({"reinvest_percent": "101"}, "reinvest_percent"),
        ({"reinvest_percent": "-1"}, "reinvest_percent"),
        ({"start_condition": "rsi period=14"}, "start_condition.below"),
        ({"start_condition": "rsi below=30 period=1"}, "start_condition.period"),
        ({"start_condition": "ma period=20 timeframe=7m"}, "start_condition.timeframe"),
        ({"start_condition": "ma below=30"}, "start_condition.below"),
        ({"start_condition": "signal max_lag=0"}, "start_condition.max_lag"),
        ({"start_condition": "moon"}, "start_condition.type"),
        ({"start_condition": {"type": "asap", "period": 3}}, "start_condition.period"),
        ({"start_condition": "rsi below"}, "start_condition"),
    ],
)
def test_bad_options_name_the_field(extra: dict[str, object], field: str) -> None:
    assert field_of(take_profit="1.5", **extra) == field


def test_start_condition_text_round_trips() -> None:
    for text in ("asap", "signal max_lag=30", "ma period=50 timeframe=1h",
                 "rsi below=25.5 period=7 timeframe=15m"):  # fmt: skip
        condition = start_condition(text)
        assert start_condition(start_text(condition)) == condition
    assert start_condition("RSI below=30").timeframe == "5m"
    assert start_condition({"type": "signal"}).max_lag == 60


def test_short_ladder_may_reach_past_a_hundred_percent() -> None:
    p = params(direction="short", price_deviation="40", step_scale="2", max_safety_orders=3)
    assert p.deviation_pct(3) == Decimal(280)
    with pytest.raises(ValidationError):
        params(price_deviation="40", step_scale="2", max_safety_orders=3)
