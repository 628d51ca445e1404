"""Market buys sized by the quote they may spend, on the paper venue (binance's quoteOrderQty)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ExchangeUnavailable, InvalidOrder, MarketFilterRejected
from domain.orders import OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue
from exchange.sizing import amount_for_cost
from tests.unit.exchange.conftest import ETH_BTC

D = Decimal


def buy(ex: PaperExchange, coid: str, cost: object, **kw: object) -> object:
    args: dict[str, object] = {
        "client_order_id": coid,
        "symbol": "ETH/BTC",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "amount": D("1"),  # the caller's estimate: ignored when sized by cost
        "cost": cost,
    }
    args.update(kw)
    return ex.create_order(**args)  # type: ignore[arg-type]


def test_a_market_buy_by_cost_fills_what_the_cost_buys_rounded_down(
    alice: PaperExchange,
) -> None:
    order = buy(alice, "mg1c1b", D("0.01234"))  # 0.2468 ETH at 0.05, step 0.001
    assert order.state is OrderState.FILLED  # type: ignore[attr-defined]
    assert (order.amount, order.filled, order.cost) == (D("0.246"), D("0.246"), D("0.0123"))  # type: ignore[attr-defined]
    balances = alice.fetch_balances()
    assert balances["BTC"].free == D("1") - D("0.0123")
    assert balances["ETH"].free == D("10") + D("0.246") - D("0.000246")  # fee in ETH, as today


def test_the_order_is_kept_with_its_real_amount(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "p.sqlite")
    venue.set_market_rules(ETH_BTC)
    venue.open_account("a", balances={"BTC": D("1")})
    venue.update_price("ETH/BTC", D("0.05"))
    buy(PaperExchange(venue, "a"), "mg2c1b", D("0.01234"))
    venue.close()
    again = PaperVenue(tmp_path / "p.sqlite")
    kept = PaperExchange(again, "a").fetch_order("ETH/BTC", client_order_id="mg2c1b")
    assert (kept.amount, kept.cost, kept.state) == (D("0.246"), D("0.0123"), OrderState.FILLED)
    again.close()


def test_the_spend_never_exceeds_the_cost(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "p.sqlite")
    venue.set_market_rules(ETH_BTC)
    venue.open_account("a", balances={"BTC": D("1000000")})
    ex = PaperExchange(venue, "a")
    seen: list[int] = []

    @settings(max_examples=60, deadline=None)
    @given(
        cost=st.decimals(min_value="0.0001", max_value="100", places=8),
        price=st.decimals(min_value="0.00001", max_value="2", places=5),
    )
    def check(cost: Decimal, price: Decimal) -> None:
        venue.update_price("ETH/BTC", price)
        seen.append(1)
        try:
            order = buy(ex, f"mg{len(seen)}c1b", cost)
        except MarketFilterRejected:  # what the cost buys is below the minimums: refused,
            within = amount_for_cost(cost, price, ETH_BTC.step_size)  # never rounded up
            assert ETH_BTC.violation(price, within) is not None
            return
        assert order.cost <= cost and order.amount % ETH_BTC.step_size == 0  # type: ignore[attr-defined]
        assert order.cost + price * ETH_BTC.step_size > cost  # type: ignore[attr-defined]

    check()
    venue.close()


@pytest.mark.parametrize(
    ("cost", "kw", "error", "match"),
    [
        (D("0.00005"), {}, MarketFilterRejected, "NOTIONAL"),
        (0.01, {}, InvalidOrder, "cost"),
        (D("-1"), {}, InvalidOrder, "cost"),
        (D("0.01"), {"type": OrderType.LIMIT, "price": D("0.05")}, InvalidOrder, "limit buy"),
        (D("0.01"), {"side": Side.SELL}, InvalidOrder, "market sell"),
    ],
)
def test_refusals(
    alice: PaperExchange, cost: object, kw: dict[str, object], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        buy(alice, "mg3c1b", cost, **kw)
    assert alice.fetch_open_orders() == []
    assert alice.fetch_balances()["BTC"].free == D("1")


def test_no_price_yet_is_unavailable(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "p.sqlite")
    venue.set_market_rules(ETH_BTC)
    venue.open_account("a", balances={"BTC": D("1")})
    with pytest.raises(ExchangeUnavailable, match="no price"):
        buy(PaperExchange(venue, "a"), "mg4c1b", D("0.01"))
    venue.close()
