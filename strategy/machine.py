"""The pure Martingale machine: ``decide(state, event) -> (new_state, commands)``.

No clock, no I/O, standard library only, deterministic: the same state and event always give
the same answer, so the engine can replay and tests can drive it without threads.

A cycle: a base order (market by default, or a limit at the current price) is bought. Once it
has filled, its average fill price is P0; safety orders rest as limit buys below P0, at most
`max_active_safety_orders` at a time, the next placed as one fills. After every buy fill the
take-profit (one limit sell of the whole position at average * (1 + tp/100)) is canceled, and the
new one is placed only once the old one is confirmed gone, for the position that remains then.
When the take-profit has sold the position, the cycle's other orders are canceled, the cycle
closes with its realized profit, and the next one starts after the cooldown.

A short (`direction: short`, sell-first on spot) is the mirror image, through the primitives of
`strategy.direction`: the base order sells base (a market sell of base_order / price, rounded
down to the step, or a limit at the price rounded up to the tick), the safety orders are limit
sells above P0, the take-profit buys the position back at average * (1 - tp/100) rounded down
to the tick, and the stop loss sits above the average and buys back at market. The position is
negative; what is left owed after the buy-back (below the step, or a base fee) is carried into
the next cycle at its average entry like a long's dust.

Policies (documented here because the engine and users rely on them):

- Sell amounts round down to the step. Base left below the step (or below the minimums) when a
  cycle closes is dust: it is carried into the next cycle's position at its average cost, so
  the realized profit of each cycle stays exact and the dust is sold with the next take-profit.
- A rejected base order, or one canceled before any fill, finishes the strategy: the usual
  cause (funds, permissions, market closed) needs a person, and retrying would only spam.
  A base order canceled after a partial fill counts as filled with what it got.
- A rejected or externally canceled safety order is not retried in this cycle; the next level
  is placed instead. A safety level whose rounded order breaks the market rules is skipped.
- A rejected take-profit is not re-placed until the position changes (the next buy fill); the
  stop loss still protects the position meanwhile.
- Market rules (tick, step, minimums, maker fee) are the venue's current ones: every cycle is
  sized with (and a break-even exit priced from) the rules the engine read when it starts
  (`Started.rules`, `CooldownElapsed.rules`). When an order is refused and the engine finds
  the rules changed (`OrderRejected.rules`), the state takes the new rules and the order is
  placed again under them, once: a take-profit as its next revision, a safety level as leg
  ``u<n>``, a market exit as its next revision. A base order refused that way still finishes
  the strategy (its rules were read just before).
- A market base order is a quote amount (`PlaceOrder.cost` = base_order): the venue spends at
  most that, whatever the price did since the last tick; its amount is an estimate.
- The stop loss (from the average entry) is checked on price ticks while the position is open;
  crossing it cancels the cycle's orders and sells the position at market. The next cycle
  follows after the cooldown, as after a take-profit.
- Trailing stop, cycle timeout and profit reinvestment: see `strategy.exits`. A timeout at
  market closes like the stop loss, with reason TIMEOUT; a cycle moved to break-even by its
  timeout also closes as TIMEOUT.
- A rejected market exit, or one that ends without any fill, finishes the strategy with the
  position kept: selling blind in a loop could be worse than stopping.
- Take-profit variants (strategy.take_profit). Steps: one limit sell per step not done, the
  position shared by their portions, the last taking the rest; a step that filled whole stays
  done for the cycle; after a buy fill every step still on the book is canceled and the rest
  are placed again (legs ``t<step letter><round>``) once no take-profit is left on the book; a
  partly filled step that was canceled is placed again for its share. Trailing: no sell rests
  on the book while the trail watches (no far "safety net" limit either: it would need the
  whole position, so the trail's own sell would have to wait for its cancel, and a spike while
  the engine is down is the only case it would catch; the stop loss still guards the
  position). The trail arms at the take-profit price, follows the peak (the state keeps it,
  so a restart resumes the trail), and on the pull-back places a limit sell at the tick's price
  but never below the take-profit price rather than a market sell: a market order's fill
  price is not bounded, so only a limit keeps the promise, and a limit at the market fills as
  a market order would. A buy fill resets the trail for the new average.
- A start condition other than asap (`strategy.start`) puts the strategy in WAITING where a
  cycle would start (on `Started`, and when a cooldown ends); `StartSignalled` starts it then.
  A `StartSignalled` in any other phase is ignored: a signal during a cycle does nothing, it is
  neither queued nor does it start a second cycle. A stop request in WAITING finishes the
  strategy at once, as in COOLDOWN.
- Events for unknown client order ids and fills with a trade id already applied in the cycle
  are ignored, so redelivery is harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from domain.commands import (
    CancelOrder,
    CloseReason,
    Command,
    CycleClosed,
    ScheduleWakeup,
    StrategyFinished,
)
from domain.events import (
    CooldownElapsed,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PriceTicked,
    Started,
    StartSignalled,
    StopMode,
    StopRequested,
)
from domain.market import MarketRules
from domain.orders import Fill, OrderType
from strategy import exits
from strategy.accounting import apply_fill, carried_figures, close_book
from strategy.direction import entry_side, exit_side, exited_quote, held, round_entry
from strategy.ladder import STRATEGY_CONTEXT, buy_amount, level_price
from strategy.options import Direction, TimeoutAction
from strategy.queries import ladder_done, sellable, tick_matters
from strategy.start import waits
from strategy.state import MartingaleState, Phase, Role, WorkingOrder, WorkingStatus
from strategy.take_profit import (
    buy_filled,
    place_take_profit,
    take_profit_filled,
    trail_tick,
    trail_watching,
)
from strategy.working import Commands, drop_order, place, put_order

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

_ACTIVE_PHASES = frozenset({Phase.ENTERING, Phase.ACTIVE, Phase.CLOSING, Phase.SELLING})
# Closings that end with the position sold at market.
_SELL_AT_MARKET = frozenset({CloseReason.STOP_LOSS, CloseReason.SOLD, CloseReason.TIMEOUT})


def decide(state: MartingaleState, event: Event) -> tuple[MartingaleState, tuple[Command, ...]]:
    """Apply one event. Returns the very same state object when the event changes nothing."""
    if state.phase is Phase.FINISHED:
        return state, ()
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return state, ()
    cmds: Commands = []
    with localcontext(STRATEGY_CONTEXT):
        new_state = handler(state, event, cmds)
    return new_state, tuple(cmds)


# --- event handlers ----------------------------------------------------------------------------


def _on_started(s: MartingaleState, e: Started, cmds: Commands) -> MartingaleState:
    if s.phase is not Phase.IDLE:
        return s
    return _start_or_wait(exits.rescale(_with_rules(s, e.rules), e.balance), e.price, cmds)


def _on_cooldown_elapsed(s: MartingaleState, e: CooldownElapsed, cmds: Commands) -> MartingaleState:
    if exits.timeout_due(s, e.at):
        return _time_out(s, e, cmds)
    if s.phase is not Phase.COOLDOWN or (s.wake_at is not None and e.at < s.wake_at):
        return s
    return _start_or_wait(exits.rescale(_with_rules(s, e.rules), e.balance), e.price, cmds)


def _on_start_signalled(s: MartingaleState, e: StartSignalled, cmds: Commands) -> MartingaleState:
    if s.phase is not Phase.WAITING:
        return s  # a signal during a cycle (or before the start) does nothing
    return _start_cycle(exits.rescale(_with_rules(s, e.rules), e.balance), e.price, cmds)


def _on_accepted(s: MartingaleState, e: OrderAccepted, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    status = WorkingStatus.OPEN if order.status is WorkingStatus.SUBMITTED else order.status
    exchange_id = e.exchange_order_id or order.exchange_order_id
    updated = replace(order, status=status, exchange_order_id=exchange_id)
    return s if updated == order else put_order(s, updated)


def _on_partial(s: MartingaleState, e: OrderPartiallyFilled, cmds: Commands) -> MartingaleState:
    order = s.order(e.fill.client_order_id)
    if order is None:
        return s
    applied = _fill(s, order, e.fill, cmds)
    return s if applied is None else _progress(applied, e, cmds)


def _on_filled(s: MartingaleState, e: OrderFilled, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    if e.fill is not None and e.fill.client_order_id == e.client_order_id:
        s = _fill(s, order, e.fill, cmds) or s
        order = s.order(e.client_order_id) or order
    if order.role is Role.TAKE_PROFIT:
        s = take_profit_filled(s, order.leg)
    s = drop_order(s, order)
    return _after_terminal(s, order, e, cmds, rejected=None)


def _on_canceled(s: MartingaleState, e: OrderCanceled, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    return _after_terminal(drop_order(s, order), order, e, cmds, rejected=None)


def _on_rejected(s: MartingaleState, e: OrderRejected, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    s = drop_order(s, order)
    if e.rules is not None and e.rules != s.rules and e.rules.symbol == s.symbol:
        again = _place_again(replace(s, rules=e.rules), order, e, cmds)
        if again is not None:
            return again
    return _after_terminal(s, order, e, cmds, rejected=e.reason)


def _on_tick(s: MartingaleState, e: PriceTicked, cmds: Commands) -> MartingaleState:
    s = exits.note_price(s, e.price)
    if exits.timeout_due(s, e.at):
        return _time_out(s, e, cmds)
    if tick_matters(s, e.price):
        return _begin_closing(s, CloseReason.STOP_LOSS, e, cmds)
    if not trail_watching(s):
        return s
    return trail_tick(s, e.price, sellable(s), cmds)


def _on_stop(s: MartingaleState, e: StopRequested, cmds: Commands) -> MartingaleState:
    s = replace(s, stop_mode=e.mode)
    if s.phase in (Phase.IDLE, Phase.COOLDOWN, Phase.WAITING):
        return _finish(s, f"stopped on request ({e.mode.value})", cmds)
    if e.mode is StopMode.FINISH_CYCLE or s.phase is Phase.SELLING:
        return s  # a market exit in flight cannot be called back; it finishes after it
    if e.mode is StopMode.SELL:
        keep = s.closing_reason in (CloseReason.STOP_LOSS, CloseReason.TIMEOUT)
        reason = s.closing_reason if keep and s.closing_reason else CloseReason.SOLD
        return _begin_closing(s, reason, e, cmds)
    return _begin_closing(s, CloseReason.CANCELED, e, cmds)


# --- transitions -------------------------------------------------------------------------------


def _start_or_wait(s: MartingaleState, price: Decimal, cmds: Commands) -> MartingaleState:
    if waits(s.params.start_condition):
        return replace(s, phase=Phase.WAITING, wake_at=None)
    return _start_cycle(s, price, cmds)


def _start_cycle(s: MartingaleState, price: Decimal, cmds: Commands) -> MartingaleState:
    p = s.params
    d = p.direction
    cycle = s.cycle + 1
    limit = p.base_order_type is OrderType.LIMIT
    limit_price = round_entry(d, s.rules, price) if limit else None
    sizing_price = limit_price if limit_price is not None else price
    base_quote = exits.quote_size(s, 0)
    amount = buy_amount(base_quote, sizing_price, s.rules)
    # A market buy spends a quote amount; a short's market sell gives up a base amount.
    cost = base_quote if not limit and d is Direction.LONG else None
    why = s.rules.violation(sizing_price, amount) if sizing_price > 0 else "price is not > 0"
    s = replace(
        s,
        cycle=cycle,
        orders=(),
        base_price=None,
        next_safety=1,
        tp_revision=0,
        exit_revision=0,
        tp_blocked=False,
        closing_reason=None,
        wake_at=None,
        applied_trades=(),
        trail_peak=None,
        tp_steps_done=(),
    )
    s = exits.new_cycle(s)
    if why is not None:
        return _finish(s, f"cycle {cycle}: the base order cannot be placed at {price}: {why}", cmds)
    s = place(
        s,
        cmds,
        role=Role.BASE,
        leg="b",
        side=entry_side(d),
        type_=p.base_order_type,
        amount=amount,
        price=limit_price,
        cost=cost,
    )
    return replace(s, phase=Phase.ENTERING)


def _after_terminal(
    s: MartingaleState, order: WorkingOrder, e: Event, cmds: Commands, *, rejected: str | None
) -> MartingaleState:
    """React to `order` having left the book (filled, canceled or rejected)."""
    if s.phase is Phase.ENTERING and order.role is Role.BASE:
        if rejected is not None:
            return _finish(s, f"cycle {s.cycle}: the base order was rejected: {rejected}", cmds)
        if order.filled <= 0:
            return _finish(s, f"cycle {s.cycle}: the base order ended without a fill", cmds)
        s = replace(s, phase=Phase.ACTIVE, base_price=order.cost / order.filled)
        s = exits.entered(s, e.at, cmds)
    elif s.phase is Phase.ACTIVE and order.role is Role.TAKE_PROFIT and rejected is not None:
        s = replace(s, tp_blocked=True)
    elif s.phase is Phase.SELLING and order.role is Role.EXIT:
        if rejected is not None:
            return _finish(s, f"the market exit was rejected: {rejected}; position kept", cmds)
        if order.filled <= 0:
            return _finish(s, "the market exit ended without a fill; position kept", cmds)
        return _after_exit(s, e, cmds)
    return _progress(s, e, cmds)


def _progress(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    """Bring the phase forward after any order change."""
    if s.phase is Phase.ACTIVE:
        return _settle_active(s, e, cmds)
    if s.phase is Phase.CLOSING and not s.orders:
        return _complete_closing(s, e, cmds)
    return s


def _settle_active(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    """Keep one take-profit for the position and the safety ladder topped up."""
    p = s.params
    if not s.orders_with(Role.TAKE_PROFIT):
        sell = sellable(s)
        taken = exited_quote(s.book, p.direction) > 0  # the take-profit has traded
        if sell is not None and not s.tp_blocked:
            s = place_take_profit(s, cmds, sell)
        elif sell is None and (taken or (not s.orders and ladder_done(s))):
            reason = CloseReason.TAKE_PROFIT if taken else CloseReason.CANCELED
            return _begin_closing(s, reason, e, cmds)
    base_price = s.base_price
    if base_price is None:  # ACTIVE always has P0; kept total for the type checker
        return s
    while len(s.orders_with(Role.SAFETY)) < p.max_active_safety_orders and not ladder_done(s):
        level = s.next_safety
        s = replace(s, next_safety=level + 1)
        price = level_price(p, base_price, level, s.rules)
        amount = buy_amount(exits.quote_size(s, level), price, s.rules)
        if price <= 0 or s.rules.violation(price, amount) is not None:
            continue  # skipped: this level cannot be placed under the market rules
        s = place(
            s,
            cmds,
            role=Role.SAFETY,
            leg=f"s{level}",
            side=entry_side(p.direction),
            type_=OrderType.LIMIT,
            amount=amount,
            price=price,
        )
    return s


def _begin_closing(
    s: MartingaleState, reason: CloseReason, e: Event, cmds: Commands
) -> MartingaleState:
    orders = []
    for order in s.orders:
        if order.status is WorkingStatus.CANCELING:
            orders.append(order)
            continue
        cmds.append(CancelOrder(client_order_id=order.client_order_id, symbol=s.symbol))
        orders.append(replace(order, status=WorkingStatus.CANCELING))
    s = replace(s, phase=Phase.CLOSING, closing_reason=reason, orders=tuple(orders))
    return _progress(s, e, cmds)


def _complete_closing(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    """Every order of the cycle is gone: resume, sell, or close."""
    reason = s.closing_reason or CloseReason.CANCELED
    sell = sellable(s)
    if reason is CloseReason.TAKE_PROFIT and sell is not None:
        # A safety order filled while we canceled it: keep managing that position, no new rungs.
        s = replace(
            s, phase=Phase.ACTIVE, closing_reason=None, next_safety=s.params.max_safety_orders + 1
        )
        return _settle_active(s, e, cmds)
    if reason in _SELL_AT_MARKET and sell is not None:
        return _place_exit(s, cmds)
    return _close(s, reason, e, cmds)


def _place_exit(s: MartingaleState, cmds: Commands) -> MartingaleState:
    amount = s.rules.round_amount(held(s.book, s.params.direction))
    leg = f"x{s.exit_revision + 1}"
    s = replace(s, exit_revision=s.exit_revision + 1, phase=Phase.SELLING)
    return place(
        s,
        cmds,
        role=Role.EXIT,
        leg=leg,
        side=exit_side(s.params.direction),
        type_=OrderType.MARKET,
        amount=amount,
        price=None,
    )


def _after_exit(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    if sellable(s) is not None:
        return _place_exit(s, cmds)
    return _close(s, s.closing_reason or CloseReason.SOLD, e, cmds)


def _close(s: MartingaleState, reason: CloseReason, e: Event, cmds: Commands) -> MartingaleState:
    """Close the cycle: report its profit, carry dust, then cool down or finish."""
    profit, carried = close_book(s.book, s.params.direction)
    reason = exits.reported_reason(s, reason)
    carried_amount, carried_cost = carried_figures(carried)
    cmds.append(
        CycleClosed(
            cycle=s.cycle,
            realized_profit=profit,
            reason=reason,
            at=e.at,
            bought=s.book.bought,
            spent=s.book.spent,
            base_price=s.base_price,
            carried=carried_amount,
            carried_cost=carried_cost,
            received=s.book.received,
        )
    )
    s = replace(
        s,
        book=carried,
        cycles_closed=s.cycles_closed + 1,
        realized_profit=s.realized_profit + profit,
        closing_reason=None,
        base_price=None,
    )
    s = exits.after_close(s, profit)
    if s.stop_mode is not None:
        return _finish(s, f"stopped on request ({s.stop_mode.value})", cmds)
    if s.params.max_cycles is not None and s.cycles_closed >= s.params.max_cycles:
        return _finish(s, f"max_cycles ({s.params.max_cycles}) reached", cmds)
    wake_at = e.at + timedelta(seconds=s.params.cooldown)
    cmds.append(ScheduleWakeup(at=wake_at))
    return replace(s, phase=Phase.COOLDOWN, wake_at=wake_at)


def _time_out(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    """The cycle is older than stop_loss_timeout: sell at market, or go for break-even."""
    if s.params.stop_loss_timeout_action is TimeoutAction.MARKET:
        return _begin_closing(replace(s, timed_out=True), CloseReason.TIMEOUT, e, cmds)
    return _progress(exits.move_to_break_even(s, cmds), e, cmds)


def _finish(s: MartingaleState, reason: str, cmds: Commands) -> MartingaleState:
    cmds.append(StrategyFinished(reason=reason))
    return replace(s, phase=Phase.FINISHED, finished_reason=reason, wake_at=None)


# --- helpers -----------------------------------------------------------------------------------


def _with_rules(s: MartingaleState, rules: MarketRules | None) -> MartingaleState:
    """Take the venue's current rules for the next cycle (ignored if for another symbol)."""
    if rules is None or rules == s.rules or rules.symbol != s.symbol:
        return s
    return replace(s, rules=rules)


