"""Sizing a market buy by the quote it may spend, shared by the ccxt adapter and the paper venue.

A base order sized in base units from the last price it saw overspends when the price moves
before it fills. Sized from the quote amount instead, on the step grid and rounded down, the
spend can never exceed it at the price used.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, localcontext

from domain.money import ZERO, round_down


def amount_for_cost(cost: Decimal, price: Decimal, step: Decimal) -> Decimal:
    """The largest amount on the `step` grid (any amount when step is 0) whose notional at
    `price` is at most `cost`. Division and rounding run toward zero, so no context rounding can
    push the amount up; the final check is exact."""
    if cost <= 0 or price <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        amount = round_down(cost / price, step)
    while step > 0 and amount > 0 and amount * price > cost:  # belt and braces: not reached
        amount -= step
    return max(amount, ZERO)
