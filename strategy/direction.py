"""The few places where a short ladder differs from a long one, in one module.

A long buys first, rests its safety orders below the entry and sells the position back above
its average; a short sells first (base it holds, on spot), rests its safety orders above the
entry and buys the position back below its average. Everything else in the machine, the ladder
and the accounting is written once, in terms of these primitives, so the two sides mirror each
other exactly:

- `entry_side` / `exit_side`: the side that grows the position and the side that closes it.
- `beyond(direction, price, level)`: the price has reached `level` in the direction of a loss
  (at or below for a long, at or above for a short): the stop-loss comparison.
- `away(direction, base_price, pct)`: a price `pct` percent past the base price in the ladder's
  direction (below for a long, above for a short), before rounding.
- `cover_fee(direction, price, fee)`: the exit price whose proceeds, less the exit's fee, net
  `price` per base (above it for a long's sell, below it for a short's buy-back).
- `round_entry` / `round_exit`: entry prices round away from the market in the ladder's
  direction (down for a long buy, up for a short sell), so a level is never worse than its
  nominal price; take-profit prices round so the profit is never below target (up for a long
  sell, down for a short buy-back).
- `held(book, direction)` and `average(book, direction)`: the size of the position (positive,
  base) and its average entry price (quote per base, net of fees): spent / bought for a long,
  received / sold for a short.

A short's position (`Book.position`, bought - sold) is negative: base owed back to the account.
"""

from __future__ import annotations

from decimal import Decimal

from domain.market import MarketRules
from domain.money import HUNDRED, ONE
from domain.orders import Side
from strategy.options import Direction
from strategy.state import Book

LONG = Direction.LONG
SHORT = Direction.SHORT


def entry_side(direction: Direction) -> Side:
    """The side of the base and safety orders."""
    return Side.SELL if direction is SHORT else Side.BUY


def exit_side(direction: Direction) -> Side:
    """The side of the take-profit and of a market exit."""
    return Side.BUY if direction is SHORT else Side.SELL


def beyond(direction: Direction, price: Decimal, level: Decimal) -> bool:
    """True when `price` has reached `level` on the losing side (a stop-loss trigger)."""
    return price >= level if direction is SHORT else price <= level


def better(direction: Direction, price: Decimal, than: Decimal) -> bool:
    """`price` is strictly further in the position's favour than `than` (higher for a long)."""
    return price < than if direction is SHORT else price > than


def best(direction: Direction, a: Decimal, b: Decimal) -> Decimal:
    """The more favourable of two prices for the position."""
    return a if better(direction, a, b) else b


def away(direction: Direction, price: Decimal, pct: Decimal) -> Decimal:
    """`price` moved `pct` percent against the position: where safety orders rest and where
    the stop loss sits (below for a long, above for a short), before rounding."""
    if direction is SHORT:
        return price * (ONE + pct / HUNDRED)
    return price * (ONE - pct / HUNDRED)


def toward(direction: Direction, price: Decimal, pct: Decimal) -> Decimal:
    """`price` moved `pct` percent in the position's favour: where the take-profit rests
    (above for a long, below for a short), before rounding."""
    if direction is SHORT:
        return price * (ONE - pct / HUNDRED)
    return price * (ONE + pct / HUNDRED)


def cover_fee(direction: Direction, price: Decimal, fee_rate: Decimal) -> Decimal:
    """The exit price that nets `price` per base after a fee of `fee_rate` on what the exit
    receives, before rounding: price / (1 - fee) for a long's sell (the fee comes off the quote
    received), price * (1 - fee) for a short's buy-back (the fee comes off the base received,
    so 1 / (1 - fee) base is bought per base owed; a fee taken in quote instead, price * (1 +
    fee), costs less, so this price covers it too)."""
    if direction is SHORT:
        return price * (ONE - fee_rate)
    return price / (ONE - fee_rate)


def round_entry(direction: Direction, rules: MarketRules, price: Decimal) -> Decimal:
    """An entry (base or safety) price: down to the tick for a buy, up for a sell."""
    return rules.round_price_up(price) if direction is SHORT else rules.round_price_down(price)


def round_exit(direction: Direction, rules: MarketRules, price: Decimal) -> Decimal:
    """A take-profit price, rounded so the profit is never below target."""
    return rules.round_price_down(price) if direction is SHORT else rules.round_price_up(price)


def held(book: Book, direction: Direction) -> Decimal:
    """The position in base as a positive size (what an exit must trade); <= 0 when flat or
    on the wrong side."""
    return -book.position if direction is SHORT else book.position


def average(book: Book, direction: Direction) -> Decimal | None:
    """Average entry: quote spent / base bought for a long, quote received / base sold for a
    short (both net of fees); None before any entry fill."""
    if direction is SHORT:
        return book.received / book.sold if book.sold > 0 else None
    return book.average


def carried_book(held_size: Decimal, cost: Decimal, direction: Direction) -> Book:
    """The book the next cycle starts with when `held_size` (> 0) is carried at `cost` quote."""
    if direction is SHORT:
        return Book(sold=held_size, received=cost)
    return Book(bought=held_size, spent=cost)


def exited_quote(book: Book, direction: Direction) -> Decimal:
    """The quote of the exits: received for a long, spent for a short."""
    return book.spent if direction is SHORT else book.received
