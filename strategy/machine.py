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

This module holds `decide` and one handler per event type; the transitions they share
(starting, settling and closing a cycle) are in `strategy.transitions`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import localcontext
from typing import TYPE_CHECKING, Any

from domain.commands import CloseReason, Command
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
from strategy import exits
from strategy.ladder import STRATEGY_CONTEXT
from strategy.queries import sellable, tick_matters
from strategy.state import MartingaleState, Phase, Role, WorkingStatus
from strategy.take_profit import take_profit_filled, trail_tick, trail_watching
from strategy.transitions import (
    after_terminal,
    begin_closing,
    finish,
    place_again,
    progress,
    start_cycle,
    start_or_wait,
    take_fill,
    time_out,
    with_rules,
)
from strategy.working import Commands, drop_order, put_order

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)


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
    return start_or_wait(exits.rescale(with_rules(s, e.rules), e.balance), e.price, cmds)


def _on_cooldown_elapsed(s: MartingaleState, e: CooldownElapsed, cmds: Commands) -> MartingaleState:
    if exits.timeout_due(s, e.at):
        return time_out(s, e, cmds)
    if s.phase is not Phase.COOLDOWN or (s.wake_at is not None and e.at < s.wake_at):
        return s
    return start_or_wait(exits.rescale(with_rules(s, e.rules), e.balance), e.price, cmds)


def _on_start_signalled(s: MartingaleState, e: StartSignalled, cmds: Commands) -> MartingaleState:
    if s.phase is not Phase.WAITING:
        return s  # a signal during a cycle (or before the start) does nothing
    return start_cycle(exits.rescale(with_rules(s, e.rules), e.balance), e.price, cmds)


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
    applied = take_fill(s, order, e.fill, cmds)
    return s if applied is None else progress(applied, e, cmds)


def _on_filled(s: MartingaleState, e: OrderFilled, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    if e.fill is not None and e.fill.client_order_id == e.client_order_id:
        s = take_fill(s, order, e.fill, cmds) or s
        order = s.order(e.client_order_id) or order
    if order.role is Role.TAKE_PROFIT:
        s = take_profit_filled(s, order.leg)
    s = drop_order(s, order)
    return after_terminal(s, order, e, cmds, rejected=None)


def _on_canceled(s: MartingaleState, e: OrderCanceled, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    return after_terminal(drop_order(s, order), order, e, cmds, rejected=None)


def _on_rejected(s: MartingaleState, e: OrderRejected, cmds: Commands) -> MartingaleState:
    order = s.order(e.client_order_id)
    if order is None:
        return s
    s = drop_order(s, order)
    if e.rules is not None and e.rules != s.rules and e.rules.symbol == s.symbol:
        again = place_again(replace(s, rules=e.rules), order, e, cmds)
        if again is not None:
            return again
    return after_terminal(s, order, e, cmds, rejected=e.reason)


def _on_tick(s: MartingaleState, e: PriceTicked, cmds: Commands) -> MartingaleState:
    s = exits.note_price(s, e.price)
    if exits.timeout_due(s, e.at):
        return time_out(s, e, cmds)
    if tick_matters(s, e.price):
        return begin_closing(s, CloseReason.STOP_LOSS, e, cmds)
    if not trail_watching(s):
        return s
    return trail_tick(s, e.price, sellable(s), cmds)


def _on_stop(s: MartingaleState, e: StopRequested, cmds: Commands) -> MartingaleState:
    s = replace(s, stop_mode=e.mode)
    if s.phase in (Phase.IDLE, Phase.COOLDOWN, Phase.WAITING):
        return finish(s, f"stopped on request ({e.mode.value})", cmds)
    if e.mode is StopMode.FINISH_CYCLE or s.phase is Phase.SELLING:
        return s  # a market exit in flight cannot be called back; it finishes after it
    if e.mode is StopMode.SELL:
        keep = s.closing_reason in (CloseReason.STOP_LOSS, CloseReason.TIMEOUT)
        reason = s.closing_reason if keep and s.closing_reason else CloseReason.SOLD
        return begin_closing(s, reason, e, cmds)
    return begin_closing(s, CloseReason.CANCELED, e, cmds)


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
