"""Property tests: the book pops exactly the crossed orders in priority order; fills conserve."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.orders import Side
from exchange.paper.book import Book
from exchange.paper.settle import hold_for, settle

prices = st.integers(min_value=1, max_value=50).map(lambda n: Decimal(n) / 10)
orders = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices), max_size=120)


@settings(max_examples=150, deadline=None)
@given(orders=orders, cancel=st.sets(st.integers(0, 119)), ticks=st.lists(prices, max_size=8))
def test_book_pops_exactly_the_crossed_orders_in_price_time_order(
    orders: list[tuple[Side, Decimal]], cancel: set[int], ticks: list[Decimal]
) -> None:
    book = Book()
    live: dict[int, tuple[Side, Decimal]] = {}
    for order_id, (side, price) in enumerate(orders):
        book.add(order_id, side, price)
        live[order_id] = (side, price)
    for order_id in cancel:
        assert book.remove(order_id) == (order_id in live)
        live.pop(order_id, None)
    for tick in ticks:
        buys = book.pop_buys_at_or_above(tick)
        sells = book.pop_sells_at_or_below(tick)
        want_buys = sorted(
            (i for i, (s, p) in live.items() if s is Side.BUY and p >= tick),
            key=lambda i: (-live[i][1], i),
        )
        want_sells = sorted(
            (i for i, (s, p) in live.items() if s is Side.SELL and p <= tick),
            key=lambda i: (live[i][1], i),
        )
        assert buys == want_buys and sells == want_sells
        for i in buys + sells:
            del live[i]
        assert len(book) == len(live)


def test_book_compacts_after_many_cancels_and_keeps_the_rest() -> None:
    book = Book()
    for i in range(1000):
        book.add(i, Side.BUY, Decimal(i))
    for i in range(1000):
        if i % 3:
            book.remove(i)
    assert len(book._buys) < 500  # rebuilt: stale entries do not pile up
    assert book.pop_buys_at_or_above(Decimal(993)) == [999, 996, 993]
    assert len(book) == 331


amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3)
unit_prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(100000), places=8)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal("0.01"), places=5)


@given(
    side=st.sampled_from(list(Side)),
    amount=amounts,
    price=unit_prices,
    rate=rates,
    in_quote=st.booleans(),
)
def test_a_fill_conserves_value_and_never_spends_more_than_it_held(
    side: Side, amount: Decimal, price: Decimal, rate: Decimal, in_quote: bool
) -> None:
    hold = hold_for(
        "ETH/BTC", side, amount=amount, price=price, fee_rate=rate, fee_in_quote=in_quote
    )
    money = settle(
        "ETH/BTC", side, amount=amount, price=price, fee_rate=rate, fee_in_quote=in_quote
    )
    assert money.spent_currency == hold.currency and money.spent == hold.amount
    assert money.fee >= 0 and money.received > 0
    cost = price * amount
    if side is Side.BUY:
        assert (money.spent_currency, money.received_currency) == ("BTC", "ETH")
        # base received plus a base fee is the amount bought; quote spent is cost plus a quote fee
        base_fee = money.fee if money.fee_currency == "ETH" else 0
        quote_fee = money.fee if money.fee_currency == "BTC" else 0
        assert money.received + base_fee == amount and money.spent == cost + quote_fee
        assert money.fee == (cost if money.fee_currency == "BTC" else amount) * rate
    else:
        assert (money.spent_currency, money.fee_currency) == ("ETH", "BTC")
        assert money.spent == amount and money.received + money.fee == cost
        assert money.fee == cost * rate
