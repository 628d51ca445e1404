"""Exact position accounting for one cycle: fills in, realized profit out.

Fees follow where they are paid: in quote they add to the cost of a buy and reduce the proceeds
of a sell; in base they reduce the base a buy delivers and add to the base a sell gives up; in a
third currency (an exchange token) they are recorded per currency and kept out of the position,
since their quote value is not known here. A fee without a currency is taken to be in quote,
the spot convention (ccxt always names the currency when it reports a fee).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from domain.commands import CycleClosed
from domain.market import split_symbol
from domain.money import ZERO
from domain.orders import Fill, Side
from strategy.direction import average, carried_book, held
from strategy.options import Direction
from strategy.state import Book, FeeTotal, MartingaleState, WorkingOrder

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)


def apply_fill(
    s: MartingaleState, order: WorkingOrder, fill: Fill
) -> tuple[MartingaleState, WorkingOrder] | None:
    """Book one fill of `order`; None when the trade was already applied or does not fit.

    A fill that disagrees with our record of the order (other side or symbol, non-positive
    amount or price) is refused rather than guessed at.
    """
    if fill.trade_id in s.applied_trades:
        return None
    if fill.side is not order.side or fill.symbol != s.symbol:
        return None
    if fill.amount <= 0 or fill.price <= 0 or fill.fee < 0:
        return None
    base, quote = split_symbol(s.symbol)
    currency = (fill.fee_currency or quote).upper()
    fee_base = fill.fee if currency == base else ZERO
    fee_quote = fill.fee if currency == quote else ZERO
    book = s.book
    if order.side is Side.BUY:
        book = replace(
            book,
            bought=book.bought + fill.amount - fee_base,
            spent=book.spent + fill.cost + fee_quote,
        )
    else:
        book = replace(
            book,
            sold=book.sold + fill.amount + fee_base,
            received=book.received + fill.cost - fee_quote,
        )
    other_fees = s.other_fees
    if fill.fee > 0 and currency not in (base, quote):
        other_fees = _add_fee(other_fees, currency, fill.fee)
    order = replace(order, filled=order.filled + fill.amount, cost=order.cost + fill.cost)
    orders = tuple(order if o.client_order_id == order.client_order_id else o for o in s.orders)
    s = replace(
        s,
        book=book,
        orders=orders,
        other_fees=other_fees,
        applied_trades=(*s.applied_trades, fill.trade_id),
    )
    return s, order


def close_book(book: Book, direction: Direction = Direction.LONG) -> tuple[Decimal, Book]:
    """(realized profit, book carried into the next cycle) for a closing cycle.

    What is still held (dust, or the position a "cancel" stop keeps) is carried at its average
    cost, so profit = proceeds - cost of what was sold, exactly, under average costing. For a
    short, what is still owed (less than a step, or a base fee on the buy-back) is carried the
    same way at its average entry: the value `position * average` is negative then, and the
    profit is received - spent for the base actually bought back.
    """
    entry = average(book, direction)
    size = held(book, direction)
    if entry is None or size <= 0:
        return book.received - book.spent, Book()
    value = size * entry
    profit = book.received - book.spent + (value if direction is Direction.LONG else -value)
    return profit, carried_book(size, value, direction)


def carried_figures(carried: Book) -> tuple[Decimal, Decimal]:
    """(amount, cost) of a carried book as the cycle's record keeps them, signed: base and quote
    held for a long's dust, both negative for what a short still owes (`book_from_carried`
    reads them back)."""
    return carried.position, carried.spent - carried.received


def book_from_carried(amount: Decimal, cost: Decimal) -> Book:
    """The book a cycle starts with after one that carried `amount` at `cost` (signed)."""
    if amount < 0:
        return Book(sold=-amount, received=-cost)
    if amount > 0:
        return Book(bought=amount, spent=cost)
    return Book()


def _add_fee(totals: tuple[FeeTotal, ...], currency: str, amount: Decimal) -> tuple[FeeTotal, ...]:
    for i, total in enumerate(totals):
        if total.currency == currency:
            updated = FeeTotal(currency=currency, amount=total.amount + amount)
            return (*totals[:i], updated, *totals[i + 1 :])
    return (*totals, FeeTotal(currency=currency, amount=amount))


def closed_entry(closed: CycleClosed, direction: Direction) -> tuple[Decimal, Decimal | None]:
    """(amount, average entry) of a closed cycle for its record: the base a long bought at
    spent / bought, or the base a short sold, negative like its position, at received / sold.

    A short's position at the close is what it carries (its debt, <= 0), so the base it sold
    is bought - carried."""
    if direction is Direction.SHORT:
        sold = closed.bought - closed.carried
        return -sold, closed.received / sold if sold > 0 else None
    return closed.bought, closed.spent / closed.bought if closed.bought > 0 else None
