"""The engine: drives one strategy's pure machine against an exchange and the repository.

A plain class with no threads (EngineActor is its thin pykka shell), so it is tested directly.
The money rules of DESIGN.md live here and in the engine's two other parts:

- Write intent before acting: a decision and its order intents are committed (`save_step`)
  before any command reaches the exchange; if that commit fails nothing is sent. The loop that
  does it is `actors.engine_steps`.
- Never blindly resubmit: a create with no clear answer leaves the order PENDING_SUBMIT/UNKNOWN
  and the next sync asks the exchange by client order id before placing it again, and not
  before the grace period since it was *sent* (`actors.sends.SendLog`). A create the venue
  refused at the gate (rate limited, circuit open, maintenance) was not placed: it is placed
  again as soon as the engine retries, after the wait the venue asked for. The calls to the
  exchange are `actors.engine_orders`.
- Crash-only: `start()` is the one path for a cold start, a restart after a crash, a resume and
  a retry after an outage: load from the DB, reconcile with the exchange, then act.

This module holds that start path, the inputs (ticks, cooldowns, stops, wake-ups) and the
prices the engine watches; `Engine` puts the parts together (`StartWaits`, a strategy
waiting for its start condition, over `EngineSteps` over `EngineOrders`).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from actors.engine_orders import MARKET_RECHECK
from actors.engine_policy import apply_order, between_cycles, direction_kept, parsed_params, shown
from actors.engine_ports import FillsNotVisible, Host, Store, Watch
from actors.engine_start import CANDLE_DELAY_S, StartWaits
from actors.sends import SendLog
from domain import codec
from domain.commands import CancelOrder
from domain.errors import OrderOutcomeUnknown, TemporaryError, ValidationError
from domain.events import CooldownElapsed, PriceTicked, Started, StopRequested
from domain.market import MarketRules
from domain.orders import Order, OrderState
from exchange.port import Exchange
from persistence.records import CycleRecord, CycleStatus
from strategy.direction import held as size_held
from strategy.exits import next_wake, only_trails
from strategy.options import Direction
from strategy.params import MartingaleParams
from strategy.queries import average_price, watch_levels
from strategy.state import MartingaleState, Phase, WorkingOrder, WorkingStatus, initial_state

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

RESUBMIT_GRACE_S = 60.0
# How long a (re)started engine waits for a create its predecessor still has in flight before
# it gives up for now (DEGRADED, retried later): a create is one request, bounded by the
# client's timeout plus the lookup that resolves an unknown outcome.
IN_FLIGHT_WAIT_S = 60.0


class Engine(StartWaits):
    def __init__(
        self,
        *,
        strategy_id: int,
        exchange: Exchange,
        store: Store,
        host: Host,
        clock: Callable[[], datetime],
        price: Callable[[], Decimal],
        resubmit_grace: float = RESUBMIT_GRACE_S,
        sends: SendLog | None = None,
        waiting: Callable[[str], AbstractContextManager[object]] | None = None,
        in_flight_wait: float = IN_FLIGHT_WAIT_S,
        market_clock: Callable[[], datetime] | None = None,
        snapshot: Callable[[MartingaleState], str] = codec.dumps,
        candle_delay: float = CANDLE_DELAY_S,
    ) -> None:
        """`clock` is the wall clock (rows' times, the resubmit grace); `market_clock` stamps
        what the machine is told (so a replay's cooldowns run in candle time), by default the
        wall clock too. `snapshot` serializes the state each step commits (a backtest, which
        never restarts, passes one that skips the work). `candle_delay`: seconds after a
        candle's close before a waiting strategy reads it (`actors.engine_start`)."""
        self.strategy_id = strategy_id
        self._resubmit_grace = timedelta(seconds=resubmit_grace)
        # Shared with this strategy's earlier and later engines (see actors.sends).
        self._sends = sends if sends is not None else SendLog()
        self._waiting = waiting or (lambda _what: nullcontext())
        self._in_flight_wait = in_flight_wait
        self._exchange = exchange
        self._store = store
        self._host = host
        self._clock = clock
        self._market = market_clock or clock
        self._price = price
        self._snapshot = snapshot
        self._candle_delay = timedelta(seconds=candle_delay)
        self.state: MartingaleState | None = None
        self._committed: MartingaleState | None = None  # the state the database holds
        # Versions are random tokens, not a counter: a late write queued by a replaced instance
        # can then never match the version its successor wrote.
        self._versions = random.Random(secrets.randbits(64))
        self.version = 0
        self._cycle_opened_at: datetime | None = None
        self._safety_filled = 0
        self._closed_through = 0  # cycles up to this number are closed: never reopen their row
        self._cycle_written: CycleRecord | None = None  # the cycle row last committed here
        self._symbol = ""
        # When the exchange last accepted an order this engine sent (the end of tick-to-order).
        self.ordered_at: datetime | None = None
        self._acting: MartingaleState | None = None  # see `_execute`
        self.notice = None  # see EngineSteps.notice

    # --- the one start path --------------------------------------------------------------

    def start(self, stop: StopRequested | None = None) -> None:
        """Load, reconcile, act; TemporaryError and DatabaseUnavailable go to the caller.

        `stop`: a stop asked before this start (a paused or not yet started strategy told to
        stop, a stop the last process did not complete). It is handled in place of starting a
        cycle: a strategy between cycles finishes without buying a base order first."""
        with self._waiting("exchange"):
            idle = self._sends.wait_idle(self._in_flight_wait)
        if not idle:
            raise OrderOutcomeUnknown(
                f"strategy {self.strategy_id}: a create sent by its previous engine is still "
                "waiting for the exchange's answer; starting again once it has one"
            )
        loaded = self._store.load_engine_state(self.strategy_id)
        record = loaded.strategy
        self._symbol = record.symbol
        self.version = loaded.version
        self._cycle_written = None  # whatever the row holds now is written again, once
        current = loaded.current_cycle
        if current is not None:
            self._cycle_opened_at = current.opened_at
            self._safety_filled = current.safety_orders_filled
            if current.status is not CycleStatus.OPEN:
                self._closed_through = current.number
        if loaded.snapshot:
            snapshot = codec.loads(loaded.snapshot, MartingaleState)
            self.state = between_cycles(snapshot, record)
            self._warn_direction_kept(record.params)
            if snapshot.phase is Phase.FINISHED and self.state.phase is Phase.IDLE:
                self._report_adopted(self.state)
        else:
            params = MartingaleParams.from_mapping(record.params)
            rules = self._exchange.load_market_rules(record.symbol)
            self.state = initial_state(self.strategy_id, record.symbol, params, rules)
        if self.state.order_tag != loaded.deployment_tag:
            # New ids carry this database's tag; orders already working keep theirs.
            self.state = replace(self.state, order_tag=loaded.deployment_tag)
        self._committed = self.state
        for o in loaded.live_orders:  # sent, perhaps, by a process that is gone
            stamps = [t for t in (o.created_at, o.updated_at) if t is not None]
            if stamps:
                self._sends.may_have_sent(o.client_order_id, max(stamps))
        self.reconcile()
        state = self._require_state()
        if stop is not None:
            self.handle(stop)
        elif state.phase is Phase.IDLE:
            self.handle(
                Started(
                    at=self._market(),
                    price=self._price(),
                    rules=self._rules(),
                    balance=self._balance(),
                )
            )
        else:
            wake = next_wake(state)  # a cooldown's end, or a cycle's timeout
            if wake is not None:
                self._host.schedule(wake, "cooldown")
        self.arm_start()  # waiting for an indicator (now, or since before the restart)
        self._rewatch()

    def _report_adopted(self, state: MartingaleState) -> None:
        """A finished strategy resumed with a position it kept (stop-now): the next cycle
        adopts it, at its cost, and sells it with its take-profit. Said, not silent."""
        held = state.book.position
        if size_held(state.book, state.params.direction) > 0:
            average = average_price(state)
            self._host.report(
                "position_adopted",
                f"{shown(held)} {state.rules.base} at an average of "
                f"{shown(average) if average is not None else '?'} joins cycle {state.cycle + 1}",
            )

    def reconcile(self) -> None:
        """Bring the machine up to date with the exchange: adopt, resolve, apply missed fills.

        An order whose create is still within its unknown-outcome grace does not hold up the
        others (a take-profit never sent is placed at once); it is raised at the end, so the
        engine looks again later.
        """
        waiting: list[OrderOutcomeUnknown] = []
        for working in self._current_orders():
            self._sync_or_wait(working, waiting)
        self._adopt_strangers()
        for working in self._current_orders():
            if working.status is WorkingStatus.CANCELING:
                cancel = CancelOrder(client_order_id=working.client_order_id, symbol=self._symbol)
                self.handle(*self._execute(cancel))  # the answer is recorded, as everywhere else
        if waiting:
            raise waiting[0]

    def _sync_or_wait(self, working: WorkingOrder, waiting: list[OrderOutcomeUnknown]) -> None:
        try:
            self._sync_one(working)
        except OrderOutcomeUnknown as exc:
            if exc.client_order_id != working.client_order_id:
                raise  # not this order's own wait: a failure of something it caused
            waiting.append(exc)

    def _sync_one(self, working: WorkingOrder) -> None:
        """Ask the exchange about `working` and handle what it says at once."""
        # One queue: a failure still records the rest first.
        self.handle(*self._observed_now(working))

    def sync(
        self, open_orders: Sequence[Order] | None = None, as_of: datetime | None = None
    ) -> None:
        """A wake-up: the price crossed one of our orders, or a periodic check (which brings
        the account's open orders of our symbol, fetched once for every engine of the account,
        and `as_of`, when they were read: an order sent since is left for the next look, its
        absence from that list proves nothing and a lagging venue could make it look gone).

        One open-orders call shows which orders moved: an order still open, acknowledged and
        with nothing new filled is left alone; every other one (filled, partly filled, gone,
        unacknowledged, being canceled) is fetched by client order id as before. A wake-up
        then costs one exchange call plus one per order that changed, not one per order.
        """
        if not self._require_state().orders:
            self._rewatch()
            return
        if open_orders is None:
            open_orders = self._exchange.fetch_open_orders(self._symbol)
        still_open = {o.client_order_id: o for o in open_orders}
        waiting: list[OrderOutcomeUnknown] = []
        for working in self._current_orders():
            sent = self._sends.sent_at(working.client_order_id)
            if as_of is not None and sent is not None and sent >= as_of:
                continue  # sent after the list was read: its absence from it says nothing
            remote = still_open.get(working.client_order_id)
            if (
                remote is not None
                and working.status is WorkingStatus.OPEN
                and remote.state is OrderState.OPEN
                and remote.filled == working.filled
            ):
                continue
            self._sync_or_wait(working, waiting)
        self._rewatch()
        if waiting:
            raise waiting[0]

    def _current_orders(self) -> Iterator[WorkingOrder]:
        """The working orders, each read afresh: handling one order's news changes the state,
        so a copy taken before the loop would be stale (and a stale `filled` looks like fills
        the exchange does not list).

        In a fixed order, whatever their order in the state: when one look finds several
        orders changed (a safety order and the take-profit filled in one candle), market
        orders come first (a base order, or an exit: never resting beside the ladder), then
        the safety orders before the take-profit, the highest buy and the lowest sell first.
        For a long strategy the low of an interval is taken to come before its high, for a
        short the high before the low: the pessimistic rule the backtest uses.
        """
        state = self._require_state()
        direction = state.params.direction
        for coid in [
            o.client_order_id for o in sorted(state.orders, key=lambda o: apply_order(o, direction))
        ]:
            working = self._require_state().order(coid)
            if working is not None:
                yield working

    # --- inputs --------------------------------------------------------------------------

    def on_tick(self, price: Decimal, at: datetime) -> None:
        if not only_trails(self._require_state(), price):  # a trail's new best: nothing filled
            self.sync()
        self.handle(PriceTicked(at=at, price=price))
        self._rewatch()

    def on_range(
        self, low: Decimal, high: Decimal, at: datetime, close: Decimal | None = None
    ) -> None:
        """The market traded from `low` to `high` and ended at `close` (a candle; one tick
        when they are equal). The side against the position comes first (the low for a long,
        the high for a short: the safety orders and the stop loss sit there), then the other
        side when it still reaches a level there (a trailing stop's or take-profit's next best
        price), then the close when it crosses the level that move set (the stop it raised).
        The feed does not wake an engine twice for one tick, and the backtest plays the same."""
        short = self._require_state().params.direction is Direction.SHORT
        first, second = (high, low) if short else (low, high)
        self.on_tick(first, at)
        if high > low and self._crosses(second, upward=not short):
            self.on_tick(second, at)
            if close is not None and self._crosses(close, upward=short):
                self.on_tick(close, at)

    def _crosses(self, price: Decimal, *, upward: bool) -> bool:
        """`price` reaches the level watched above (upward) or below (downward) right now."""
        watch = self.watch()
        if upward:
            return watch.above is not None and price >= watch.above
        return watch.below is not None and price <= watch.below

    def on_cooldown(self) -> None:
        """The strategy's timer: the end of a cooldown, or a cycle's timeout
        (`strategy.exits.next_wake`; one timer kind, so a market's single alarm serves both)."""
        state = self._require_state()
        at = self._market()
        if state.phase is Phase.COOLDOWN:
            balance = None
            if state.wake_at is None or at >= state.wake_at:
                self._take_params()
                balance = self._balance()
            self.handle(
                CooldownElapsed(at=at, price=self._price(), rules=self._rules(), balance=balance)
            )
            self.arm_start()
            self._rewatch()
        else:
            due = next_wake(state)
            if due is not None and at >= due:
                self.sync()  # fills first: the position the timeout closes is the real one
                self.handle(CooldownElapsed(at=at, price=self._price(), rules=self._rules()))
                self._rewatch()
        wake = next_wake(self._require_state())
        if wake is not None:
            # Early by the wall clock (the timer runs on the monotonic one): ask again.
            self._host.schedule(max(wake, self._market() + MARKET_RECHECK), "cooldown")

    def _take_params(self) -> None:
        """The next cycle starts with the parameters stored now: a change made while the
        strategy runs (the API, `martingale onboard`) takes effect from its next cycle, never in
        the middle of one, with no restart. Parameters that cannot be used are said, and the
        cycle starts with the previous ones."""
        record = self._store.get_strategy(self.strategy_id)
        try:
            self.state = between_cycles(self._require_state(), record)
            self._warn_direction_kept(record.params)
        except ValidationError as exc:
            self._host.warn(
                "params_refused",
                f"the stored parameters cannot be used ({exc}); the next cycle keeps the "
                "previous ones",
            )

    def _warn_direction_kept(self, stored: Mapping[str, Any]) -> None:
        state = self._require_state()
        if state.phase not in (Phase.IDLE, Phase.COOLDOWN, Phase.FINISHED):
            return  # parameters change between cycles only
        why = direction_kept(state, parsed_params(stored))
        if why is not None:
            self._host.warn("params_refused", why)

    def request_stop(self, event: StopRequested) -> None:
        self.handle(event)
        self._rewatch()

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.phase is Phase.FINISHED

    def _balance(self) -> Decimal | None:
        """The account's free funds in quote, asked only when reinvested profit may raise the
        next cycle's sizes (the machine caps them at it); None otherwise. A short commits base,
        so its free base is valued at the current price."""
        state = self._require_state()
        if state.params.reinvest_percent <= 0 or state.reinvested <= 0:
            return None
        short = state.params.direction is Direction.SHORT
        currency = state.rules.base if short else state.rules.quote
        held = self._exchange.fetch_balances().get(currency)
        free = held.free if held is not None else Decimal(0)
        return free * self._price() if short else free

    def _rules(self) -> MarketRules:
        """The venue's current rules (cached by the exchange client, refreshed periodically):
        every cycle is sized with them, never with the rules frozen in an old snapshot."""
        return self._exchange.load_market_rules(self._symbol)

    # --- watching prices -------------------------------------------------------------------

    def watch(self) -> Watch:
        below, above = watch_levels(self._require_state())
        return Watch(below=below, above=above)

    def _rewatch(self) -> None:
        if self.state is None:
            return
        w = self.watch()
        self._host.watch(w.below, w.above)


__all__ = ["Engine", "FillsNotVisible", "Host", "Store", "TemporaryError", "Watch"]
