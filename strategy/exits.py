"""Exits and sizing between cycles: the trailing stop loss, the cycle timeout, and profit
reinvestment. Pure helpers the machine (`strategy.machine`) and the queries call through small
hooks; their price comparisons go through `strategy.direction` (`better`, `best`, `away`),
which mirrors them for a short.

Trailing stop (`stop_loss_trailing` with `stop_loss`): the trigger starts at
average * (1 - sl/100), as the plain stop, and rises with the best price seen since the
position's last buy fill, to best * (1 - sl/100). It never falls between buy fills; a new buy
fill (a safety order, a partial base fill) restarts it from the new average, because the
position it protects has changed. The best price lives in the state (`stop_best`), so a
restarted engine resumes the trail; `watch_levels` wakes the engine for a new best
(`trail_level`) as well as for the trigger.

Timeout (`stop_loss_timeout` hours, `stop_loss_timeout_action`): a cycle whose base order
filled N hours ago (in event time: the machine has no clock) is closed. `market` cancels the
cycle's orders and sells the position at market, as the stop loss does (reason TIMEOUT).
`break_even` moves the take-profit to the break-even price and keeps the safety orders working:
the price at which selling the whole position, less the closing sell's fee, returns what it
cost (the book's average, buy fees included): average / (1 - maker fee), rounded up to the
tick. A short buys back at average * (1 - maker fee), rounded down (`direction.cover_fee`).
The rate is the venue's maker fee for the market (`MarketRules.maker_fee_rate`, zero when the
venue does not say; the exit is then at the average and its own fee is not covered). A limit
that crosses the market when placed fills as a taker, at a better price but the taker's fee.
The machine asks for a wake-up at the deadline (`ScheduleWakeup`, answered with
`CooldownElapsed`); a tick at or after the deadline applies it as well, should the timer be
late.

Reinvestment (`reinvest_percent`): that share of each closed cycle's realized profit is added
to `reinvested` (quote), and the same share of a loss is taken off it, never below zero: the
sizes follow the strategy's results both ways but never fall below the original ones. At each
cycle start the order sizes are scaled by (max_funds + reinvested) / max_funds, capped so the
scaled ladder fits the quote balance the engine passes in (`Started.balance`,
`CooldownElapsed.balance`), rounded down to `SCALE_PLACES` and never below 1. With
reinvest_percent 0 the sizes are the original ones (what was reinvested is kept for a later
return to a positive share).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Context, Decimal, localcontext
from typing import TYPE_CHECKING

from domain.commands import CancelOrder, CloseReason, ScheduleWakeup
from domain.market import MarketRules
from domain.money import HUNDRED, ONE, ZERO
from domain.orders import Side
from strategy.direction import average as entry_average
from strategy.direction import away, best, better, cover_fee, held, round_exit
from strategy.options import Direction, TimeoutAction
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, Phase, Role, WorkingStatus
from strategy.working import Commands, put_order

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

SCALE_PLACES = Decimal("0.0001")  # the size scale's resolution: 0.01 % of the plan
# The break-even's arithmetic, rounded up for a long's sell and down for a short's buy-back,
# at the precision of `strategy.ladder.STRATEGY_CONTEXT` (which imports this module).
_AWAY_FROM_LOSS = (
    Context(prec=28, rounding=ROUND_CEILING),
    Context(prec=28, rounding=ROUND_FLOOR),
)
_SECONDS_PER_HOUR = Decimal(3600)


def _long(s: MartingaleState) -> bool:
    return s.params.direction is not Direction.SHORT


# --- trailing stop ---------------------------------------------------------------------------


def stop_trigger(s: MartingaleState, average: Decimal, stop_loss: Decimal) -> Decimal:
    """The stop-loss trigger: from the average, or with a trailing stop from the best price
    since the last buy fill when that is better. Call in the strategy's decimal context."""
    anchor = average
    if s.params.stop_loss_trailing and s.stop_best is not None:
        anchor = best(s.params.direction, s.stop_best, average)
    return away(s.params.direction, anchor, stop_loss)


def note_price(s: MartingaleState, price: Decimal) -> MartingaleState:
    """Remember a new best price for the trailing stop; the same state when nothing changed."""
    if not s.params.stop_loss_trailing or s.phase is not Phase.ACTIVE:
        return s
    if held(s.book, s.params.direction) <= 0:
        return s
    if s.stop_best is not None and not better(s.params.direction, price, s.stop_best):
        return s
    return replace(s, stop_best=price)


