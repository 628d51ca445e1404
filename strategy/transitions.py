"""The machine's transitions: start a cycle, keep an active one settled (its take-profit and
safety ladder), close it (cancel, sell at market, report), and finish the strategy.

The event handlers of `strategy.machine` call these after applying their event; the policies
they follow are written down in that module's docstring. Each takes the state, the event being
handled and the command list, and returns the new state, like the handlers.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.commands import CancelOrder, CloseReason, CycleClosed, ScheduleWakeup, StrategyFinished
from domain.events import Event, OrderRejected
from domain.market import MarketRules
from domain.orders import Fill, OrderType
from strategy import exits
from strategy.accounting import apply_fill, carried_figures, close_book
from strategy.direction import entry_side, exit_side, exited_quote, held, round_entry
from strategy.ladder import buy_amount, level_price
from strategy.options import Direction, TimeoutAction
from strategy.queries import ladder_done, sellable
from strategy.start import waits
from strategy.state import MartingaleState, Phase, Role, WorkingOrder, WorkingStatus
from strategy.take_profit import buy_filled, place_take_profit
from strategy.working import Commands, place, put_order

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

# Closings that end with the position sold at market.
_SELL_AT_MARKET = frozenset({CloseReason.STOP_LOSS, CloseReason.SOLD, CloseReason.TIMEOUT})


def start_or_wait(s: MartingaleState, price: Decimal, cmds: Commands) -> MartingaleState:
    """Where a cycle would start: start it, or wait for the start condition (`strategy.start`)."""
    if waits(s.params.start_condition):
        return replace(s, phase=Phase.WAITING, wake_at=None)
    return start_cycle(s, price, cmds)


def start_cycle(s: MartingaleState, price: Decimal, cmds: Commands) -> MartingaleState:
    """A new cycle: forget the last one's orders and place the base order at `price`."""
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
        return finish(s, f"cycle {cycle}: the base order cannot be placed at {price}: {why}", cmds)
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


def after_terminal(
    s: MartingaleState, order: WorkingOrder, e: Event, cmds: Commands, *, rejected: str | None
) -> MartingaleState:
    """React to `order` having left the book (filled, canceled or rejected)."""
    if s.phase is Phase.ENTERING and order.role is Role.BASE:
        if rejected is not None:
            return finish(s, f"cycle {s.cycle}: the base order was rejected: {rejected}", cmds)
        if order.filled <= 0:
            return finish(s, f"cycle {s.cycle}: the base order ended without a fill", cmds)
        s = replace(s, phase=Phase.ACTIVE, base_price=order.cost / order.filled)
        s = exits.entered(s, e.at, cmds)
    elif s.phase is Phase.ACTIVE and order.role is Role.TAKE_PROFIT and rejected is not None:
        s = replace(s, tp_blocked=True)
    elif s.phase is Phase.SELLING and order.role is Role.EXIT:
        if rejected is not None:
            return finish(s, f"the market exit was rejected: {rejected}; position kept", cmds)
        if order.filled <= 0:
            return finish(s, "the market exit ended without a fill; position kept", cmds)
        return _after_exit(s, e, cmds)
    return progress(s, e, cmds)


def progress(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
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
            return begin_closing(s, reason, e, cmds)
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


def begin_closing(
    s: MartingaleState, reason: CloseReason, e: Event, cmds: Commands
) -> MartingaleState:
    """Cancel every order of the cycle; once all are gone it closes (or sells) for `reason`."""
    orders = []
    for order in s.orders:
        if order.status is WorkingStatus.CANCELING:
            orders.append(order)
            continue
        cmds.append(CancelOrder(client_order_id=order.client_order_id, symbol=s.symbol))
        orders.append(replace(order, status=WorkingStatus.CANCELING))
    s = replace(s, phase=Phase.CLOSING, closing_reason=reason, orders=tuple(orders))
    return progress(s, e, cmds)


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
        return finish(s, f"stopped on request ({s.stop_mode.value})", cmds)
    if s.params.max_cycles is not None and s.cycles_closed >= s.params.max_cycles:
        return finish(s, f"max_cycles ({s.params.max_cycles}) reached", cmds)
    wake_at = e.at + timedelta(seconds=s.params.cooldown)
    cmds.append(ScheduleWakeup(at=wake_at))
    return replace(s, phase=Phase.COOLDOWN, wake_at=wake_at)


def time_out(s: MartingaleState, e: Event, cmds: Commands) -> MartingaleState:
    """The cycle is older than stop_loss_timeout: sell at market, or go for break-even."""
    if s.params.stop_loss_timeout_action is TimeoutAction.MARKET:
        return begin_closing(replace(s, timed_out=True), CloseReason.TIMEOUT, e, cmds)
    return progress(exits.move_to_break_even(s, cmds), e, cmds)


def finish(s: MartingaleState, reason: str, cmds: Commands) -> MartingaleState:
    """No more orders: the strategy is FINISHED, for `reason`."""
    cmds.append(StrategyFinished(reason=reason))
    return replace(s, phase=Phase.FINISHED, finished_reason=reason, wake_at=None)


# --- helpers -----------------------------------------------------------------------------------


def with_rules(s: MartingaleState, rules: MarketRules | None) -> MartingaleState:
    """Take the venue's current rules for the next cycle (ignored if for another symbol)."""
    if rules is None or rules == s.rules or rules.symbol != s.symbol:
        return s
    return replace(s, rules=rules)


def place_again(
    s: MartingaleState, order: WorkingOrder, e: OrderRejected, cmds: Commands
) -> MartingaleState | None:
    """Place a refused order again under the market's new rules (already in `s`), once.

    None when it is not placed again (a base order, a level already re-placed, or one the new
    rules cannot hold): the refusal then takes its usual course.
    """
    if order.role is Role.TAKE_PROFIT and s.phase is Phase.ACTIVE:
        return progress(s, e, cmds)  # not blocked: the next revision is placed, re-rounded
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
    return progress(s, e, cmds)


def take_fill(
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
