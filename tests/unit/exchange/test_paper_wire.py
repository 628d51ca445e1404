"""The paper venue's wire format: every domain value crosses exactly, every error comes back as
the exception the venue raised."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    MarketFilterRejected,
    OrderNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    ValidationError,
)
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.paper import wire

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

VALUES = [
    MarketRules(
        symbol="BTC/USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_amount=Decimal("1E-5"),
        min_notional=Decimal("5.000"),
        max_amount=Decimal("9000"),
    ),
    Ticker(symbol="BTC/USDT", last=Decimal("30000.10"), timestamp=T0),
    Ticker(symbol="ETH/BTC", last=Decimal("0.05"), bid=Decimal("0.0499"), ask=Decimal("0.0501")),
    Balance(currency="USDT", free=Decimal("9970.0300"), used=Decimal("29.97")),
    Candle(
        timestamp=T0,
        open=Decimal("1"),
        high=Decimal("2.5"),
        low=Decimal("0.5"),
        close=Decimal("1.25"),
        volume=Decimal("12.000"),
    ),
    Order(
        client_order_id="mg1c1b",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.00100"),
        price=Decimal("29000.50"),
        filled=Decimal("0.001"),
        cost=Decimal("29.0005"),
        state=OrderState.FILLED,
        exchange_order_id="17",
        created_at=T0,
        updated_at=T0 + timedelta(seconds=3),
    ),
    Order(
        client_order_id="mg1c1m",
        symbol="BTC/USDT",
        side=Side.SELL,
        type=OrderType.MARKET,
        amount=Decimal("2"),
    ),
    Fill(
        trade_id="42",
        client_order_id="mg1c1b",
        symbol="BTC/USDT",
        side=Side.BUY,
        price=Decimal("29000.50"),
        amount=Decimal("0.001"),
        fee=Decimal("0.000001"),
        fee_currency="BTC",
        exchange_order_id="17",
        timestamp=T0,
        extra={"maker": "true"},
    ),
]


def _through_json(value: object) -> object:
    return json.loads(json.dumps(wire.encode(value)))


def _exact(a: object, b: object) -> bool:
    """Equal, and every Decimal with the same digits and exponent (1.10 is not 1.1 here)."""
    return a == b and repr(a) == repr(b)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_every_domain_value_crosses_exactly(value: object) -> None:
    back = wire.decode(type(value), _through_json(value))
    assert _exact(back, value)
    if isinstance(value, Fill):
        assert back.extra == value.extra  # type: ignore[attr-defined]  # not part of ==


def test_collections_cross_exactly() -> None:
    orders = [v for v in VALUES if isinstance(v, Order)]
    assert _exact(wire.decode(list[Order], _through_json(orders)), orders)
    balances = {"USDT": VALUES[3], "BTC": Balance(currency="BTC", free=Decimal("0E-8"))}
    assert _exact(wire.decode(dict[str, Balance], _through_json(balances)), balances)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_decimal_crosses_with_its_exponent(amount: Decimal) -> None:
    balance = Balance(currency="BTC", free=amount)
    back = wire.decode(Balance, _through_json(balance))
    assert back.free.as_tuple() == amount.as_tuple()


def test_money_travels_as_strings_and_times_in_utc() -> None:
    later = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    data = wire.encode(Ticker(symbol="X/Y", last=Decimal("0.1"), timestamp=later))
    assert data["last"] == "0.1"
    assert data["timestamp"] == "2030-01-02T03:04:05+00:00"
    assert wire.decode(Ticker, data).timestamp == later


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"currency": "BTC", "free": 1.5}, "free: money travels as a string"),
        ({"currency": "BTC", "free": "NaN"}, "not a finite number"),
        ({"currency": "BTC", "free": "abc"}, "not a decimal number"),
        ({"currency": "BTC"}, "free: missing"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_naming_the_field(data: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        wire.decode(Balance, data)


def test_a_naive_time_is_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="naive"):
        wire.encode(Ticker(symbol="X/Y", last=Decimal("1"), timestamp=datetime(2030, 1, 1)))
    with pytest.raises(ValueError, match="no time zone"):
        wire.decode(Ticker, {"symbol": "X/Y", "last": "1", "timestamp": "2030-01-01T00:00:00"})


ERRORS = [
    InvalidOrder("Filter failure: PRICE_FILTER"),
    MarketFilterRejected("Filter failure: LOT_SIZE (amount 1 ...)"),
    InsufficientFunds("Account has insufficient balance"),
    OrderNotFound("Unknown order sent."),
    DuplicateOrder("Duplicate order sent."),
    UnknownSymbol("Invalid symbol."),
    AuthenticationFailed("paper account alice/main was never opened"),
    ExchangeUnavailable("paper venue has no price for BTC/USDT yet"),
    ValidationError("must be a Decimal in [0, 1)", field="fee_rate"),
    RateLimited("slow down", retry_after=1.5),
    OrderOutcomeUnknown("who knows", client_order_id="mg1c1b"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_domain_error_comes_back_as_itself(error: Exception) -> None:
    status, body = wire.error_body(error)
    back = wire.error_from(json.loads(json.dumps(body)))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert status >= 400
    if isinstance(error, ConfigurationError):
        assert back.field == error.field  # type: ignore[union-attr]
    if isinstance(error, RateLimited):
        assert back.retry_after == error.retry_after  # type: ignore[union-attr]
    if isinstance(error, OrderOutcomeUnknown):
        assert back.client_order_id == error.client_order_id  # type: ignore[union-attr]


def test_codes_are_stable_names_not_class_names() -> None:
    assert wire.error_body(OrderNotFound("x"))[1]["error"]["code"] == "order_not_found"
    assert wire.error_body(MarketFilterRejected("x"))[1]["error"]["code"] == (
        "market_filter_rejected"
    )


def test_a_bug_in_the_venue_is_internal_and_keeps_its_message_home() -> None:
    status, body = wire.error_body(KeyError("sk-live-secret-looking-thing"))
    assert status == 500
    assert body["error"]["code"] == wire.INTERNAL
    assert "secret" not in json.dumps(body)
    assert wire.error_from(body) is None
