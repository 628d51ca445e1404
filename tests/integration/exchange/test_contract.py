"""One contract, four venues: the paper exchange, the same paper exchange served over HTTP by
another process's server (`RemoteVenue`, as `martingale paper-venue` serves it; here a thread),
its in-memory twin for backtests (SimVenue, the same matching core without the file) and the
ccxt adapter (real ccxt.binance client against the fake binance server) must behave alike for
everything the engine relies on.

Both venues get the same market (BTC/USDT, tick 0.01, step 0.00001, min notional 5, price
30000), the same balances and the same 0.1 % fee charged in the asset received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import (
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrder,
    MarketFilterRejected,
    OrderNotFound,
    UnknownSymbol,
)
from domain.market import MarketRules
from domain.orders import Order, OrderState, OrderType, Side
from exchange.ccxt_adapter import CcxtExchange
from exchange.paper import PaperExchange, PaperVenue, SimVenue
from exchange.port import Exchange
from tests.integration.exchange.fake_binance_venue import Venue
from tests.integration.exchange.served_venue import remote

SYM = "BTC/USDT"
RULES = MarketRules(
    symbol=SYM,
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.00001"),
    min_amount=Decimal("0.00001"),
    max_amount=Decimal("9000"),
    min_notional=Decimal("5"),
    # The maker fee: the paper account's rate; ccxt's binance lists 0.1 % for every market.
    maker_fee_rate=Decimal("0.001"),
)
START = {"USDT": Decimal("10000"), "BTC": Decimal("1")}


@dataclass
class Harness:
    exchange: Exchange
    set_price: Callable[[Decimal], None]


class StepClock:
    """Strictly increasing time, so every fill has its own timestamp on the paper venue too."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture(params=["paper", "remote", "sim", "ccxt"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "remote":
        served = PaperVenue(tmp_path / "paper.sqlite", name="paper", clock=StepClock())
        served.set_market_rules(RULES)
        served.update_price(SYM, Decimal("30000"))
        with remote(served) as client:
            client.open_account("acct", balances=START, fee_rate=Decimal("0.001"))
            port = PaperExchange(client, "acct")
            yield Harness(port, lambda price: served.update_price(SYM, price) and None)
            port.close()
        served.close()
        return
    if request.param in ("paper", "sim"):
        paper: PaperVenue | SimVenue = (
            PaperVenue(tmp_path / "paper.sqlite", name="paper", clock=StepClock())
            if request.param == "paper"
            else SimVenue(name="paper", clock=StepClock())
        )
        paper.set_market_rules(RULES)
        paper.open_account("acct", balances=START, fee_rate=Decimal("0.001"))
        paper.update_price(SYM, Decimal("30000"))
        port = PaperExchange(paper, "acct")
        yield Harness(port, lambda price: paper.update_price(SYM, price) and None)
        port.close()
        paper.close()
        return
    venue: Venue = request.getfixturevalue("venue")
    request.getfixturevalue("fake")
    adapter: CcxtExchange = request.getfixturevalue("make_adapter")()
    yield Harness(adapter, lambda price: venue.set_price("BTCUSDT", price) and None)


def order(ex: Exchange, coid: str, amount: str, price: str | None = None, side: Side = Side.BUY):
    return ex.create_order(
        client_order_id=coid,
        symbol=SYM,
        side=side,
        type=OrderType.LIMIT if price else OrderType.MARKET,
        amount=Decimal(amount),
        price=Decimal(price) if price else None,
    )


def comparable(o: Order) -> tuple[object, ...]:
    return (o.client_order_id, o.symbol, o.side, o.type, o.amount, o.price, o.filled, o.state)


def test_market_rules(harness: Harness) -> None:
    assert harness.exchange.load_market_rules(SYM) == RULES
    assert harness.exchange.load_market_rules(SYM, fresh=True) == RULES
    with pytest.raises(UnknownSymbol):
        harness.exchange.load_market_rules("NOPE/USDT")


def test_place_fetch_by_either_id_and_cancel(harness: Harness) -> None:
    ex = harness.exchange
    placed = order(ex, "mg1c1b", "0.001", "29000.5")
    assert placed.state is OrderState.OPEN and placed.exchange_order_id
    assert ex.fetch_balances()["USDT"].used == Decimal("29.0005")
    by_coid = ex.fetch_order(SYM, client_order_id="mg1c1b")
    by_id = ex.fetch_order(SYM, exchange_order_id=placed.exchange_order_id)
    assert comparable(by_coid) == comparable(by_id) == comparable(placed)
    assert [o.client_order_id for o in ex.fetch_open_orders(SYM)] == ["mg1c1b"]
    assert [o.client_order_id for o in ex.fetch_open_orders()] == ["mg1c1b"]
    canceled = ex.cancel_order(SYM, client_order_id="mg1c1b")
    assert (canceled.state, canceled.client_order_id) == (OrderState.CANCELED, "mg1c1b")
    assert ex.fetch_open_orders(SYM) == []
    assert ex.fetch_balances()["USDT"].free == START["USDT"]
    with pytest.raises(OrderNotFound):
        ex.cancel_order(SYM, client_order_id="mg1c1b")
    with pytest.raises(OrderNotFound):
        ex.fetch_order(SYM, client_order_id="mg1c404b")


