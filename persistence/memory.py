"""An in-memory repository for fast tests: same contract as `SqlRepository`, no database.

Atomic like the real one: each operation works on the live dicts and, if anything raises,
puts back the copies taken at its start. Values are normalised the way the SQL side returns
them (Decimals without trailing zeros, UTC datetimes) so one contract suite runs on both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain import codec
from domain.errors import (
    DatabaseUnavailable,
    DuplicateOrder,
    IllegalTransition,
    MartingaleError,
    ValidationError,
)
from domain.events import StopMode
from domain.ids import parse_client_order_id
from domain.orders import Fill, Order
from persistence.errors import NotFound, VersionConflict
from persistence.memory_accounts import MemoryAccounts
from persistence.memory_auth import MemoryAuth
from persistence.memory_history import MemoryHistory
from persistence.memory_notify import MemoryNotifications
from persistence.memory_observe import MemoryObserve
from persistence.memory_runtime import MemoryRuntime
from persistence.memory_signals import MemorySignals
from persistence.memory_state import FillRow, OrderRow, money, opt_money, opt_utc, utc
from persistence.records import (
    ActualState,
    AuditEntry,
    AuditRecord,
    CycleRecord,
    CycleStatus,
    DesiredState,
    EventRecord,
    JournalEntry,
    OrderIntent,
    StateReport,
    StepOutcome,
    StepResult,
    StepWrite,
    StrategyRecord,
)
from persistence.sql_rows import dump_json


class MemoryRepository(
    MemoryHistory,
    MemoryRuntime,
    MemoryAuth,
    MemorySignals,
    MemoryNotifications,
    MemoryAccounts,
    MemoryObserve,
):
    """Writes: onboarding from `MemoryAccounts`, users' roles, passwords and tokens from
    `MemoryAuth`, strategies and trading here; reads from `MemoryReads` (what a running
    service polls from `MemoryRuntime`, the /metrics counts from `MemoryObserve`); the history
    pages and the soft delete from `MemoryHistory`."""

    # --- strategies -------------------------------------------------------------------------
    def upsert_strategy(
        self,
        user_id: int,
        name: str,
        *,
        account_id: int,
        symbol: str,
        params: Mapping[str, Any],
        desired_state: DesiredState,
        now: datetime,
        config_state: str | None = None,
    ) -> StrategyRecord:
        with self._tx() as s:
            if self.get_account(account_id).user_id != user_id:
                raise NotFound(f"account {account_id} does not belong to user {user_id}")
            found = next(
                (x for x in s.strategies.values() if x.user_id == user_id and x.name == name), None
            )
            if found is not None and (found.account_id != account_id or found.symbol != symbol):
                raise ValidationError(
                    f"strategy {name!r} already trades {found.symbol} on account "
                    f"{found.account_id}; its orders and cycles belong there, so use a new "
                    "strategy name",
                    field="symbol" if found.symbol != symbol else "account",
                )
            record = found or StrategyRecord(
                id=self._id(),
                user_id=user_id,
                account_id=account_id,
                name=name,
                symbol=symbol,
                params={},
                desired_state=desired_state,
                actual_state=ActualState.STOPPED,
                restart_count=0,
                version=0,
                created_at=utc(now),
                updated_at=utc(now),
            )
            wanted = (json.loads(dump_json(params)), desired_state, config_state)
            if found is None or (found.params, found.desired_state, found.config_state) != wanted:
                record = replace(
                    record,
                    params=wanted[0],
                    desired_state=desired_state,
                    config_state=config_state,
                    updated_at=utc(now),
                )
            s.strategies[record.id] = record
            s.snapshots.setdefault(record.id, None)
            return record

    def _update_strategy(self, strategy_id: int, **changes: Any) -> StrategyRecord:
        with self._tx() as s:
            record = replace(self.get_strategy(strategy_id), **changes)
            s.strategies[strategy_id] = record
            return record

    def set_desired_state(
        self,
        strategy_id: int,
        state: DesiredState,
        *,
        now: datetime,
        stop_mode: StopMode | None = None,
    ) -> None:
        mode = stop_mode if state is DesiredState.STOPPED else None
        with self._tx():
            seq = self.get_strategy(strategy_id).command_seq + 1
            self._update_strategy(
                strategy_id,
                desired_state=state,
                stop_mode=mode,
                updated_at=utc(now),
                command_seq=seq,
            )

    def set_actual_state(
        self,
        strategy_id: int,
        state: ActualState,
        *,
        now: datetime,
        last_error: str | None = None,
    ) -> None:
        self._update_strategy(
            strategy_id, actual_state=state, last_error=last_error, updated_at=utc(now)
        )

    def set_actual_states(self, states: Mapping[int, StateReport]) -> set[int]:
        with self.transaction():  # no leases here: every state is this process's
            for sid, (state, now, error) in states.items():
                if sid in self._s.strategies:  # one deleted meanwhile holds up no other
                    self.set_actual_state(sid, state, now=now, last_error=error)
        return set()

    def increment_restart_count(self, strategy_id: int, *, now: datetime) -> int:
        count = self.get_strategy(strategy_id).restart_count + 1
        self._update_strategy(strategy_id, restart_count=count, updated_at=utc(now))
        return count

    def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
        with self._tx() as s:
            for sid, beat in beats.items():
                if sid in s.strategies:
                    s.strategies[sid] = replace(s.strategies[sid], last_heartbeat=utc(beat))

    # --- trading ----------------------------------------------------------------------------
    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int | None = None,
        new_orders: Sequence[OrderIntent] = (),
        order_updates: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        cycle: CycleRecord | None = None,
        events: Sequence[object] = (),
        audits: Sequence[AuditEntry] = (),
    ) -> StepResult:
        version = expected_version + 1 if new_version is None else new_version
        with self._tx() as s:
            strategy = self.get_strategy(strategy_id)
            if strategy.version != expected_version:
                raise VersionConflict(
                    f"strategy {strategy_id} is not at version {expected_version}: another "
                    "writer saved it; reload before acting"
                )
            s.strategies[strategy_id] = replace(strategy, version=version, updated_at=utc(now))
            s.snapshots[strategy_id] = snapshot
            for intent in new_orders:
                self.record_order_intent(strategy_id, intent, now=now)
            for order in order_updates:
                self.update_order(strategy_id, order, now=now)
            if cycle is not None:
                self.upsert_cycle(strategy_id, cycle)
            new_ids = [f.trade_id for f in fills if self.apply_fill(strategy_id, f, now=now)]
            self.append_events(
                [JournalEntry(strategy_id=strategy_id, event=e, occurred_at=now) for e in events]
            )
            self.append_audit(audits)
            return StepResult(version=version, new_trade_ids=tuple(new_ids))

    def save_steps(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        """Each step as `save_step`, all under one lock: a refused step keeps its error."""
        out: list[StepOutcome] = []
        with self._tx():  # DatabaseUnavailable (a fake's outage) undoes the whole batch
            for step in steps:
                try:
                    out.append(self.save_step(step.strategy_id, **step.save_step_kwargs()))
                except DatabaseUnavailable:
                    raise
                except (MartingaleError, ValueError, TypeError) as exc:
                    out.append(exc)  # save_step's own transaction undid the step
        return out

    def record_order_intent(self, strategy_id: int, intent: OrderIntent, *, now: datetime) -> Order:
        with self._tx() as s:
            strategy = self.get_strategy(strategy_id)
            o = intent.order
            key = (strategy.account_id, o.client_order_id)
            if key in s.orders:
                raise DuplicateOrder(
                    f"client order id {o.client_order_id} is already recorded on account "
                    f"{strategy.account_id}"
                )
            name = f"order {o.client_order_id}"
            stored = replace(
                o,
                amount=money(o.amount, f"{name} amount"),
                price=opt_money(o.price, f"{name} price"),
                filled=money(o.filled, f"{name} filled"),
                cost=money(o.cost, f"{name} cost"),
                created_at=utc(o.created_at or now),
                updated_at=utc(now),
            )
            s.orders[key] = OrderRow(
                strategy_id=strategy_id,
                cycle=intent.cycle,
                leg=intent.leg,
                order=stored,
                id=self._id(),
            )
            return stored

    def update_order(self, strategy_id: int, order: Order, *, now: datetime) -> Order:
        with self._tx() as s:
            strategy = self.get_strategy(strategy_id)
            row = s.orders.get((strategy.account_id, order.client_order_id))
            if row is None or row.strategy_id != strategy_id:
                raise NotFound(
                    f"order {order.client_order_id} of strategy {strategy_id} does not exist"
                )
            current = row.order
            if order.state != current.state and not current.state.can_become(order.state):
                raise IllegalTransition(
                    f"order {order.client_order_id}: {current.state.value} -> "
                    f"{order.state.value} is not allowed"
                )
            if order.filled < current.filled:
                raise IllegalTransition(
                    f"order {order.client_order_id}: filled cannot go down "
                    f"({current.filled} -> {order.filled})"
                )
            name = f"order {order.client_order_id}"
            row.order = replace(
                current,
                state=order.state,
                filled=money(order.filled, f"{name} filled"),
                cost=money(order.cost, f"{name} cost"),
                exchange_order_id=order.exchange_order_id or current.exchange_order_id,
                updated_at=utc(now),
            )
            return row.order

    def apply_fill(self, strategy_id: int, fill: Fill, *, now: datetime) -> bool:
        with self._tx() as s:
            strategy = self.get_strategy(strategy_id)
            key = (strategy.account_id, fill.symbol, fill.trade_id)
            if key in s.fills:
                return False
            order = s.orders.get((strategy.account_id, fill.client_order_id))
            parsed = parse_client_order_id(fill.client_order_id)
            cycle = order.cycle if order is not None else (parsed[1] if parsed else None)
            stored = replace(
                fill,
                price=money(fill.price, "fill.price"),
                amount=money(fill.amount, "fill.amount"),
                fee=money(fill.fee, "fill.fee"),
                timestamp=opt_utc(fill.timestamp),
                extra={},
            )
            s.fills[key] = FillRow(
                strategy_id=strategy_id,
                cycle=cycle,
                fill=stored,
                id=self._id(),
                recorded_at=utc(now),
            )
            return True

    def upsert_cycle(self, strategy_id: int, cycle: CycleRecord) -> CycleRecord:
        with self._tx() as s:
            self.get_strategy(strategy_id)
            stored = replace(
                cycle,
                amount=money(cycle.amount, "cycle.amount"),
                cost=money(cycle.cost, "cycle.cost"),
                base_price=opt_money(cycle.base_price, "cycle.base_price"),
                average_price=opt_money(cycle.average_price, "cycle.average_price"),
                realized_profit=opt_money(cycle.realized_profit, "cycle.realized_profit"),
                carried_amount=money(cycle.carried_amount, "cycle.carried_amount"),
                carried_cost=money(cycle.carried_cost, "cycle.carried_cost"),
                received=money(cycle.received, "cycle.received"),
                opened_at=utc(cycle.opened_at),
                closed_at=opt_utc(cycle.closed_at),
            )
            s.cycles[(strategy_id, cycle.number)] = stored
            return stored

    def close_cycle(
        self,
        strategy_id: int,
        number: int,
        *,
        realized_profit: Decimal,
        now: datetime,
        status: CycleStatus = CycleStatus.CLOSED,
    ) -> CycleRecord:
        cycle = self._s.cycles.get((strategy_id, number))
        if cycle is None:
            raise NotFound(f"cycle {number} of strategy {strategy_id} does not exist")
        closed = replace(cycle, status=status, realized_profit=realized_profit, closed_at=now)
        return self.upsert_cycle(strategy_id, closed)

    def append_events(self, entries: Sequence[JournalEntry]) -> int:
        with self._tx() as s:
            for entry in entries:
                self.get_strategy(entry.strategy_id)
                s.events.append(
                    EventRecord(
                        id=self._id(),
                        strategy_id=entry.strategy_id,
                        type=type(entry.event).__name__,
                        payload=codec.dumps(entry.event),
                        occurred_at=utc(entry.occurred_at),
                    )
                )
            return len(entries)

    def append_audit(self, entries: Sequence[AuditEntry]) -> int:
        with self._tx() as s:
            for entry in entries:
                data = json.loads(dump_json(entry.data))
                stored = replace(entry, at=utc(entry.at), data=data)
                s.audit.append(AuditRecord(id=self._id(), entry=stored))
            return len(entries)
