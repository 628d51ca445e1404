"""Order validation with the rejections a real spot venue gives (binance's filter failures).

The paper venue must refuse what binance refuses, in words a developer recognises from the live
venue, so that a strategy tested on paper does not meet new errors in production. Prices and
amounts off the grid are rejected, never silently rounded: rounding is the caller's job
(DESIGN rule 2), and silently fixing it here would hide a bug that binance would expose.
"""

from __future__ import annotations

from decimal import Decimal

from domain.errors import ExchangeUnavailable, InvalidOrder, MarketFilterRejected
from domain.market import MarketRules
from domain.money import fmt
from domain.orders import OrderType, Side
from exchange.sizing import amount_for_cost


def check_order(
    rules: MarketRules,
    *,
    type: OrderType,
    amount: Decimal,
    price: Decimal | None,
    reference_price: Decimal | None,
) -> None:
    """Raise InvalidOrder naming the filter and the field (`MarketFilterRejected` for a filter
    failure, as the ccxt adapter does); `reference_price` prices a market order's notional
    (binance applies NOTIONAL to market orders at the average price)."""
    symbol = rules.symbol
    if amount <= 0:
        raise InvalidOrder(f"Invalid quantity. (amount {fmt(amount)} must be > 0 for {symbol})")
    if type is OrderType.LIMIT:
        if price is None:
            raise InvalidOrder(f"Mandatory parameter 'price' was not sent. (limit on {symbol})")
        if price <= 0:
            raise InvalidOrder(f"Invalid price. (price {fmt(price)} must be > 0 for {symbol})")
        if rules.tick_size > 0 and price % rules.tick_size != 0:
            raise MarketFilterRejected(
                f"Filter failure: PRICE_FILTER (price {fmt(price)} is not a multiple of the tick "
                f"size {fmt(rules.tick_size)} for {symbol})"
            )
    if rules.step_size > 0 and amount % rules.step_size != 0:
        raise MarketFilterRejected(
            f"Filter failure: LOT_SIZE (amount {fmt(amount)} is not a multiple of the step size "
            f"{fmt(rules.step_size)} for {symbol})"
        )
    if rules.min_amount > 0 and amount < rules.min_amount:
        raise MarketFilterRejected(
            f"Filter failure: LOT_SIZE (amount {fmt(amount)} is below the minimum amount "
            f"{fmt(rules.min_amount)} for {symbol})"
        )
    if rules.max_amount > 0 and amount > rules.max_amount:
        raise MarketFilterRejected(
            f"Filter failure: LOT_SIZE (amount {fmt(amount)} is above the maximum amount "
            f"{fmt(rules.max_amount)} for {symbol})"
        )
    at = price if type is OrderType.LIMIT else reference_price
    if at is not None and rules.min_notional > 0 and at * amount < rules.min_notional:
        raise MarketFilterRejected(
            f"Filter failure: NOTIONAL (notional {fmt(at * amount)} is below the minimum notional "
            f"{fmt(rules.min_notional)} for {symbol})"
        )


def amount_for_quote(
    rules: MarketRules, *, side: Side, type: OrderType, cost: object, price: Decimal | None
) -> Decimal:
    """A market buy sized by the quote it may spend (binance's quoteOrderQty): what `cost` buys
    at `price`, rounded down to the step, so the spend never exceeds it. Refused like binance
    when that is below the minimums (the caller's `check_order` names LOT_SIZE / NOTIONAL)."""
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost <= 0:
        raise InvalidOrder(
            f"Illegal characters found in parameter 'quoteOrderQty'. (cost {cost!r})"
        )
    if type is not OrderType.MARKET or side is not Side.BUY:
        raise InvalidOrder(
            f"Parameter 'quoteOrderQty' sent when not required. (cost sizes a market buy only, "
            f"not a {type.value} {side.value})"
        )
    if price is None:
        raise ExchangeUnavailable(f"paper venue has no price for {rules.symbol} yet")
    if rules.min_notional > 0 and cost < rules.min_notional:
        raise MarketFilterRejected(
            f"Filter failure: NOTIONAL (cost {fmt(cost)} is below the minimum notional "
            f"{fmt(rules.min_notional)} for {rules.symbol})"
        )
    amount = amount_for_cost(cost, price, rules.step_size)
    if amount <= 0:
        raise MarketFilterRejected(
            f"Filter failure: LOT_SIZE (cost {fmt(cost)} buys less than one step "
            f"{fmt(rules.step_size)} at {fmt(price)} for {rules.symbol})"
        )
    return amount