def test_duplicate_client_order_id_while_open_then_reusable_after(harness: Harness) -> None:
    ex = harness.exchange
    first = order(ex, "mg2c1b", "0.001", "29000")
    with pytest.raises(DuplicateOrder):
        order(ex, "mg2c1b", "0.002", "28000")
    ex.cancel_order(SYM, exchange_order_id=first.exchange_order_id)
    second = order(ex, "mg2c1b", "0.002", "28000")
    assert second.exchange_order_id != first.exchange_order_id
    assert ex.fetch_order(SYM, client_order_id="mg2c1b").exchange_order_id == (
        second.exchange_order_id
    )


@pytest.mark.parametrize(
    ("amount", "price", "error"),
    [
        ("1", "29000", InsufficientFunds),
        ("0.0001", "29000", InvalidOrder),  # notional 2.9 < 5
        ("9001", "29000", InvalidOrder),  # above max amount
        ("0.000015", "29000", InvalidOrder),  # off the step grid
        ("0.001", "29000.005", InvalidOrder),  # off the tick grid
    ],
)
def test_rejections(harness: Harness, amount: str, price: str, error: type) -> None:
    with pytest.raises(error):
        order(harness.exchange, "mg3c1b", amount, price)
    assert harness.exchange.fetch_open_orders(SYM) == []
    assert harness.exchange.fetch_balances()["USDT"].free == START["USDT"]


@pytest.mark.parametrize(("amount", "price"), [("0.0001", "29000"), ("9001", "29000")])
def test_the_venues_filter_refusals_say_the_rules_may_have_changed(
    harness: Harness, amount: str, price: str
) -> None:
    """So the engine knows to re-read the rules and re-size before placing it again."""
    with pytest.raises(MarketFilterRejected):
        order(harness.exchange, "mg3c2b", amount, price)


def test_market_and_crossing_orders_fill_at_the_last_price(harness: Harness) -> None:
    ex = harness.exchange
    market = order(ex, "mg4c1b", "0.002")
    crossing = order(ex, "mg4c2b", "0.001", "31000")
    for placed, amount in ((market, Decimal("0.002")), (crossing, Decimal("0.001"))):
        assert placed.state is OrderState.FILLED and placed.filled == amount
        assert placed.average_price == Decimal("30000")
    sell = order(ex, "mg4c3b", "0.001", "29000", side=Side.SELL)
    assert sell.state is OrderState.FILLED and sell.cost == Decimal("30")


def test_a_market_buy_by_cost_never_spends_more_than_the_cost(harness: Harness) -> None:
    ex = harness.exchange
    bought = ex.create_order(
        client_order_id="mg6c1b",
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.MARKET,
        amount=Decimal("0.004"),  # an estimate from an older price: not what is bought
        cost=Decimal("100"),
    )
    assert (bought.state, bought.amount, bought.filled) == (
        OrderState.FILLED,
        Decimal("0.00333"),
        Decimal("0.00333"),
    )
    assert bought.cost == Decimal("99.9") <= Decimal("100")
    assert ex.fetch_balances()["USDT"].free == START["USDT"] - Decimal("99.9")
    with pytest.raises(InvalidOrder):
        ex.create_order(
            client_order_id="mg6c2b",
            symbol=SYM,
            side=Side.BUY,
            type=OrderType.MARKET,
            amount=Decimal("0.0001"),
            cost=Decimal("4"),  # below the minimum notional 5
        )


def test_resting_order_fills_after_a_price_move_with_fees_and_fills_since(
    harness: Harness,
) -> None:
    ex = harness.exchange
    order(ex, "mg5c1b", "0.002")  # taker fill at 30000
    resting = order(ex, "mg5c1s1", "0.003", "27000")
    harness.set_price(Decimal("27000.01"))
    assert ex.fetch_order(SYM, client_order_id="mg5c1s1").state is OrderState.OPEN
    harness.set_price(Decimal("26999.99"))
    filled = ex.fetch_order(SYM, exchange_order_id=resting.exchange_order_id)
    assert (filled.state, filled.filled, filled.cost) == (
        OrderState.FILLED,
        Decimal("0.003"),
        Decimal("81"),
    )
    fills = ex.fetch_fills(SYM)
    assert [(f.client_order_id, f.price, f.amount, f.fee, f.fee_currency) for f in fills] == [
        ("mg5c1b", Decimal("30000"), Decimal("0.002"), Decimal("0.000002"), "BTC"),
        ("mg5c1s1", Decimal("27000"), Decimal("0.003"), Decimal("0.000003"), "BTC"),
    ]
    assert len({f.trade_id for f in fills}) == 2
    since = ex.fetch_fills(SYM, since=fills[1].timestamp)
    assert [f.trade_id for f in since] == [fills[1].trade_id]
    balances = ex.fetch_balances()
    assert balances["USDT"].free == START["USDT"] - Decimal("60") - Decimal("81")
    assert balances["USDT"].used == 0
    assert balances["BTC"].free == START["BTC"] + Decimal("0.005") - Decimal("0.000005")
