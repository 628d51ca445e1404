from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ids import client_order_id, client_order_id_tag, parse_client_order_id
from domain.market import MarketRules, split_symbol
from domain.money import fmt, round_down, round_up, to_decimal

decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8)
steps = st.sampled_from([Decimal(s) for s in ("0.00000001", "0.001", "0.5", "1", "25")])


def test_to_decimal_refuses_floats_and_non_numbers() -> None:
    assert to_decimal("0.1") == Decimal("0.1")
    assert to_decimal(3) == Decimal(3)
    with pytest.raises(TypeError, match="price"):
        to_decimal(0.1, field="price")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amount: 'abc'"):
        to_decimal("abc", field="amount")
    with pytest.raises(ValueError, match="finite"):
        to_decimal("NaN")


@given(value=decimals, step=steps)
def test_rounding_lands_on_the_step_on_the_right_side(value: Decimal, step: Decimal) -> None:
    down, up = round_down(value, step), round_up(value, step)
    assert down <= value <= up
    assert down % step == 0 and up % step == 0
    assert value - down < step and up - value < step


def test_fmt_is_plain() -> None:
    assert fmt(Decimal("1E-8")) == "0.00000001"
    assert fmt(Decimal("1.500")) == "1.5"
    assert fmt(Decimal("0E-8")) == "0"
    assert fmt(Decimal("12E+3")) == "12000"


@given(
    sid=st.integers(0, 10**9),
    cycle=st.integers(0, 10**6),
    n=st.integers(0, 9999),
    tag=st.text("abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=4) | st.just(""),
)
def test_client_order_ids_round_trip_and_fit_every_venue(
    sid: int, cycle: int, n: int, tag: str
) -> None:
    coid = client_order_id(sid, cycle, f"s{n}", tag=tag)
    assert len(coid) <= 32 and coid.isalnum()  # OKX: 32 alphanumerics; binance: 36
    assert parse_client_order_id(coid) == (sid, cycle, f"s{n}")
    assert client_order_id_tag(coid) == tag


def test_ids_made_before_tags_still_parse_with_an_empty_tag() -> None:
    assert parse_client_order_id("mg42c7s3") == (42, 7, "s3")
    assert client_order_id_tag("mg42c7s3") == ""
    assert client_order_id_tag("web_12345") is None


def test_a_deployment_tag_is_four_lowercase_letters() -> None:
    for bad in ("abc", "abcde", "ab1d", "ABCD"):
        with pytest.raises(ValueError, match="tag"):
            client_order_id(1, 1, "b", tag=bad)


def test_foreign_ids_do_not_parse_and_bad_legs_are_refused() -> None:
    assert parse_client_order_id("web_12345") is None
    with pytest.raises(ValueError, match="leg"):
        client_order_id(1, 1, "S-1")


def test_market_rules_name_the_violated_filter() -> None:
    rules = MarketRules(
        symbol="ETH/BTC",
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.001"),
        min_amount=Decimal("0.001"),
        min_notional=Decimal("0.0001"),
        max_amount=Decimal("100000"),
    )
    assert rules.base == "ETH" and rules.quote == "BTC"
    assert rules.round_price_down(Decimal("0.0987659")) == Decimal("0.098765")
    assert rules.round_amount(Decimal("1.23456")) == Decimal("1.234")
    assert rules.violation(Decimal("0.05"), Decimal("0.001")) is not None
    assert "minimum notional" in str(rules.violation(Decimal("0.05"), Decimal("0.001")))
    assert "maximum amount" in str(rules.violation(Decimal("0.05"), Decimal("200000")))
    assert rules.violation(Decimal("0.05"), Decimal("0.01")) is None
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        split_symbol("ETHBTC")
