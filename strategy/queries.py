"""Read-only questions the engine and the UI ask of a strategy state.

The engine uses `tick_matters` to skip price ticks that cannot change anything: fills of resting
orders come from the exchange, so only the stop-loss trigger makes a tick interesting.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from domain.orders import Side
from strategy import exits
from strategy.ladder import STRATEGY_CONTEXT, take_profit_price
from strategy.state import MartingaleState, Phase, WorkingOrder


def position(state: MartingaleState) -> Decimal:
    """Base held by the strategy (net of fees), including carried dust."""
    return state.book.position


def average_price(state: MartingaleState) -> Decimal | None:
    return state.book.average


def open_orders(state: MartingaleState) -> tuple[WorkingOrder, ...]:
    return state.orders


def stop_loss_price(state: MartingaleState) -> Decimal | None:
    """The price at or below which a tick triggers the stop loss; None when no tick matters.

    Fills of resting orders are reported by the exchange, so the stop loss is the only reason
    the engine needs to feed ticks: it may skip every tick above this price.
    """
    sl = state.params.stop_loss
    average = state.book.average
    if sl is None or state.phase is not Phase.ACTIVE or average is None:
        return None
    if state.book.position <= 0:
        return None
    with localcontext(STRATEGY_CONTEXT):
        return exits.stop_trigger(state, average, sl)  # trails the best price when asked


def tick_matters(state: MartingaleState, price: Decimal) -> bool:
    trigger = stop_loss_price(state)
    return trigger is not None and price <= trigger


def watch_levels(state: MartingaleState) -> tuple[Decimal | None, Decimal | None]:
    """(below, above): a price at or below `below`, or at or above `above`, may change this
    strategy (a resting order fills, or a tick the machine reacts to); prices strictly between
    cannot, so the feed need not wake the engine for them. None: no level on that side.

    Every feature that reacts to ticks adds its level here, so the live feed and the backtest
    wake the engine for exactly the same prices.
    """
    below = [o.price for o in state.orders if o.side is Side.BUY and o.price is not None]
    above = [o.price for o in state.orders if o.side is Side.SELL and o.price is not None]
    stop = stop_loss_price(state)
    if stop is not None:
        below.append(stop)
    trail = exits.trail_level(state)  # a new best price raises a trailing stop
    if trail is not None:
        above.append(trail)
    return (max(below) if below else None, min(above) if above else None)


def sellable(s: MartingaleState) -> tuple[Decimal, Decimal] | None:
    """(amount, take-profit price) when the position can be sold under the rules, else None."""
    average = s.book.average
    if average is None:
        return None
    amount = s.rules.round_amount(s.book.position)
    if s.timed_out:  # the cycle's timeout moved the take-profit to break-even
        price = exits.break_even_price(s, average)
    else:
        price = take_profit_price(s.params, average, s.rules)
    if amount <= 0 or s.rules.violation(price, amount) is not None:
        return None
    return amount, price


def ladder_done(s: MartingaleState) -> bool:
    return s.next_safety > s.params.max_safety_orders
