"""Read-only questions the engine and the UI ask of a strategy state.

The engine uses `tick_matters` to skip price ticks that cannot change anything: fills of resting
orders come from the exchange, so only the stop-loss trigger makes a tick interesting.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from domain.orders import Side
from strategy import exits
from strategy.direction import average, beyond, held
from strategy.ladder import STRATEGY_CONTEXT, take_profit_price
from strategy.options import Direction
from strategy.state import MartingaleState, Phase, WorkingOrder
from strategy.take_profit import trail_levels


def position(state: MartingaleState) -> Decimal:
    """Base held by the strategy (net of fees), including carried dust; negative for a short
    (base sold that its take-profit buys back)."""
    return state.book.position


def average_price(state: MartingaleState) -> Decimal | None:
    """The average entry: of the buys for a long, of the sells for a short."""
    return average(state.book, state.params.direction)


def open_orders(state: MartingaleState) -> tuple[WorkingOrder, ...]:
    return state.orders


def stop_loss_price(state: MartingaleState) -> Decimal | None:
    """The price at or beyond which a tick triggers the stop loss (at or below for a long, at
    or above for a short); None when no tick matters.

    Fills of resting orders are reported by the exchange, so the stop loss is the only reason
    the engine needs to feed ticks: it may skip every tick on the safe side of this price.
    """
    sl = state.params.stop_loss
    d = state.params.direction
    entry = average(state.book, d)
    if sl is None or state.phase is not Phase.ACTIVE or entry is None:
        return None
    if held(state.book, d) <= 0:
        return None
    with localcontext(STRATEGY_CONTEXT):
        return exits.stop_trigger(state, entry, sl)  # trails the best price when asked


def tick_matters(state: MartingaleState, price: Decimal) -> bool:
    trigger = stop_loss_price(state)
    return trigger is not None and beyond(state.params.direction, price, trigger)


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
        (above if state.params.direction is Direction.SHORT else below).append(stop)
    trail = exits.trail_level(state)  # a new best price moves a trailing stop
    if trail is not None:
        (below if state.params.direction is Direction.SHORT else above).append(trail)
    trail_below, trail_above = trail_levels(state)  # a trailing take-profit's
    below.extend([trail_below] if trail_below is not None else [])
    above.extend([trail_above] if trail_above is not None else [])
    return (max(below) if below else None, min(above) if above else None)


def sellable(s: MartingaleState) -> tuple[Decimal, Decimal] | None:
    """(amount, take-profit price) when the position can be closed (sold, or bought back for a
    short) under the rules, else None."""
    d = s.params.direction
    entry = average(s.book, d)
    if entry is None:
        return None
    amount = s.rules.round_amount(held(s.book, d))
    if s.timed_out:  # the cycle's timeout moved the take-profit to break-even
        price = exits.break_even_price(s)
    else:
        price = take_profit_price(s.params, entry, s.rules)
    if amount <= 0 or price is None or s.rules.violation(price, amount) is not None:
        return None
    return amount, price


def ladder_done(s: MartingaleState) -> bool:
    return s.next_safety > s.params.max_safety_orders
