"""The engine: drives one strategy's pure machine against an exchange and the repository.

A plain class with no threads (EngineActor is its thin pykka shell), so it is tested directly.
The money rules of DESIGN.md live here:

- Write intent before acting: a decision and its order intents are committed (`save_step`)
  before any command reaches the exchange; if that commit fails nothing is sent.
- Never blindly resubmit: a create with no clear answer leaves the order PENDING_SUBMIT/UNKNOWN
  and the next sync asks the exchange by client order id before placing it again, and not
  before the grace period since it was *sent* (`actors.sends.SendLog`). A create the venue
  refused at the gate (rate limited, circuit open, maintenance) was not placed: it is placed
  again as soon as the engine retries, after the wait the venue asked for.
- Crash-only: `start()` is the one path for a cold start, a restart after a crash, a resume and
  a retry after an outage: load from the DB, reconcile with the exchange, then act.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from actors.engine_policy import apply_order, between_cycles, notable, shown, stored
from actors.engine_ports import FillsNotVisible, Host, Store, Watch
from actors.order_sync import Observed, needs_fills, observe
from actors.sends import SendLog
from domain import codec
from domain.commands import (
    CancelOrder,
    Command,
    CycleClosed,
    PlaceOrder,
    ScheduleWakeup,
    StrategyFinished,
)
from domain.errors import (
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    MarketFilterRejected,
    OrderError,
    OrderNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    TemporaryError,
    ValidationError,
)
from domain.events import (
    CooldownElapsed,
    Event,
    OrderCanceled,
    OrderRejected,
    PriceTicked,
    Started,
    StopRequested,
)
from domain.ids import client_order_id_tag, parse_client_order_id
from domain.market import MarketRules
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.port import Exchange
from persistence.records import (
    CycleRecord,
    CycleStatus,
    OrderIntent,
)
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.queries import stop_loss_price
from strategy.state import MartingaleState, Phase, Role, WorkingOrder, WorkingStatus, initial_state

RESUBMIT_GRACE_S = 60.0
# How long a (re)started engine waits for a create its predecessor still has in flight before
# it gives up for now (DEGRADED, retried later): a create is one request, bounded by the
# client's timeout plus the lookup that resolves an unknown outcome.
IN_FLIGHT_WAIT_S = 60.0
MARKET_RECHECK = timedelta(seconds=2)

# A decision with one of these is committed at once: a closed cycle's row is written as it
# closed, and nothing is decided after the end in the same commit.
_FLUSH_NOW = (CycleClosed, StrategyFinished)
# Commands that reach the exchange: the round's batch is committed before the first is sent.
_SENT = (PlaceOrder, CancelOrder)


@dataclass(slots=True)
class _Batch:
    """Decisions staged for one `save_step`."""

    intents: list[OrderIntent] = field(default_factory=list)
    order_updates: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    events: list[object] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    def clear(self) -> None:
        for part in (self.intents, self.order_updates, self.fills, self.events, self.commands):
            part.clear()


class Engine:
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
    ) -> None:
        """`clock` is the wall clock (rows' times, the resubmit grace); `market_clock` stamps
        what the machine is told (so a replay's cooldowns run in candle time), by default the
        wall clock too."""
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
        self.state: MartingaleState | None = None
        self._committed: MartingaleState | None = None  # the state the database holds
        # Versions are random tokens, not a counter: a late write queued by a replaced instance
        # can then never match the version its successor wrote.
        self._versions = random.Random(secrets.randbits(64))
        self.version = 0
        self._cycle_opened_at: datetime | None = None
        self._safety_filled = 0
        self._closed_through = 0  # cycles up to this number are closed: never reopen their row
        self._symbol = ""
        # When the exchange last accepted an order this engine sent (the end of tick-to-order).
        self.ordered_at: datetime | None = None
        self._acting: MartingaleState | None = None  # see `_execute`

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
        current = loaded.current_cycle
        if current is not None:
            self._cycle_opened_at = current.opened_at
            self._safety_filled = current.safety_orders_filled
            if current.status is not CycleStatus.OPEN:
                self._closed_through = current.number
        if loaded.snapshot:
            snapshot = codec.loads(loaded.snapshot, MartingaleState)
            self.state = between_cycles(snapshot, record)
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
            self.handle(Started(at=self._market(), price=self._price(), rules=self._rules()))
        elif state.phase is Phase.COOLDOWN and state.wake_at is not None:
            self._host.schedule(state.wake_at, "cooldown")
        self._rewatch()

    def _report_adopted(self, state: MartingaleState) -> None:
        """A finished strategy resumed with a position it kept (stop-now): the next cycle
        adopts it, at its cost, and sells it with its take-profit. Said, not silent."""
        held = state.book.position
        if held > 0:
            average = state.book.average
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
        buys before sells, the highest buy and the lowest sell first. For a long strategy the
        low of an interval is taken to come before its high, the rule the backtest uses.
        """
        for coid in [
            o.client_order_id for o in sorted(self._require_state().orders, key=apply_order)
        ]:
            working = self._require_state().order(coid)
            if working is not None:
                yield working

    # --- inputs --------------------------------------------------------------------------

    def on_tick(self, price: Decimal, at: datetime) -> None:
        self.sync()
        self.handle(PriceTicked(at=at, price=price))
        self._rewatch()

    def on_cooldown(self) -> None:
        state = self._require_state()
        if state.phase is Phase.COOLDOWN:
            at = self._market()
            if state.wake_at is None or at >= state.wake_at:
                self._take_params()
            self.handle(CooldownElapsed(at=at, price=self._price(), rules=self._rules()))
            self._rewatch()
        state = self._require_state()
        if state.phase is Phase.COOLDOWN and state.wake_at is not None:
            # Early by the wall clock (the timer runs on the monotonic one): ask again.
            self._host.schedule(max(state.wake_at, self._market() + MARKET_RECHECK), "cooldown")

    def _take_params(self) -> None:
        """The next cycle starts with the parameters stored now: a change made while the
        strategy runs (the API, `martingale onboard`) takes effect from its next cycle, never in
        the middle of one, with no restart. Parameters that cannot be used are said, and the
        cycle starts with the previous ones."""
        record = self._store.get_strategy(self.strategy_id)
        try:
            self.state = between_cycles(self._require_state(), record)
        except ValidationError as exc:
            self._host.warn(
                "params_refused",
                f"the stored parameters cannot be used ({exc}); the next cycle keeps the "
                "previous ones",
            )

    def request_stop(self, event: StopRequested) -> None:
        self.handle(event)
        self._rewatch()

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.phase is Phase.FINISHED

    # --- the loop: decide, commit, act ---------------------------------------------------

    def handle(self, *items: Event | Observed) -> None:
        """Decide, commit, act, for `items` and everything the exchange answers, in order.

        In rounds: the items known are decided and staged one after another, the batch is
        committed, and only then are the round's commands sent (rule 3: intent first), each
        as of the decision that made it; the exchange's answers are the next round's items.
        A round ends at every commit: a closed cycle or a finished strategy is committed and
        acted on before anything more is decided, and a new cycle's first decision waits until
        the old cycle's commands are sent. So the decisions, the commands and what the
        database holds when each command goes out are those of deciding one item at a time
        (an answer queues behind every item already known); only commits are merged: the
        partial fill and the fill that completes an order, in one sync, cost one commit, not
        two. The single writer is the service's narrowest pipe, and each commit is a wait on
        the path from tick to order.
        """
        queue: deque[Observed] = deque(
            item if isinstance(item, Observed) else Observed(event=item) for item in items
        )
        batch = _Batch()
        failure: Exception | None = None
        while queue:
            sending: list[tuple[Command, MartingaleState]] = []
            commit = False
            while queue:
                item = queue.popleft()
                state = self._require_state()
                new_state, commands = decide(state, item.event)
                if new_state is state and not commands and item.order is None and item.fill is None:
                    continue
                if batch.events and new_state.cycle != state.cycle:
                    # Defensive: Started and CooldownElapsed, which open cycles, come alone.
                    if sending:  # the old cycle's commands go first; this is decided after
                        queue.appendleft(item)
                        commit = True
                        break
                    self._flush(batch)  # the old cycle's rows before the new cycle's
                self._stage(batch, state, new_state, commands, item)
                sending.extend((command, new_state) for command in commands)
                if any(isinstance(c, _FLUSH_NOW) for c in commands):
                    commit = True
                    break
            if commit or any(isinstance(c, _SENT) for c, _ in sending):
                self._flush(batch)
            for command, decided in sending:
                if failure is not None:
                    break  # record-only: its intent stays PENDING_SUBMIT for the next start
                try:
                    queue.extend(self._execute(command, decided))
                except Exception as exc:
                    # What the exchange already answered is still recorded before giving up,
                    # so no order it accepted is left looking unsent in the database.
                    failure = exc
        self._flush(batch)
        if failure is not None:
            raise failure

    def _stage(
        self,
        batch: _Batch,
        old: MartingaleState,
        new: MartingaleState,
        commands: tuple[Command, ...],
        item: Observed,
    ) -> None:
        """Add one decision to the batch; the in-memory state runs ahead until the flush."""
        self._host.guard(exchange=False)
        now = self._clock()
        for c in commands:
            if isinstance(c, PlaceOrder):
                order = Order(
                    client_order_id=c.client_order_id,
                    symbol=c.symbol,
                    side=c.side,
                    type=c.order_type,
                    amount=c.amount,
                    price=c.price,
                    created_at=now,
                )
                batch.intents.append(OrderIntent(cycle=c.cycle, leg=c.leg, order=order))
        if new.cycle != old.cycle:
            self._cycle_opened_at, self._safety_filled = now, 0
        if item.fill is not None:
            working = old.order(item.fill.client_order_id)
            if working is not None and working.role is Role.SAFETY and working.filled == 0:
                self._safety_filled += 1
            batch.fills.append(item.fill)
        if item.order is not None:
            batch.order_updates.append(item.order)
        batch.events.extend([item.event, *commands])
        batch.commands.extend(commands)
        self.state = new

    def _flush(self, batch: _Batch) -> None:
        if not batch.events:
            return
        state = self._require_state()
        now = self._clock()
        commands = tuple(batch.commands)
        notes = notable(commands)
        try:
            result = self._store.save_step(
                self.strategy_id,
                snapshot=codec.dumps(state),
                expected_version=self.version,
                now=now,
                new_version=self._versions.randrange(1, 2**31),
                new_orders=batch.intents,
                order_updates=batch.order_updates,
                fills=batch.fills,
                cycle=self._cycle_record(state, commands, now),
                events=batch.events,
                # A closed cycle's audit row commits with the close, or not at all.
                audits=[self._host.audit_entry(kind, detail) for kind, detail in notes],
            )
        except BaseException:
            self.state = self._committed  # nothing of the batch happened
            raise
        finally:
            batch.clear()
        self._committed, self.version = state, result.version
        self._sends.committed(c.client_order_id for c in commands if isinstance(c, PlaceOrder))
        self._sends.keep(o.client_order_id for o in state.orders)
        for command in commands:
            if isinstance(command, CycleClosed):
                self._closed_through = max(self._closed_through, command.cycle)
        for kind, detail in notes:
            self._host.report(kind, detail, stored=True)

    def _cycle_record(
        self, s: MartingaleState, commands: tuple[Command, ...], now: datetime
    ) -> CycleRecord | None:
        if s.cycle == 0:
            return None
        closed = next((c for c in commands if isinstance(c, CycleClosed)), None)
        if closed is None and s.cycle <= self._closed_through:
            return None  # the cycle's row is final; the orders being canceled don't change it
        if closed is not None:
            # The cycle's own figures: what it bought and spent, its P0, and what it handed to
            # the next cycle (the state now holds only that carried remainder).
            average = closed.spent / closed.bought if closed.bought > 0 else None
            return CycleRecord(
                number=closed.cycle,
                status=CycleStatus.CLOSED,
                opened_at=self._cycle_opened_at or now,
                amount=stored(closed.bought) or Decimal(0),
                cost=stored(closed.spent) or Decimal(0),
                base_price=stored(closed.base_price),
                average_price=stored(average),
                realized_profit=stored(closed.realized_profit),
                safety_orders_filled=self._safety_filled,
                closed_at=now,
                carried_amount=stored(closed.carried) or Decimal(0),
                carried_cost=stored(closed.carried_cost) or Decimal(0),
            )
        book = s.book
        return CycleRecord(
            number=s.cycle,
            status=CycleStatus.OPEN,
            opened_at=self._cycle_opened_at or now,
            amount=stored(book.position) or Decimal(0),
            cost=stored(book.spent) or Decimal(0),
            base_price=stored(s.base_price),
            average_price=stored(book.average),
            realized_profit=None,
            safety_orders_filled=self._safety_filled,
            closed_at=None,
        )

    # --- commands against the exchange ---------------------------------------------------

    def _execute(self, command: Command, decided: MartingaleState | None = None) -> list[Observed]:
        """Send `command`; its answer is read against `decided`, the state the decision that
        made it left (the machine may have decided more items since, in the same round)."""
        outer, self._acting = self._acting, decided
        try:
            if isinstance(command, PlaceOrder):
                return self._place(command)
            if isinstance(command, CancelOrder):
                return self._cancel(command)
            if isinstance(command, ScheduleWakeup):
                self._host.schedule(command.at, "cooldown")
            return []
        finally:
            self._acting = outer

    def _decided(self) -> MartingaleState:
        """The state a command being sent was decided in; outside `_execute`, the current one."""
        return self._acting if self._acting is not None else self._require_state()

    def _place(self, c: PlaceOrder) -> list[Observed]:
        self._host.guard()
        try:
            # The grace before any resubmit counts from the last send, not from the intent.
            with self._sends.sending(c.client_order_id, self._clock()):
                remote = self._create(c)
        except DuplicateOrder:
            remote = self._exchange.fetch_order(c.symbol, client_order_id=c.client_order_id)
        except OrderOutcomeUnknown:
            # The row stays PENDING_SUBMIT. Raising sends the engine down the start path later
            # (DEGRADED, with backoff), where reconcile resolves it by client order id.
            self._host.report("unknown_outcome", c.client_order_id)
            raise
        except (RateLimited, ExchangeUnavailable):
            # Refused at the gate (429/418, an open circuit, maintenance, our own rate limit):
            # not placed. The row stays PENDING_SUBMIT and the retry, after the wait the venue
            # asked for, places it at once: no unknown-outcome grace for an order never sent.
            self._sends.refused(c.client_order_id)
            self._host.report("not_placed", c.client_order_id)
            raise
        except OrderError as exc:
            self._sends.refused(c.client_order_id)
            if isinstance(exc, InsufficientFunds) and c.side is Side.SELL:
                self._host.warn(
                    "sell_refused",
                    f"the exchange refused to sell {shown(c.amount)} for lack of funds "
                    f"(order {c.client_order_id}): the account holds less than this strategy's "
                    "position; was it sold or withdrawn outside the service?",
                )
            rejected = self._rejected_row(c.client_order_id, c)
            # A filter refusal may mean the market's rules changed under us: read them again,
            # and the machine places the order again under the new ones.
            rules = self._fresh_rules() if isinstance(exc, MarketFilterRejected) else None
            return [
                Observed(
                    event=OrderRejected(
                        at=self._market(),
                        client_order_id=c.client_order_id,
                        reason=str(exc),
                        rules=rules if rules != self._decided().rules else None,
                    ),
                    order=rejected,
                )
            ]
        self.ordered_at = self._clock()
        working = self._decided().order(c.client_order_id)
        if c.order_type is OrderType.MARKET and not remote.state.is_terminal:
            # Acknowledged but not done: no price level will wake us for it, so look again.
            self._host.schedule(self._market() + MARKET_RECHECK, "sync")
        return self._observe(working, remote) if working is not None else []

    def _create(self, c: PlaceOrder) -> Order:
        return self._exchange.create_order(
            client_order_id=c.client_order_id,
            symbol=c.symbol,
            side=c.side,
            type=c.order_type,
            amount=c.amount,
            price=c.price,
            cost=c.cost,
        )

    def _fresh_rules(self) -> MarketRules | None:
        try:
            return self._exchange.load_market_rules(self._symbol, fresh=True)
        except TemporaryError:
            return None  # the refusal takes its usual course; the next cycle reads them

    def _rules(self) -> MarketRules:
        """The venue's current rules (cached by the exchange client, refreshed periodically):
        every cycle is sized with them, never with the rules frozen in an old snapshot."""
        return self._exchange.load_market_rules(self._symbol)

    def _cancel(self, c: CancelOrder) -> list[Observed]:
        working = self._decided().order(c.client_order_id)
        if working is None:
            return []
        self._host.guard()
        try:
            remote = self._exchange.cancel_order(c.symbol, client_order_id=c.client_order_id)
        except OrderNotFound:
            # Closed already (filled or canceled), or it never reached the venue: never place
            # an order we are canceling.
            return self._sync_one(working, deliver=False, resubmit=False)
        except OrderOutcomeUnknown:
            raise  # still CANCELING in the machine: reconcile on the retry cancels again
        return self._observe(working, remote)

    # --- syncing one order ---------------------------------------------------------------

    def _sync_one(
        self, working: WorkingOrder, *, deliver: bool = True, resubmit: bool = True
    ) -> list[Observed]:
        try:
            remote = self._exchange.fetch_order(
                self._symbol, client_order_id=working.client_order_id
            )
        except OrderNotFound:
            observed = self._never_arrived(working, resubmit=resubmit)
        else:
            observed = self._observe(working, remote)
        if deliver:
            self.handle(*observed)  # one queue: a failure still records the rest first
            return []
        return observed

    def _never_arrived(self, working: WorkingOrder, *, resubmit: bool) -> list[Observed]:
        """The exchange has no such order: a create that never landed. Place it now (same id).

        Not too soon: after a create with no clear answer a venue may list the order only
        seconds later, and binance accepts a reused client order id once the first order is
        closed, so an early resubmit could buy twice. Within the grace period this raises
        OrderOutcomeUnknown (DEGRADED, retried later). The paper venue answers at once: 0 s.
        """
        if resubmit and working.status is WorkingStatus.SUBMITTED:
            sent = self._sends.sent_at(working.client_order_id)
            if sent is not None and self._clock() - sent < self._resubmit_grace:
                raise OrderOutcomeUnknown(
                    f"order {working.client_order_id} is not on the exchange yet; it is "
                    "placed again only after the grace period",
                    client_order_id=working.client_order_id,
                )
            state = self._require_state()
            command = PlaceOrder(
                client_order_id=working.client_order_id,
                symbol=state.symbol,
                side=working.side,
                order_type=working.order_type,
                amount=working.amount,
                price=working.price,
                cycle=state.cycle,
                leg=working.leg,
                cost=working.quote,
            )
            self._host.report("resubmit", working.client_order_id)
            return self._place(command)
        # Being canceled, or acknowledged once and gone without trace: it is canceled.
        row = Order(
            client_order_id=working.client_order_id,
            symbol=self._symbol,
            side=working.side,
            type=working.order_type,
            amount=working.amount,
            price=working.price,
            state=OrderState.CANCELED,
        )
        return [
            Observed(
                event=OrderCanceled(at=self._market(), client_order_id=working.client_order_id),
                order=row,
            )
        ]

    def _observe(self, working: WorkingOrder, remote: Order) -> list[Observed]:
        state = self._decided()
        if remote.state is OrderState.CANCELED and working.status is not WorkingStatus.CANCELING:
            self._host.warn(
                "canceled_outside",
                f"order {working.client_order_id} ({working.role.value} {working.side.value} "
                f"{shown(working.amount)} at {working.price or 'market'}) was canceled on the "
                "exchange, not by this strategy",
            )
        fills: list[Fill] = []
        if needs_fills(working, remote):
            since = remote.created_at
            fills = [
                f
                for f in self._exchange.fetch_fills(self._symbol, since=since)
                if f.client_order_id == working.client_order_id
            ]
            seen = sum(
                (f.amount for f in fills if f.trade_id not in state.applied_trades), Decimal(0)
            )
            if working.filled + seen < remote.filled:
                fills = [
                    f
                    for f in self._exchange.fetch_fills(self._symbol)
                    if f.client_order_id == working.client_order_id
                ]
                seen = sum(
                    (f.amount for f in fills if f.trade_id not in state.applied_trades), Decimal(0)
                )
                if working.filled + seen < remote.filled:
                    raise FillsNotVisible(
                        f"order {working.client_order_id}: exchange reports {remote.filled} filled "
                        f"but lists trades for {working.filled + seen}"
                    )
        return observe(working, remote, fills, frozenset(state.applied_trades), at=self._market())

    def _adopt_strangers(self) -> None:
        """Cancel open exchange orders carrying our strategy's ids that the machine does not track.

        They can only be leftovers (e.g. a cancel lost before a crash); left alone they would
        fill into a position nobody manages. Only ids with this database's deployment tag are
        ours: another deployment on the same account (a second service, a restored copy) may
        number its strategies like us, and its orders are never touched.
        """
        state = self._require_state()
        tracked = {o.client_order_id for o in state.orders}
        for remote in self._exchange.fetch_open_orders(self._symbol):
            coid = remote.client_order_id
            parsed = parse_client_order_id(coid)
            if (
                parsed is None
                or parsed[0] != self.strategy_id
                or client_order_id_tag(coid) != state.order_tag
                or coid in tracked
            ):
                continue
            self._host.guard()  # a replaced instance must not cancel its successor's orders
            self._host.report("orphan_canceled", remote.client_order_id)
            try:
                self._exchange.cancel_order(self._symbol, client_order_id=remote.client_order_id)
            except OrderNotFound:
                continue

    def _rejected_row(self, coid: str, c: PlaceOrder) -> Order:
        return Order(
            client_order_id=coid,
            symbol=c.symbol,
            side=c.side,
            type=c.order_type,
            amount=c.amount,
            price=c.price,
            state=OrderState.REJECTED,
        )

    # --- watching prices -------------------------------------------------------------------

    def watch(self) -> Watch:
        state = self._require_state()
        below = [o.price for o in state.orders if o.side is Side.BUY and o.price is not None]
        above = [o.price for o in state.orders if o.side is Side.SELL and o.price is not None]
        stop = stop_loss_price(state)
        if stop is not None:
            below.append(stop)
        return Watch(below=max(below) if below else None, above=min(above) if above else None)

    def _rewatch(self) -> None:
        if self.state is None:
            return
        w = self.watch()
        self._host.watch(w.below, w.above)

    def _require_state(self) -> MartingaleState:
        if self.state is None:
            raise RuntimeError(f"engine {self.strategy_id} used before start()")
        return self.state


__all__ = ["Engine", "FillsNotVisible", "Host", "Store", "TemporaryError", "Watch"]
