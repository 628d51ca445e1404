"""Pure money math of the paper venue: what an order holds and what a fill moves.

Kept apart from the venue's state so it can be checked with hypothesis: a fill must conserve
value (what one side of the account loses, the other gains, less exactly the fee) and must never
spend more than the order held.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.market import split_symbol
from domain.orders import Side


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """Funds an order needs free at placement (and locks while it rests)."""

    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """Balance changes of one fill. `spent` leaves `spent_currency`; `received` (net of the
    fee when the fee is charged in the received asset) arrives in `received_currency`."""

    spent_currency: str
    spent: Decimal
    received_currency: str
    received: Decimal
    fee: Decimal
    fee_currency: str


def hold_for(
    symbol: str,
    side: Side,
    *,
    amount: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    fee_in_quote: bool,
) -> Hold:
    """A buy holds price*amount of quote (+ the fee when fees are charged in quote); a sell
    holds its base amount (its fee comes out of the quote it receives)."""
    base, quote = split_symbol(symbol)
    if side is Side.BUY:
        cost = price * amount
        return Hold(currency=quote, amount=cost + cost * fee_rate if fee_in_quote else cost)
    return Hold(currency=base, amount=amount)


def settle(
    symbol: str,
    side: Side,
    *,
    amount: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    fee_in_quote: bool,
) -> Settlement:
    """Binance spot by default: the fee is taken from the asset received (base on buys, quote
    on sells); with `fee_in_quote`, buys pay it in quote on top of the cost instead."""
    base, quote = split_symbol(symbol)
    cost = price * amount
    if side is Side.BUY:
        if fee_in_quote:
            fee = cost * fee_rate
            return Settlement(
                spent_currency=quote,
                spent=cost + fee,
                received_currency=base,
                received=amount,
                fee=fee,
                fee_currency=quote,
            )
        fee = amount * fee_rate
        return Settlement(
            spent_currency=quote,
            spent=cost,
            received_currency=base,
            received=amount - fee,
            fee=fee,
            fee_currency=base,
        )
    fee = cost * fee_rate
    return Settlement(
        spent_currency=base,
        spent=amount,
        received_currency=quote,
        received=cost - fee,
        fee=fee,
        fee_currency=quote,
    )