def after_buy_fill(s: MartingaleState) -> MartingaleState:
    """An entry fill (a buy; a sell for a short) changes the position: the trail restarts
    from the new average."""
    return s if s.stop_best is None else replace(s, stop_best=None)


def trail_level(s: MartingaleState) -> Decimal | None:
    """The price from which a tick would raise the trail (a new best): None when no trail runs.

    One tick past the best (or the average, before the price has done better), so that a
    price sitting at the best does not wake the engine for nothing.
    """
    average = entry_average(s.book, s.params.direction)
    if (
        not s.params.stop_loss_trailing
        or s.params.stop_loss is None
        or s.phase is not Phase.ACTIVE
        or average is None
        or held(s.book, s.params.direction) <= 0
    ):
        return None
    anchor = average if s.stop_best is None else best(s.params.direction, s.stop_best, average)
    tick = s.rules.tick_size
    if tick <= 0:
        return anchor
    return anchor + tick if _long(s) else anchor - tick


# --- timeout ---------------------------------------------------------------------------------


def entered(s: MartingaleState, at: datetime, cmds: Commands) -> MartingaleState:
    """The base order filled at `at`: with a timeout, set the deadline and ask to be woken."""
    hours = s.params.stop_loss_timeout
    if hours is None:
        return s
    deadline = at + timedelta(seconds=float(hours * _SECONDS_PER_HOUR))
    cmds.append(ScheduleWakeup(at=deadline))
    return replace(s, timeout_at=deadline)


def timeout_due(s: MartingaleState, at: datetime) -> bool:
    return (
        s.phase is Phase.ACTIVE
        and s.timeout_at is not None
        and not s.timed_out
        and at >= s.timeout_at
    )


def move_to_break_even(s: MartingaleState, cmds: Commands) -> MartingaleState:
    """Cancel the take-profit; the next one (`sellable`) is placed at the break-even price."""
    s = replace(s, timed_out=True, tp_blocked=False)
    for tp in s.orders_with(Role.TAKE_PROFIT):
        if tp.status is not WorkingStatus.CANCELING:
            cmds.append(CancelOrder(client_order_id=tp.client_order_id, symbol=s.symbol))
            s = put_order(s, replace(tp, status=WorkingStatus.CANCELING))
    return s


def break_even_price(s: MartingaleState) -> Decimal | None:
    """The price at which closing the whole position at the venue's maker fee returns what it
    cost (see the module), rounded away from a loss to the tick; None with no position.

    Every step rounds away from a loss, the average too, so the price covers the exact cost
    even where no tick rounds it. A negative rate (a rebate) counts as zero: the exit never
    rests on the losing side of the average for a rebate the book may not see."""
    d = s.params.direction
    fee = s.rules.maker_fee_rate
    with localcontext(_AWAY_FROM_LOSS[d is Direction.SHORT]):
        entry = entry_average(s.book, d)
        if entry is None:
            return None
        price = cover_fee(d, entry, fee if ZERO < fee < ONE else ZERO)
    return round_exit(d, s.rules, price)


def reported_reason(s: MartingaleState, reason: CloseReason) -> CloseReason:
    """A cycle its timeout moved to break-even closes as TIMEOUT, not TAKE_PROFIT."""
    if s.timed_out and reason is CloseReason.TAKE_PROFIT:
        return CloseReason.TIMEOUT
    return reason


def next_wake(s: MartingaleState) -> datetime | None:
    """When the engine must wake this strategy with `CooldownElapsed`: the end of its cooldown
    or its cycle's timeout (never both at once), None when nothing is due."""
    if s.phase is Phase.COOLDOWN:
        return s.wake_at
    if s.phase is Phase.ACTIVE and s.timeout_at is not None and not s.timed_out:
        return s.timeout_at
    return None


def new_cycle(s: MartingaleState) -> MartingaleState:
    """What these features forget when a cycle starts."""
    if s.stop_best is None and s.timeout_at is None and not s.timed_out:
        return s
    return replace(s, stop_best=None, timeout_at=None, timed_out=False)


# --- reinvestment ------------------------------------------------------------------------------


def after_close(s: MartingaleState, profit: Decimal) -> MartingaleState:
    """Forget the closed cycle's trail and timeout; add the reinvested share of its profit
    (or take that share of a loss)."""
    s = new_cycle(s)
    share = s.params.reinvest_percent
    if share <= 0 or profit == 0:
        return s
    reinvested = max(ZERO, s.reinvested + profit * share / HUNDRED)
    return s if reinvested == s.reinvested else replace(s, reinvested=reinvested)