def _place_again(
    s: MartingaleState, order: WorkingOrder, e: OrderRejected, cmds: Commands
) -> MartingaleState | None:
    """Place a refused order again under the market's new rules (already in `s`), once.

    None when it is not placed again (a base order, a level already re-placed, or one the new
    rules cannot hold): the refusal then takes its usual course.
    """
    if order.role is Role.TAKE_PROFIT and s.phase is Phase.ACTIVE:
        return _progress(s, e, cmds)  # not blocked: the next revision is placed, re-rounded
    if order.role is Role.EXIT and s.phase is Phase.SELLING:
        return _place_exit(s, cmds) if sellable(s) is not None else None
    if order.role is not Role.SAFETY or s.phase is not Phase.ACTIVE or s.base_price is None:
        return None
    if not order.leg.startswith("s") or not order.leg[1:].isdigit():
        return None  # a level placed again already ("u<n>") is not tried a third time
    level = int(order.leg[1:])
    price = level_price(s.params, s.base_price, level, s.rules)
    amount = buy_amount(exits.quote_size(s, level), price, s.rules)
    if price <= 0 or s.rules.violation(price, amount) is not None:
        return None
    s = place(
        s,
        cmds,
        role=Role.SAFETY,
        leg=f"u{level}",
        side=entry_side(s.params.direction),
        type_=OrderType.LIMIT,
        amount=amount,
        price=price,
    )
    return _progress(s, e, cmds)


