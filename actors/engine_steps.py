"""The engine's loop: decide, commit, act. Each item (an input, or what the exchange answered)
goes through the pure machine (`strategy.machine.decide`); the decisions of a round are staged
in one batch and committed with `save_step` before any of the round's commands reaches the
exchange (rule 3 of DESIGN.md: intent first), and the answers are the next round's items.

Kept apart from the engine's start path (`actors.engine`) and from its calls to the exchange
(`actors.engine_orders`, below it) because this is where the state the database holds and the
state in memory are kept in step: the batch, the commit, the cycle row, the version. A mixin of
`Engine`, which sets the attributes declared here in its constructor.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from actors.engine_orders import EngineOrders
from actors.engine_policy import notable, stored
from actors.engine_ports import Store
from actors.order_sync import Observed
from domain.commands import CancelOrder, Command, CycleClosed, PlaceOrder, StrategyFinished
from domain.events import Event
from domain.orders import Fill, Order
from persistence.records import CycleRecord, CycleStatus, OrderIntent
from strategy.accounting import closed_entry
from strategy.machine import decide
from strategy.queries import average_price
from strategy.state import MartingaleState, Role

# A decision with one of these is committed at once: a closed cycle's row is written as it
# closed, and nothing is decided after the end in the same commit.
_FLUSH_NOW = (CycleClosed, StrategyFinished)
# Commands that reach the exchange: the round's batch is committed before the first is sent,
# except a cancel sent early (`_early`).
_SENT = (PlaceOrder, CancelOrder)


def _early(command: Command, waiting: list[tuple[Command, MartingaleState]]) -> bool:
    """A cancel goes out as soon as it is decided, before the round's commit, unless an order
    the round placed waits for that commit (it might be the one canceled, and no cancel may
    overtake its create). Rule 3 is about creates: nothing is created without its intent
    committed, and a cancel creates nothing. A crash before the commit leaves the order's row
    open while the venue has it canceled; the next start reads that, as it reads any order
    that moved while the service was down. What this buys: after a buy fill the take-profit's
    cancel, its answer and the new take-profit's intent are one commit, so the new take-profit
    goes out one commit after the tick instead of two."""
    return isinstance(command, CancelOrder) and not any(
        isinstance(c, PlaceOrder) for c, _ in waiting
    )


@dataclass(slots=True)
class _Batch:
    """Decisions staged for one `save_step`."""

    intents: list[OrderIntent] = field(default_factory=list)
    order_updates: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    events: list[object] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    safety: list[str] = field(default_factory=list)  # legs of safety orders that began to fill

    def clear(self) -> None:
        for part in (self.intents, self.order_updates, self.fills, self.events, self.commands):
            part.clear()
        if self.safety:
            self.safety.clear()


class EngineSteps(EngineOrders):
    """The engine's loop (see the module docstring)."""

    version: int
    _store: Store
    _versions: random.Random
    _committed: MartingaleState | None  # the state the database holds
    _cycle_opened_at: datetime | None
    _safety_filled: int
    _closed_through: int  # cycles up to this number are closed: never reopen their row
    _cycle_written: CycleRecord | None  # the cycle row this engine last committed
    _snapshot: Callable[[MartingaleState], str]
    # Told, after a commit, of a closed cycle or of safety orders that began to fill (their
    # legs), when set: the engine actor's hook to the user's notifications (None: no hook).
    notice: Callable[[MartingaleState, CycleClosed | None, tuple[str, ...]], None] | None

    # --- the loop: decide, commit, act ---------------------------------------------------

    def handle(self, *items: Event | Observed) -> None:
        """Decide, commit, act, for `items` and everything the exchange answers, in order.

        In rounds: the items known are decided and staged one after another, the batch is
        committed, and only then are the round's commands sent (rule 3: intent first), each
        as of the decision that made it; the exchange's answers are the next round's items.
        A cancel is the exception: it goes out as soon as it is decided (`_early`), and its
        answer joins this round's items. A round ends at every commit: a closed cycle or a
        finished strategy is committed and acted on before anything more is decided, and a
        new cycle's first decision waits until the old cycle's commands are sent. So the
        decisions and the commands are those of deciding one item at a time (an answer
        queues behind every item already known); only commits are merged: the partial fill
        and the fill that completes an order, in one sync, cost one commit, not two, and a
        buy fill, the take-profit's cancel and the new take-profit's intent cost one. The
        single writer is the service's narrowest pipe, and each commit is a wait on the path
        from tick to order.
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
                if any(isinstance(c, _FLUSH_NOW) for c in commands):
                    sending.extend((command, new_state) for command in commands)
                    commit = True
                    break
                for command in commands:
                    if failure is None and _early(command, sending):
                        try:  # its answer is decided in this round, behind the items known
                            queue.extend(self._execute(command, new_state))
                        except Exception as exc:
                            failure = exc  # nothing more is sent; the batch is still recorded
                    else:
                        sending.append((command, new_state))
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
                batch.safety.append(working.leg)
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
        safety = tuple(batch.safety) if batch.safety else ()
        record = self._cycle_record(state, commands, now)
        # A row the database already holds as it is (the step only acknowledged an order, say)
        # is not written again: one UPDATE less on the single writer's path.
        cycle = None if record is not None and record == self._cycle_written else record
        try:
            result = self._store.save_step(
                self.strategy_id,
                snapshot=self._snapshot(state),
                expected_version=self.version,
                now=now,
                new_version=self._versions.randrange(1, 2**31),
                new_orders=batch.intents,
                order_updates=batch.order_updates,
                fills=batch.fills,
                cycle=cycle,
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
        if record is not None:
            self._cycle_written = record
        self._sends.committed(c.client_order_id for c in commands if isinstance(c, PlaceOrder))
        self._sends.keep(o.client_order_id for o in state.orders)
        closed = None
        for command in commands:
            if isinstance(command, CycleClosed):
                self._closed_through = max(self._closed_through, command.cycle)
                closed = command
        for kind, detail in notes:
            self._host.report(kind, detail, stored=True)
        if self.notice is not None and (closed is not None or safety):
            self.notice(state, closed, safety)

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
            # the next cycle (the state now holds only that carried remainder). A short's
            # entries are its sells: its amount is the base it sold, negative like its position.
            entry = closed_entry(closed, s.params.direction)
            return CycleRecord(
                number=closed.cycle,
                status=CycleStatus.CLOSED,
                opened_at=self._cycle_opened_at or now,
                amount=stored(entry[0]) or Decimal(0),
                cost=stored(closed.spent) or Decimal(0),
                base_price=stored(closed.base_price),
                average_price=stored(entry[1]),
                realized_profit=stored(closed.realized_profit),
                safety_orders_filled=self._safety_filled,
                closed_at=now,
                carried_amount=stored(closed.carried) or Decimal(0),
                carried_cost=stored(closed.carried_cost) or Decimal(0),
                received=stored(closed.received) or Decimal(0),
            )
        book = s.book
        return CycleRecord(
            number=s.cycle,
            status=CycleStatus.OPEN,
            opened_at=self._cycle_opened_at or now,
            amount=stored(book.position) or Decimal(0),
            cost=stored(book.spent) or Decimal(0),
            base_price=stored(s.base_price),
            average_price=stored(average_price(s)),
            realized_profit=None,
            safety_orders_filled=self._safety_filled,
            closed_at=None,
            received=stored(book.received) or Decimal(0),
        )