def size_scale(s: MartingaleState, balance: Decimal | None) -> Decimal:
    """The factor on every level's quote size for a cycle starting now (see the module)."""
    funds = s.params.max_funds
    if s.params.reinvest_percent <= 0 or s.reinvested <= 0 or funds <= 0:
        return ONE
    scale = (funds + s.reinvested) / funds
    if balance is not None:
        scale = min(scale, balance / funds)
    return max(ONE, scale.quantize(SCALE_PLACES, rounding=ROUND_DOWN))


def rescale(s: MartingaleState, balance: Decimal | None) -> MartingaleState:
    scale = size_scale(s, balance)
    return s if scale == s.size_scale else replace(s, size_scale=scale)


def quote_size(s: MartingaleState, level: int) -> Decimal:
    """Quote size of level n for this cycle: the plan's, times the cycle's scale."""
    size = s.params.quote_size(level)
    return size if s.size_scale == ONE else size * s.size_scale


def scaled_max_funds(s: MartingaleState) -> Decimal:
    """The most this cycle can commit to buys: the plan's max funds times the scale."""
    return s.params.max_funds * s.size_scale


# --- the plan preview --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitPlan:
    """What `martingale plan` shows of these features. The stop-loss triggers are those from
    the average entry after the base order and after the last safety order (a trailing stop
    starts there and rises with the price), rounded to the tick away from the average.

    `stop_loss_prices` holds the trigger of every level, from its average, before rounding: the
    one computation of the plan's stop loss, which the outcomes (`strategy.outcomes`) read."""

    stop_loss_pct: Decimal | None
    stop_loss_first: Decimal | None
    stop_loss_last: Decimal | None
    trailing: bool
    timeout_hours: Decimal | None
    timeout_action: TimeoutAction
    reinvest_percent: Decimal
    stop_loss_prices: tuple[Decimal, ...] = ()


def exit_plan(
    params: MartingaleParams, averages: Sequence[Decimal], rules: MarketRules
) -> ExitPlan | None:
    """None when the strategy uses none of the exits (the plan then shows nothing of them).
    Call in the strategy's decimal context."""
    sl = params.stop_loss
    if sl is None and params.stop_loss_timeout is None and params.reinvest_percent <= 0:
        return None
    d = params.direction
    stops = () if sl is None else tuple(away(d, average, sl) for average in averages)
    first = last = None
    if stops:
        rounded = rules.round_price_up if d is Direction.SHORT else rules.round_price_down
        first, last = rounded(stops[0]), rounded(stops[-1])
    return ExitPlan(
        stop_loss_pct=sl,
        stop_loss_first=first,
        stop_loss_last=last,
        trailing=params.stop_loss_trailing,
        timeout_hours=params.stop_loss_timeout,
        timeout_action=params.stop_loss_timeout_action,
        reinvest_percent=params.reinvest_percent,
        stop_loss_prices=stops,
    )


def exit_lines(plan: ExitPlan, shown: Callable[[Decimal], str]) -> list[str]:
    """The plan's lines for people (`shown` formats a figure)."""
    lines = []
    if plan.stop_loss_pct is not None and plan.stop_loss_first is not None:
        kind = "trailing stop loss" if plan.trailing else "stop loss"
        lines.append(
            f"{kind}: {shown(plan.stop_loss_pct)} % from the average entry, at "
            f"{shown(plan.stop_loss_first)} after the base order, "
            f"{shown(plan.stop_loss_last or plan.stop_loss_first)} after the last safety order"
            + ("; it rises with the best price since the last buy fill" if plan.trailing else "")
        )
    if plan.timeout_hours is not None:
        then = (
            "sell at market"
            if plan.timeout_action is TimeoutAction.MARKET
            else "move the take-profit to break-even (the average entry, buy and closing fees "
            "included)"
        )
        lines.append(
            f"timeout: {shown(plan.timeout_hours)} h after the base order fills, then {then}"
        )
    if plan.reinvest_percent > 0:
        lines.append(
            f"reinvest: {shown(plan.reinvest_percent)} % of each cycle's profit (and of a loss, "
            "never below these sizes) scales the next cycles, within the balance"
        )
    return lines


def only_trails(s: MartingaleState, price: Decimal) -> bool:
    """A tick at `price` can only raise the trail: no order of ours could have filled at it
    (every buy below it, every sell above it, no market order in flight). The engine then skips
    asking the exchange about its orders: in a rising market every new best wakes it."""
    level = trail_level(s)
    if level is None or (price != level and not better(s.params.direction, price, level)):
        return False
    for order in s.orders:
        if order.price is None:
            return False
        if order.price >= price if order.side is Side.BUY else order.price <= price:
            return False
    return True
