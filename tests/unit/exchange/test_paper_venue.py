"""The paper venue behaves like a binance spot account: holds, maker/taker fills, fees, lookups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    UnknownSymbol,
    ValidationError,
)
from domain.market import Candle, MarketRules
from domain.orders import OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue, VenueFill
from exchange.port import Exchange
from tests.unit.exchange.conftest import ManualClock

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET


def _bal(port: PaperExchange, currency: str) -> tuple[Decimal, Decimal]:
    b = port.fetch_balances()[currency]
    return b.free, b.used


def test_paper_exchange_implements_the_port(alice: PaperExchange) -> None:
    port: Exchange = alice
    assert isinstance(port, Exchange)
    assert port.exchange_id == "paper"
    assert port.load_market_rules("ETH/BTC").tick_size == D("0.00001")
    assert port.fetch_ticker("ETH/BTC").last == D("0.05")


def test_resting_buy_locks_quote_and_fills_at_its_limit_when_price_trades_through(
    venue: PaperVenue, alice: PaperExchange, clock: ManualClock
) -> None:
    heard: list[VenueFill] = []
    venue.add_fill_listener(heard.extend)
    order = alice.create_order(
        client_order_id="b1", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.04")
    )
    assert order.state is OrderState.OPEN and order.exchange_order_id is not None
    assert _bal(alice, "BTC") == (D("0.96"), D("0.04"))

    assert venue.update_price("ETH/BTC", D("0.041")) == []
    assert heard == []
    at = clock.advance(60)
    fills = venue.update_price("ETH/BTC", D("0.039"))

    assert [f.fill.price for f in fills] == [D("0.04")]  # maker: its own limit, not the tick
    assert heard == fills and fills[0].account == "alice"
    fill = fills[0].fill
    assert (fill.amount, fill.fee, fill.fee_currency, fill.timestamp) == (
        D(1),
        D("0.001"),
        "ETH",
        at,
    )
    assert _bal(alice, "BTC") == (D("0.96"), D(0))
    assert _bal(alice, "ETH") == (D("10.999"), D(0))
    done = alice.fetch_order("ETH/BTC", client_order_id="b1")
    assert done.state is OrderState.FILLED and done.filled == D(1) and done.cost == D("0.04")
    assert alice.fetch_open_orders() == []


def test_crossing_limit_and_market_orders_fill_at_once_at_the_current_price(
    venue: PaperVenue, alice: PaperExchange
) -> None:
    heard: list[VenueFill] = []
    venue.add_fill_listener(heard.extend)
    taker = alice.create_order(
        client_order_id="t", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(2), price=D("0.06")
    )
    assert taker.state is OrderState.FILLED and taker.cost == D("0.10")
    assert taker.average_price == D("0.05")
    assert _bal(alice, "BTC") == (D("0.90"), D(0))
    assert _bal(alice, "ETH") == (D("11.998"), D(0))

    sell = alice.create_order(
        client_order_id="m", symbol="ETH/BTC", side=SELL, type=MARKET, amount=D(1)
    )
    assert sell.state is OrderState.FILLED and sell.price is None and sell.cost == D("0.05")
    assert _bal(alice, "BTC") == (D("0.90") + D("0.05") - D("0.00005"), D(0))
    fills = alice.fetch_fills("ETH/BTC")
    assert [(f.side, f.fee, f.fee_currency) for f in fills] == [
        (BUY, D("0.002"), "ETH"),
        (SELL, D("0.00005"), "BTC"),
    ]
    assert heard == []  # taker fills are returned to the caller, not broadcast


def test_candles_fill_buys_on_the_low_and_sells_on_the_high(
    venue: PaperVenue, alice: PaperExchange
) -> None:
    alice.create_order(
        client_order_id="b", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.045")
    )
    alice.create_order(
        client_order_id="s", symbol="ETH/BTC", side=SELL, type=LIMIT, amount=D(1), price=D("0.06")
    )
    assert _bal(alice, "ETH") == (D(9), D(1))
    candle = Candle(
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        open=D("0.05"),
        high=D("0.0599"),
        low=D("0.045"),
        close=D("0.049"),
    )
    fills = venue.update_candle("ETH/BTC", candle)
    assert [(f.fill.client_order_id, f.fill.price) for f in fills] == [("b", D("0.045"))]
    assert venue.ticker("ETH/BTC").last == D("0.049")

    fills = venue.update_candle(
        "ETH/BTC",
        Candle(
            timestamp=candle.timestamp,
            open=D("0.05"),
            high=D("0.06"),
            low=D("0.05"),
            close=D("0.05"),
        ),
    )
    assert [(f.fill.client_order_id, f.fill.price) for f in fills] == [("s", D("0.06"))]
    assert _bal(alice, "BTC") == (D(1) - D("0.045") + D("0.06") - D("0.00006"), D(0))
    assert _bal(alice, "ETH") == (D(10) - D("0.001"), D(0))


@pytest.mark.parametrize(
    ("amount", "price", "message"),
    [
        (D(1), D("0.000015"), "Filter failure: PRICE_FILTER"),
        (D("0.0015"), D("0.04"), "Filter failure: LOT_SIZE"),
        (D("0.001"), D("0.05"), "Filter failure: NOTIONAL"),
        (D(0), D("0.04"), "Invalid quantity"),
        (D(1), D(0), "Invalid price"),
        (D(1), None, "price"),
    ],
)
def test_off_grid_and_too_small_orders_are_rejected_not_rounded(
    alice: PaperExchange, amount: Decimal, price: Decimal | None, message: str
) -> None:
    with pytest.raises(InvalidOrder, match=message):
        alice.create_order(
            client_order_id="x", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=amount, price=price
        )
    assert alice.fetch_open_orders() == [] and _bal(alice, "BTC") == (D(1), D(0))


def test_insufficient_funds_counts_funds_held_by_open_orders(alice: PaperExchange) -> None:
    alice.create_order(
        client_order_id="a", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(20), price=D("0.04")
    )
    with pytest.raises(InsufficientFunds, match=r"needs 0\.8 BTC, free is 0\.2"):
        alice.create_order(
            client_order_id="b",
            symbol="ETH/BTC",
            side=BUY,
            type=LIMIT,
            amount=D(20),
            price=D("0.04"),
        )
    with pytest.raises(InsufficientFunds):
        alice.create_order(
            client_order_id="c", symbol="ETH/BTC", side=SELL, type=MARKET, amount=D(11)
        )


def test_client_order_id_is_unique_among_open_orders_only(alice: PaperExchange) -> None:
    first = alice.create_order(
        client_order_id="mg1c1b",
        symbol="ETH/BTC",
        side=BUY,
        type=LIMIT,
        amount=D(1),
        price=D("0.04"),
    )
    with pytest.raises(DuplicateOrder, match="Duplicate order sent"):
        alice.create_order(
            client_order_id="mg1c1b",
            symbol="ETH/BTC",
            side=BUY,
            type=LIMIT,
            amount=D(1),
            price=D("0.03"),
        )
    canceled = alice.cancel_order("ETH/BTC", client_order_id="mg1c1b")
    assert canceled.state is OrderState.CANCELED
    assert _bal(alice, "BTC") == (D(1), D(0))
    again = alice.create_order(
        client_order_id="mg1c1b",
        symbol="ETH/BTC",
        side=BUY,
        type=LIMIT,
        amount=D(1),
        price=D("0.03"),
    )
    assert again.exchange_order_id != first.exchange_order_id
    # Lookup by client id finds the newest; by exchange id, each one.
    assert alice.fetch_order("ETH/BTC", client_order_id="mg1c1b").price == D("0.03")
    old = alice.fetch_order("ETH/BTC", exchange_order_id=first.exchange_order_id)
    assert old.state is OrderState.CANCELED and old.price == D("0.04")


def test_cancel_of_a_closed_or_unknown_order_is_order_not_found(
    venue: PaperVenue, alice: PaperExchange
) -> None:
    alice.create_order(
        client_order_id="b", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.04")
    )
    venue.update_price("ETH/BTC", D("0.04"))
    with pytest.raises(OrderNotFound, match="already filled"):
        alice.cancel_order("ETH/BTC", client_order_id="b")
    with pytest.raises(OrderNotFound):
        alice.cancel_order("ETH/BTC", exchange_order_id="999")
    with pytest.raises(OrderNotFound):
        alice.fetch_order("ETH/BTC", client_order_id="nope")
    with pytest.raises(OrderNotFound):
        alice.fetch_order("ETH/BTC", exchange_order_id="not-a-number")
    with pytest.raises(InvalidOrder):
        alice.fetch_order("ETH/BTC")


def test_accounts_are_isolated(venue: PaperVenue, alice: PaperExchange, bob: PaperExchange) -> None:
    order = alice.create_order(
        client_order_id="same", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.04")
    )
    bob.create_order(
        client_order_id="same", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.03")
    )
    with pytest.raises(OrderNotFound):
        bob.fetch_order("ETH/BTC", exchange_order_id=order.exchange_order_id)
    with pytest.raises(OrderNotFound):
        bob.cancel_order("ETH/BTC", exchange_order_id=order.exchange_order_id)
    assert [o.price for o in bob.fetch_open_orders("ETH/BTC")] == [D("0.03")]
    fills = venue.update_price("ETH/BTC", D("0.02"))
    assert sorted(f.account for f in fills) == ["alice", "bob"]
    assert len({f.fill.trade_id for f in fills}) == 2  # trade ids unique per venue
    assert bob.fetch_balances()["ETH"].free == D(1)  # bob pays no fee
    with pytest.raises(AuthenticationFailed):
        PaperExchange(venue, "mallory").fetch_balances()


def test_fee_in_quote_holds_and_charges_the_fee_in_quote(venue: PaperVenue) -> None:
    venue.open_account("carol", balances={"BTC": D("0.1")}, fee_rate=D("0.01"), fee_in_quote=True)
    carol = PaperExchange(venue, "carol")
    with pytest.raises(InsufficientFunds):  # 2 * 0.05 = 0.1 plus 1% fee > 0.1
        carol.create_order(
            client_order_id="x", symbol="ETH/BTC", side=BUY, type=MARKET, amount=D(2)
        )
    carol.create_order(
        client_order_id="y", symbol="ETH/BTC", side=BUY, type=LIMIT, amount=D(1), price=D("0.04")
    )
    assert _bal(carol, "BTC") == (D("0.1") - D("0.0404"), D("0.0404"))
    [fill] = venue.update_price("ETH/BTC", D("0.04"))
    assert (fill.fill.fee, fill.fill.fee_currency) == (D("0.0004"), "BTC")
    assert _bal(carol, "BTC") == (D("0.0596"), D(0))
    assert _bal(carol, "ETH") == (D(1), D(0))


def test_fetch_fills_since_and_limit(
    venue: PaperVenue, alice: PaperExchange, clock: ManualClock
) -> None:
    for i in range(3):
        clock.advance(10)
        alice.create_order(
            client_order_id=f"m{i}", symbol="ETH/BTC", side=BUY, type=MARKET, amount=D(1)
        )
    first = alice.fetch_fills("ETH/BTC")
    assert [f.client_order_id for f in first] == ["m0", "m1", "m2"]
    since = first[1].timestamp
    assert since is not None
    assert [f.client_order_id for f in alice.fetch_fills("ETH/BTC", since=since)] == ["m1", "m2"]
    later = alice.fetch_fills("ETH/BTC", since=since + timedelta(microseconds=1), limit=5)
    assert [f.client_order_id for f in later] == ["m2"]
    assert [f.client_order_id for f in alice.fetch_fills("ETH/BTC", limit=1)] == ["m0"]


def test_unknown_symbols_and_missing_prices(venue: PaperVenue, alice: PaperExchange) -> None:
    with pytest.raises(UnknownSymbol, match="Invalid symbol"):
        alice.load_market_rules("DOGE/BTC")
    with pytest.raises(UnknownSymbol):
        alice.create_order(
            client_order_id="x", symbol="DOGE/BTC", side=BUY, type=MARKET, amount=D(1)
        )
    with pytest.raises(UnknownSymbol):
        venue.update_price("DOGE/BTC", D(1))
    venue.set_market_rules(MarketRules(symbol="LTC/BTC"))
    with pytest.raises(ExchangeUnavailable):
        alice.fetch_ticker("LTC/BTC")
    with pytest.raises(ExchangeUnavailable):
        alice.create_order(
            client_order_id="x", symbol="LTC/BTC", side=BUY, type=MARKET, amount=D(1)
        )


def test_open_account_is_idempotent_and_validates(venue: PaperVenue, alice: PaperExchange) -> None:
    alice.create_order(client_order_id="m", symbol="ETH/BTC", side=BUY, type=MARKET, amount=D(1))
    venue.open_account("alice", balances={"BTC": D(1)}, fee_rate=D(0))
    assert _bal(alice, "BTC") == (D("0.95"), D(0))  # not reset by re-onboarding
    alice.create_order(client_order_id="n", symbol="ETH/BTC", side=BUY, type=MARKET, amount=D(1))
    assert alice.fetch_fills("ETH/BTC")[-1].fee == 0  # the new fee rate applies
    with pytest.raises(ValidationError, match="fee_rate"):
        venue.open_account("dave", fee_rate=D("1.5"))
    with pytest.raises(ValidationError, match="BTC"):
        venue.open_account("dave", balances={"BTC": D(-1)})


def test_a_sell_limit_at_or_below_the_market_is_a_taker_at_the_market_price(
    alice: PaperExchange,
) -> None:
    order = alice.create_order(
        client_order_id="s", symbol="ETH/BTC", side=SELL, type=LIMIT, amount=D(2), price=D("0.045")
    )
    assert order.state is OrderState.FILLED and order.average_price == D("0.05")
    assert _bal(alice, "ETH") == (D(8), D(0))
    assert _bal(alice, "BTC") == (D(1) + D("0.1") - D("0.0001"), D(0))
