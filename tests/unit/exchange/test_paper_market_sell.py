"""A market sell carries its base amount (a short's base order): no quote sizing, and the
venue refuses one the account cannot cover."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.errors import InsufficientFunds
from domain.orders import OrderState, OrderType, Side
from exchange.paper import PaperExchange


def sell(ex: PaperExchange, coid: str, amount: str) -> object:
    return ex.create_order(
        client_order_id=coid,
        symbol="ETH/BTC",
        side=Side.SELL,
        type=OrderType.MARKET,
        amount=D(amount),
        price=None,
    )


def test_a_market_sell_gives_up_exactly_its_base_amount(alice: PaperExchange) -> None:
    order = sell(alice, "mg1c1b", "0.2")  # 0.2 ETH at 0.05
    assert order.state is OrderState.FILLED  # type: ignore[attr-defined]
    assert (order.amount, order.filled, order.cost) == (D("0.2"), D("0.2"), D("0.01"))  # type: ignore[attr-defined]
    balances = alice.fetch_balances()
    assert balances["ETH"].free == D("9.8")
    assert balances["BTC"].free == D("1") + D("0.01") - D("0.00001")  # fee in the quote received


def test_a_market_sell_without_the_base_is_refused(bob: PaperExchange) -> None:
    with pytest.raises(InsufficientFunds, match="ETH"):
        sell(bob, "mg2c1b", "0.2")
    assert bob.fetch_open_orders() == []