def _fill(
    s: MartingaleState, order: WorkingOrder, fill: Fill, cmds: Commands
) -> MartingaleState | None:
    """Apply one fill; None when it is a duplicate or does not match the order."""
    result = apply_fill(s, order, fill)
    if result is None:
        return None
    s, order = result
    if order.side is entry_side(s.params.direction):
        s = buy_filled(exits.after_buy_fill(replace(s, tp_blocked=False)))
        for tp in s.orders_with(Role.TAKE_PROFIT):
            if s.phase is Phase.ACTIVE and tp.status is not WorkingStatus.CANCELING:
                cmds.append(CancelOrder(client_order_id=tp.client_order_id, symbol=s.symbol))
                s = put_order(s, replace(tp, status=WorkingStatus.CANCELING))
    return s


_HANDLERS: dict[type[Any], Callable[[MartingaleState, Any, Commands], MartingaleState]] = {
    Started: _on_started,
    CooldownElapsed: _on_cooldown_elapsed,
    OrderAccepted: _on_accepted,
    OrderPartiallyFilled: _on_partial,
    OrderFilled: _on_filled,
    OrderCanceled: _on_canceled,
    OrderRejected: _on_rejected,
    PriceTicked: _on_tick,
    StopRequested: _on_stop,
    StartSignalled: _on_start_signalled,
}
