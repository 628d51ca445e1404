"""Checks on an order before it is sent, against the venue's current rules (pure functions).

ccxt truncates amounts and prices to the venue's precision without a word, which would place a
different order than the intent the engine committed: an off-grid value is refused instead.

A market buy may be sized by the quote it may spend (`cost`) instead of an amount: the spend
then never exceeds `cost`. Where the venue takes a quote-sized order (binance quoteOrderQty,
ccxt's createMarketBuyOrderWithCost) it decides the amount itself; elsewhere the amount is sized
here from the current ask, rounded down to the step, and refused when that falls below the
venue's minimums rather than rounded up into an overspend.
"""

from __future__ import annotations

from decimal import Decimal

from domain.errors import InvalidOrder, MarketFilterRejected
from domain.market import MarketRules
from domain.money import fmt
from domain.orders import OrderType, Side
from exchange.sizing import amount_for_cost


def check_grid(rules: MarketRules, amount: Decimal, price: Decimal | None) -> None:
    """Refused as the venue's own filters would refuse it (`MarketFilterRejected`): the rules
    in the caller's hands may be older than ours, and that refusal makes it re-read them."""
    symbol = rules.symbol
    if rules.step_size > 0 and amount % rules.step_size != 0:
        raise MarketFilterRejected(
            f"amount: {amount} is not a multiple of the step size {rules.step_size} "
            f"for {symbol}; round it with MarketRules.round_amount first"
        )
    if price is not None and rules.tick_size > 0 and price % rules.tick_size != 0:
        raise MarketFilterRejected(
            f"price: {price} is not a multiple of the tick size {rules.tick_size} "
            f"for {symbol}; round it with MarketRules.round_price_down/up first"
        )


def check_cost(cost: object, *, side: Side, type: OrderType) -> Decimal:
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost <= 0:
        raise InvalidOrder(f"cost: must be a Decimal > 0, got {cost!r}")
    if type is not OrderType.MARKET or side is not Side.BUY:
        raise InvalidOrder(
            f"cost: only a market buy can be sized by its quote cost, not a {type.value} "
            f"{side.value}; give amount (and price) instead"
        )
    return cost


def check_quote_minimum(rules: MarketRules, cost: Decimal) -> None:
    if rules.min_notional > 0 and cost < rules.min_notional:
        raise MarketFilterRejected(
            f"cost: {fmt(cost)} is below the minimum notional {fmt(rules.min_notional)} for "
            f"{rules.symbol}; spend at least that much"
        )


def amount_within(rules: MarketRules, cost: Decimal, ask: Decimal) -> Decimal:
    """The amount to buy at `ask` for at most `cost`, or InvalidOrder naming cost."""
    check_quote_minimum(rules, cost)
    amount = amount_for_cost(cost, ask, rules.step_size)
    notional = amount * ask
    problem = None
    if amount <= 0 or (rules.min_amount > 0 and amount < rules.min_amount):
        problem = f"that is below the minimum amount {fmt(rules.min_amount)}; spend more"
    elif rules.min_notional > 0 and notional < rules.min_notional:
        problem = (
            f"its notional {fmt(notional)} is below the minimum notional "
            f"{fmt(rules.min_notional)}; spend more"
        )
    elif rules.max_amount > 0 and amount > rules.max_amount:
        problem = f"that is above the maximum amount {fmt(rules.max_amount)}; spend less"
    if problem is not None:
        raise MarketFilterRejected(
            f"cost: {fmt(cost)} at the ask {fmt(ask)} buys {fmt(amount)} {rules.base} on "
            f"{rules.symbol}: {problem}"
        )
    return amount
