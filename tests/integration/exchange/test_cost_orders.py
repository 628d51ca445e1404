"""Market buys sized by their quote cost, through the real ccxt.binance client.

binance takes quoteOrderQty (ccxt's createMarketBuyOrderWithCost); with that switched off (its
own createOrder.quoteOrderQty option) the adapter sizes the amount from the ask instead. Either
way the spend never exceeds the cost, and nothing is sent for a cost the venue would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import InvalidOrder, MarketFilterRejected
from domain.orders import Order, OrderState, OrderType, Side
from exchange.ccxt_adapter import CcxtExchange
from tests.integration.exchange.conftest import STALL_S
from tests.integration.exchange.fake_binance import FakeBinance, Fault
from tests.integration.exchange.fake_binance_venue import Venue

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"
NO_QUOTE_ORDERS = {"options": {"createOrder": {"quoteOrderQty": False}}}


def buy(ex: CcxtExchange, coid: str, cost: Any, **kw: Any) -> Order:
    args: dict[str, Any] = {
        "client_order_id": coid,
        "symbol": SYM,
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "amount": Decimal("0.004"),  # the engine's estimate from an older price: not sent
        "cost": cost,
    }
    args.update(kw)
    return ex.create_order(**args)


def sent(fake: FakeBinance) -> dict[str, str]:
    return next(params for m, p, params in fake.seen if (m, p) == ("POST", "order"))


def test_binance_sizes_a_quote_order_itself(make_adapter: Make, fake: FakeBinance) -> None:
    order = buy(make_adapter(), "mg1c1b", Decimal("100"))
    wire = sent(fake)
    assert wire["quoteOrderQty"] == "100" and "quantity" not in wire
    assert wire["newClientOrderId"] == "mg1c1b"
    assert (order.client_order_id, order.state) == ("mg1c1b", OrderState.FILLED)
    assert (order.amount, order.cost) == (Decimal("0.00333"), Decimal("99.9"))
    assert order.cost <= Decimal("100")


def test_without_quote_orders_the_amount_is_sized_from_the_ask(
    make_adapter: Make, fake: FakeBinance
) -> None:
    order = buy(make_adapter(**NO_QUOTE_ORDERS), "mg2c1b", Decimal("100"))
    wire = sent(fake)
    assert wire["quantity"] == "0.00333" and "quoteOrderQty" not in wire  # 100 / 30000.01 ask
    assert fake.count("GET", "ticker/24hr") == 1
    assert order.amount == Decimal("0.00333") and order.cost <= Decimal("100")


@pytest.mark.parametrize("settings", [{}, NO_QUOTE_ORDERS], ids=["quote", "by-ask"])
def test_a_cost_below_the_minimum_notional_is_refused_naming_cost_and_not_sent(
    make_adapter: Make, fake: FakeBinance, settings: dict[str, Any]
) -> None:
    with pytest.raises(InvalidOrder, match=r"^cost: 4 is below the minimum notional 5"):
        buy(make_adapter(**settings), "mg3c1b", Decimal("4"))
    assert fake.count("POST", "order") == 0


def test_a_cost_that_buys_less_than_the_minimums_at_the_ask_is_not_rounded_up(
    make_adapter: Make, fake: FakeBinance
) -> None:
    with pytest.raises(
        InvalidOrder, match=r"^cost: 5\.0001 at the ask 30000\.01 buys 0\.00016 BTC"
    ):
        buy(make_adapter(**NO_QUOTE_ORDERS), "mg3c2b", Decimal("5.0001"))  # notional 4.80
    assert fake.count("POST", "order") == 0


def test_a_quote_order_the_venue_cannot_fill_above_its_minimum_is_refused(
    make_adapter: Make, fake: FakeBinance, venue: Venue
) -> None:
    with pytest.raises(MarketFilterRejected, match="NOTIONAL"):
        buy(make_adapter(), "mg3c3b", Decimal("5.0001"))
    assert venue.orders == {} and fake.count("GET", "order") == 0  # refused: nothing to resolve


@pytest.mark.parametrize(
    ("cost", "kw", "match"),
    [
        (100.0, {}, "Decimal > 0"),
        (Decimal("0"), {}, "Decimal > 0"),
        (Decimal("NaN"), {}, "Decimal > 0"),
        (Decimal("100"), {"type": OrderType.LIMIT, "price": Decimal("29000")}, "limit buy"),
        (Decimal("100"), {"side": Side.SELL}, "market sell"),
    ],
)
def test_cost_is_only_for_a_market_buy_with_a_decimal(
    make_adapter: Make, fake: FakeBinance, cost: Any, kw: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOrder, match=match):
        buy(make_adapter(), "mg4c1b", cost, **kw)
    assert fake.count("POST", "order") == 0


def test_a_quote_order_with_a_lost_answer_is_resolved_by_client_order_id(
    make_adapter: Make, fake: FakeBinance, venue: Venue
) -> None:
    fake.inject(Fault.lost_response("POST", "order", STALL_S))
    order = buy(make_adapter(), "mg5c1b", Decimal("50"))
    assert order.client_order_id == "mg5c1b" and order.cost <= Decimal("50")
    assert fake.count("POST", "order") == 1 and len(venue.orders) == 1
