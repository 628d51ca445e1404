"""What the adapter remembers per account stays bounded however many orders it has seen."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from exchange.ccxt_adapter import CcxtExchange
from exchange.ccxt_adapter.adapter import KNOWN_ORDERS_MAX
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import Venue, s

Make = Callable[..., CcxtExchange]
FIRST = 2000


def rest_orders(venue: Venue, count: int) -> None:
    """`count` resting buys straight into the fake's book (placing them one by one over HTTP
    would only make the test slow)."""
    now = venue.now_ms()
    for i in range(count):
        oid = FIRST + i
        venue.orders[oid] = {
            "symbol": "BTCUSDT",
            "orderId": oid,
            "orderListId": -1,
            "clientOrderId": f"mg{i}c1b",
            "price": Decimal("20000"),
            "origQty": Decimal("0.001"),
            "executedQty": Decimal(0),
            "cummulativeQuoteQty": Decimal(0),
            "status": "NEW",
            "timeInForce": "GTC",
            "type": "LIMIT",
            "side": "BUY",
            "time": now,
            "updateTime": now,
            "_locked": Decimal(20),
            "_limit": Decimal("20000"),
        }


def trade_of(venue: Venue, order_id: int, trade_id: int) -> None:
    venue.trades.append(
        {
            "symbol": "BTCUSDT",
            "id": trade_id,
            "orderId": order_id,
            "orderListId": -1,
            "price": s(Decimal("20000")),
            "qty": s(Decimal("0.001")),
            "quoteQty": s(Decimal("20")),
            "commission": s(Decimal("0.000001")),
            "commissionAsset": "BTC",
            "time": venue.now_ms(),
            "isBuyer": True,
            "isMaker": True,
            "isBestMatch": True,
        }
    )


def test_the_order_id_map_is_bounded_and_a_forgotten_order_costs_one_lookup(
    make_adapter: Make, fake: FakeBinance, venue: Venue
) -> None:
    count = KNOWN_ORDERS_MAX + 50
    rest_orders(venue, count)
    ex = make_adapter()
    assert len(ex.fetch_open_orders("BTC/USDT")) == count
    assert len(ex._coid_by_order_id) == KNOWN_ORDERS_MAX
    oldest, newest = FIRST, FIRST + count - 1
    trade_of(venue, oldest, 1)
    trade_of(venue, newest, 2)
    fake.reset_log()
    fills = ex.fetch_fills("BTC/USDT")
    assert [f.client_order_id for f in fills] == ["mg0c1b", f"mg{count - 1}c1b"]
    assert fake.count("GET", "order") == 1  # only the forgotten (least recent) order
    assert len(ex._coid_by_order_id) == KNOWN_ORDERS_MAX
