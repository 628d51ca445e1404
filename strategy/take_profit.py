"""The take-profit variants: one limit sell, sells in steps, or a trailing take-profit.

- Plain (`take_profit`): one limit sell of the whole position at average * (1 + tp/100), leg
  ``t<k>`` for revision k.
- Steps (`take_profit_steps`): one limit sell per step that is not done, each at
  average * (1 + percent/100), leg ``t<letter><k>`` (``ta3`` is step 1 in placement round 3:
  the letter names the step, a..j, the digits the round, so a re-placement never reuses an id).
  The position is shared among the steps not done in proportion to their portions (at the first
  placement: portion % of the position each); the last of them takes the rest, so rounding
  leaves no base behind beyond dust. A step whose part breaks the market's minimums hands it to
  the next step (the last one's rest goes to the one before it).
- Trailing (`trailing_deviation`): no sell rests on the book. A tick at or past the take-profit
  price arms the trail with that price as its peak; each better price raises the peak; a tick
  back at or below max(tp price, peak * (1 - dev/100)) places one limit sell of the whole
  position at max(tp price, that tick's price): at the market (so it fills at once on a liquid
  market) and never below the take-profit price (a gap through the take-profit leaves it
  resting at the take-profit, where the plain take-profit would have been).

Every comparison of prices that depends on the side of the position goes through
`strategy.direction` (`better`, `best`, `away`), which mirrors it for a short.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from domain.market import MarketRules
from domain.money import ZERO
from domain.orders import OrderType, Side
from strategy.direction import average as entry_average
from strategy.direction import away, best, better, exit_side, held
from strategy.ladder import exit_price, take_profit_price
from strategy.options import Direction
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, Phase, Role
from strategy.working import Commands, place

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

_STEP_LETTERS = "abcdefghij"  # one per step; options.MAX_TAKE_PROFIT_STEPS is 10


# --- the side of the position: the only direction-dependent comparisons ----------------------


def _long(s: MartingaleState) -> bool:
    return s.params.direction is not Direction.SHORT


def _past(s: MartingaleState, price: Decimal, level: Decimal) -> bool:
    """`price` has reached `level` in the position's favour."""
    return not better(s.params.direction, level, price)


def _pulled_back(s: MartingaleState, peak: Decimal, take_profit: Decimal) -> Decimal:
    """The trigger: the price back by the deviation from the peak, never past the take-profit."""
    d = s.params.direction
    return best(d, take_profit, away(d, peak, s.params.trailing_deviation or ZERO))


def _sell_floor(s: MartingaleState, price: Decimal, take_profit: Decimal) -> Decimal:
    """The trail's closing order price: at the market, never worse than the take-profit."""
    if _long(s):
        return max(take_profit, s.rules.round_price_down(price))
    return min(take_profit, s.rules.round_price_up(price))


# --- which variant ----------------------------------------------------------------------------


def trailing(s: MartingaleState) -> bool:
    return s.params.trailing_deviation is not None


def trail_watching(s: MartingaleState) -> bool:
    """The trail decides on ticks now: a position is open and no take-profit sits on the book."""
    return (
        trailing(s)
        and s.phase is Phase.ACTIVE
        and not s.tp_blocked
        and not s.timed_out  # a timeout at break-even replaced the trail with a plain limit
        and held(s.book, s.params.direction) > 0
        and not s.orders_with(Role.TAKE_PROFIT)
    )


def trail_levels(s: MartingaleState) -> tuple[Decimal | None, Decimal | None]:
    """(below, above) the trail must be woken for (long): before it is armed, the take-profit
    price above; once armed, the peak above (a new peak) and the trigger below."""
    average = entry_average(s.book, s.params.direction)
    if not trail_watching(s) or average is None:
        return None, None
    tp = take_profit_price(s.params, average, s.rules)
    peak = s.trail_peak
    if peak is None:
        return (None, tp) if _long(s) else (tp, None)
    trigger = _pulled_back(s, peak, tp)
    return (trigger, peak) if _long(s) else (peak, trigger)


# --- events -------------------------------------------------------------------------------------


def trail_tick(
    s: MartingaleState, price: Decimal, sell: tuple[Decimal, Decimal] | None, cmds: Commands
) -> MartingaleState:
    """A price tick while the trail watches; `sell` is (amount, take-profit price) when the
    position can be sold (`strategy.queries.sellable`)."""
    if sell is None or not trail_watching(s):
        return s
    amount, tp = sell
    peak = s.trail_peak
    if peak is None:
        return replace(s, trail_peak=price) if _past(s, price, tp) else s
    if better(s.params.direction, price, peak):
        return replace(s, trail_peak=price)
    if _past(s, _pulled_back(s, peak, tp), price):  # the price is back at or below the trigger
        return _place_single(s, cmds, amount, _sell_floor(s, price, tp))
    return s


