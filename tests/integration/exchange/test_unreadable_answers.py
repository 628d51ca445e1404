"""Venue answers of an unexpected shape, through the real ccxt.binance client.

Every one must become a domain error naming venue, operation and symbol (never a ValueError,
KeyError or TypeError that would kill an actor), and a create or cancel the venue did apply must
be resolved from the venue's own record, as an unknown outcome is.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ExchangeUnavailable, OrderOutcomeUnknown
from domain.orders import OrderState, OrderType, Side
from exchange.ccxt_adapter import CcxtExchange
from exchange.feeds import LiveTickerSource
from exchange.resilience.retry import ReadRetryPolicy
from tests.integration.exchange.fake_binance import FakeBinance, Fault
from tests.integration.exchange.fake_binance_venue import Venue

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"
NO_LAST = {"symbol": "BTCUSDT", "bidPrice": "29999.99", "askPrice": "30000.01"}


def limit_buy(ex: CcxtExchange, coid: str) -> Any:
    return ex.create_order(
        client_order_id=coid,
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.001"),
        price=Decimal("29000"),
    )


@pytest.fixture
def ex(make_adapter: Make) -> CcxtExchange:
    adapter = make_adapter(retry=ReadRetryPolicy(max_attempts=1))
    adapter.load_market_rules(SYM)
    return adapter


@pytest.mark.parametrize(
    ("method", "path", "body", "operation"),
    [
        ("GET", "ticker/24hr", NO_LAST, "fetch_ticker BTC/USDT"),
        ("GET", "ticker/24hr", {**NO_LAST, "lastPrice": "0.00000000"}, "fetch_ticker BTC/USDT"),
        ("GET", "ticker/24hr", {**NO_LAST, "lastPrice": "abc"}, "fetch_ticker BTC/USDT"),
        ("GET", "order", {"symbol": "BTCUSDT", "orderId": 5}, "fetch_order BTC/USDT"),
        ("GET", "account", {"balances": [{"free": "1", "locked": "0"}]}, "fetch_balances"),
        ("GET", "account", {"balances": [{"asset": "X", "free": "NaN"}]}, "fetch_balances"),
        ("GET", "openOrders", [{"orderId": 1, "symbol": "BTCUSDT"}], "fetch_open_orders"),
        ("GET", "myTrades", [{"id": 1, "symbol": "BTCUSDT", "time": 1}], "fetch_fills BTC/USDT"),
    ],
    ids=[
        "ticker-no-last",
        "ticker-zero",
        "ticker-nan",
        "order-bare",
        "balance-no-asset",
        "balance-nan",
        "open-no-coid",
        "trade-no-order",
    ],
)
def test_an_unreadable_read_is_exchange_unavailable_naming_where(
    ex: CcxtExchange, fake: FakeBinance, method: str, path: str, body: Any, operation: str
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "ticker/24hr": lambda: ex.fetch_ticker(SYM),
        "order": lambda: ex.fetch_order(SYM, client_order_id="mg1c1b"),
        "account": ex.fetch_balances,
        "openOrders": lambda: ex.fetch_open_orders(SYM),
        "myTrades": lambda: ex.fetch_fills(SYM),
    }
    fake.inject(Fault.http(method, path, 200, body))
    with pytest.raises(ExchangeUnavailable, match=f"^binance {operation}"):
        calls[path]()


def test_a_feed_survives_a_ticker_without_a_last_price(ex: CcxtExchange, fake: FakeBinance) -> None:
    feed = LiveTickerSource(ex, SYM, interval=5)
    fake.inject(Fault.http("GET", "ticker/24hr", 200, NO_LAST))
    assert feed.next_tick() is None
    assert isinstance(feed.last_error, ExchangeUnavailable)
    assert "fetch_ticker BTC/USDT" in str(feed.last_error)
    tick = feed.next_tick()
    assert tick is not None and tick.price == Decimal("30000")


def test_a_create_applied_but_answered_oddly_is_read_back_by_client_order_id(
    ex: CcxtExchange, fake: FakeBinance, venue: Venue
) -> None:
    fake.inject(Fault.garbled("POST", "order", {"symbol": "BTCUSDT", "orderId": 1}))
    order = limit_buy(ex, "mg2c1b")
    assert (order.client_order_id, order.state) == ("mg2c1b", OrderState.OPEN)
    assert len(venue.orders) == 1 and fake.count("POST", "order") == 1


def test_a_create_whose_answer_and_lookup_are_unreadable_stays_unknown(
    ex: CcxtExchange, fake: FakeBinance, venue: Venue
) -> None:
    fake.inject(
        Fault.garbled("POST", "order", {"symbol": "BTCUSDT", "orderId": 1}),
        Fault.http("GET", "order", 200, {"symbol": "BTCUSDT"}),
    )
    with pytest.raises(OrderOutcomeUnknown) as caught:
        limit_buy(ex, "mg3c1b")
    assert caught.value.client_order_id == "mg3c1b"
    assert len(venue.orders) == 1 and fake.count("POST", "order") == 1  # placed, never resent


def test_a_cancel_applied_but_answered_oddly_returns_the_canceled_order(
    ex: CcxtExchange, fake: FakeBinance
) -> None:
    limit_buy(ex, "mg4c1b")
    fake.inject(Fault.garbled("DELETE", "order", {"code": 0}))
    assert ex.cancel_order(SYM, client_order_id="mg4c1b").state is OrderState.CANCELED
    assert fake.count("DELETE", "order") == 1