def buy_filled(s: MartingaleState) -> MartingaleState:
    """A buy changed the position and its average: the trail starts again from the new one."""
    return s if s.trail_peak is None else replace(s, trail_peak=None)


def take_profit_filled(s: MartingaleState, leg: str) -> MartingaleState:
    """A take-profit order filled completely: its step is done for the cycle."""
    step = step_of(leg)
    if step is None or step in s.tp_steps_done:
        return s
    return replace(s, tp_steps_done=tuple(sorted((*s.tp_steps_done, step))))


def place_take_profit(
    s: MartingaleState, cmds: Commands, sell: tuple[Decimal, Decimal]
) -> MartingaleState:
    """Put the take-profit for the position on the book (none for a trailing take-profit: the
    ticks place it). After a timeout moved it to break-even (`sell` holds that price), one
    limit for the whole position, whatever the steps or the trail said."""
    amount, price = sell
    if s.timed_out:
        return _place_single(s, cmds, amount, price)
    if trailing(s):
        return s
    if not s.params.take_profit_steps:
        return _place_single(s, cmds, amount, price)
    average = entry_average(s.book, s.params.direction)
    if average is None:
        return s
    parts = step_parts(s, amount, average)
    if not parts:
        return replace(s, tp_blocked=True)  # no part can be placed; wait for the next buy
    revision = s.tp_revision + 1
    s = replace(s, tp_revision=revision)
    for step, part, step_price in parts:
        s = place(
            s,
            cmds,
            role=Role.TAKE_PROFIT,
            leg=f"t{_STEP_LETTERS[step]}{revision}",
            side=_sell_side(s),
            type_=OrderType.LIMIT,
            amount=part,
            price=step_price,
        )
    return s


# --- steps ------------------------------------------------------------------------------------


def step_of(leg: str) -> int | None:
    """The step (0-based) a take-profit leg sells for; None for the single take-profit."""
    if len(leg) < 2 or leg[0] != "t" or leg[1] not in _STEP_LETTERS:
        return None
    return _STEP_LETTERS.index(leg[1])


def step_price(
    params: MartingaleParams, rules: MarketRules, percent: Decimal, average: Decimal
) -> Decimal:
    """Rounded away from the average, so each step's profit is never below its target (the
    plan's step prices are the same, `strategy.ladder.exit_price`)."""
    return exit_price(params, rules, percent, average)


def step_prices(
    params: MartingaleParams, rules: MarketRules, average: Decimal
) -> tuple[Decimal, ...]:
    """Each step's price for a position at `average` (the plan's columns)."""
    return tuple(step_price(params, rules, st.percent, average) for st in params.take_profit_steps)


def step_parts(
    s: MartingaleState, amount: Decimal, average: Decimal
) -> list[tuple[int, Decimal, Decimal]]:
    """(step, amount, price) of each sell to place for `amount` (already on the step).

    The steps not done share `amount` by their portions; when every step is done and base is
    still held (a buy filled while the last step was being canceled), the last step takes it.
    """
    steps = s.params.take_profit_steps
    todo = [i for i in range(len(steps)) if i not in s.tp_steps_done] or [len(steps) - 1]
    total = sum((steps[i].portion for i in todo), start=ZERO)
    parts: list[tuple[int, Decimal, Decimal]] = []
    left = amount
    carry = ZERO  # the share of steps too small to stand alone, handed to the next step
    for k, i in enumerate(todo):
        price = step_price(s.params, s.rules, steps[i].percent, average)
        if k == len(todo) - 1:
            part = left
        else:
            share = s.rules.round_amount(amount * steps[i].portion / total)
            part = min(left, share + carry)
        if part <= 0:
            continue
        if s.rules.violation(price, part) is None:
            parts.append((i, part, price))
            left -= part
            carry = ZERO
        elif k == len(todo) - 1 and parts:
            step, before, before_price = parts[-1]
            parts[-1] = (step, before + part, before_price)
        else:
            carry = part
    return parts


# --- helpers ----------------------------------------------------------------------------------


def _sell_side(s: MartingaleState) -> Side:
    return exit_side(s.params.direction)


def _place_single(
    s: MartingaleState, cmds: Commands, amount: Decimal, price: Decimal
) -> MartingaleState:
    revision = s.tp_revision + 1
    s = replace(s, tp_revision=revision)
    return place(
        s,
        cmds,
        role=Role.TAKE_PROFIT,
        leg=f"t{revision}",
        side=_sell_side(s),
        type_=OrderType.LIMIT,
        amount=amount,
        price=price,
    )
