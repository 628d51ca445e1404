"""The SQLAlchemy repository: every public method is one transaction on SQLite or MySQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.errors import DatabaseUnavailable, LeaseLost, ValidationError
from domain.events import StopMode
from domain.orders import Fill, Order
from persistence import models as m
from persistence import sql_rows, sql_steps
from persistence import sql_trading as trading
from persistence.errors import NotFound
from persistence.leases import refused_users
from persistence.records import (
    ActualState,
    AuditEntry,
    CycleRecord,
    CycleStatus,
    DesiredState,
    JournalEntry,
    OrderIntent,
    StateReport,
    StepOutcome,
    StepResult,
    StepWrite,
    StrategyRecord,
)
from persistence.sql_accounts import SqlAccounts
from persistence.sql_auth import SqlAuth
from persistence.sql_base import get_row, strategies_query
from persistence.sql_bulk import update_rows
from persistence.sql_history import SqlHistory
from persistence.sql_notify import SqlNotifications
from persistence.sql_observe import SqlObserve
from persistence.sql_reads import strategy_row
from persistence.sql_runtime import SqlRuntime
from persistence.sql_signals import SqlSignals


class SqlRepository(
    SqlHistory, SqlRuntime, SqlAuth, SqlSignals, SqlNotifications, SqlAccounts, SqlObserve
):
    """Writes: onboarding in `SqlAccounts`, users' roles, passwords and tokens in `SqlAuth`,
    strategies and trading here; reads in `SqlReads` (what a running service polls in
    `SqlRuntime`, the /metrics counts in `SqlObserve`); the history pages and the soft delete
    in `SqlHistory`."""

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
        with self._write("upsert strategy") as s:
            account = get_row(s, m.Account, account_id, "account")
            if account.user_id != user_id:
                raise NotFound(f"account {account_id} does not belong to user {user_id}")
            row = s.scalar(
                select(m.Strategy).where(m.Strategy.user_id == user_id, m.Strategy.name == name)
            )
            if row is None:
                row = m.Strategy(
                    user_id=user_id,
                    account_id=account_id,
                    name=name,
                    symbol=symbol,
                    actual_state=ActualState.STOPPED.value,
                    restart_count=0,
                    version=0,
                    created_at=now,
                )
                s.add(row)
            elif row.account_id != account_id or row.symbol != symbol:
                raise ValidationError(
                    f"strategy {name!r} already trades {row.symbol} on account {row.account_id}; "
                    "its orders and cycles belong there, so use a new strategy name",
                    field="symbol" if row.symbol != symbol else "account",
                )
            wanted = (sql_rows.dump_json(params), desired_state.value, config_state)
            if (row.params, row.desired_state, row.config_state) != wanted:
                # Only a real change touches the row: `updated_at` is what the supervisor's
                # poll of desired states watches.
                row.params, row.desired_state, row.config_state = wanted
                row.updated_at = now
            s.flush()
            return sql_rows.strategy(row)

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        with self._read("get strategy") as s:
            return sql_rows.strategy(strategy_row(s.connection(), strategy_id))

    def list_strategies(self, *, user_id: int | None = None) -> list[StrategyRecord]:
        with self._rows("list strategies") as conn:
            return [sql_rows.strategy(r) for r in conn.execute(*strategies_query(user_id))]

    def set_desired_state(
        self,
        strategy_id: int,
        state: DesiredState,
        *,
        now: datetime,
        stop_mode: StopMode | None = None,
    ) -> None:
        mode = stop_mode.value if stop_mode and state is DesiredState.STOPPED else None
        with self._write("set desired state") as s:
            _update_strategy(
                s,
                strategy_id,
                desired_state=state.value,
                stop_mode=mode,
                updated_at=now,
                command_seq=m.STRATEGIES.c.command_seq + 1,
            )

    def set_actual_state(
        self,
        strategy_id: int,
        state: ActualState,
        *,
        now: datetime,
        last_error: str | None = None,
    ) -> None:
        with self._write("set actual state") as s:
            self._fenced(s, [strategy_id])
            _update_strategy(
                s, strategy_id, actual_state=state.value, last_error=last_error, updated_at=now
            )

    def set_actual_states(self, states: Mapping[int, StateReport]) -> set[int]:
        with self._write("set actual states") as s:
            fenced = (
                refused_users(s.connection(), self.fence, states)
                if self.fence is not None
                else set()
            )
            # One multi-row UPDATE per chunk, not one per strategy (a boot reports thousands).
            # A strategy deleted meanwhile matches no row and holds up none of the others.
            rows = [
                (
                    (sid,),
                    {"actual_state": state.value, "last_error": error, "updated_at": now},
                    None,
                )
                for sid, (state, now, error) in states.items()
                if sid not in fenced  # another process's now: what it says is its own
            ]
            update_rows(s.connection(), m.STRATEGIES, rows)
        return fenced

    def increment_restart_count(self, strategy_id: int, *, now: datetime) -> int:
        table = m.STRATEGIES
        with self._write("increment restart count") as s:
            self._fenced(s, [strategy_id])
            _update_strategy(
                s, strategy_id, restart_count=table.c.restart_count + 1, updated_at=now
            )
            count = s.connection().execute(
                select(table.c.restart_count).where(table.c.id == strategy_id)
            )
            return int(count.scalar_one())

    def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
        if not beats:
            return
        # Beats usually share a timestamp (a supervisor stamps a whole check with one time):
        # one UPDATE ... WHERE id IN (...) per timestamp, not one statement per strategy.
        table = m.STRATEGIES
        with self._write("record heartbeats") as s:
            conn = s.connection()
            fenced = refused_users(conn, self.fence, beats) if self.fence is not None else ()
            by_time: dict[datetime, list[int]] = {}
            for sid, beat in beats.items():
                if sid not in fenced:  # another process's now: its beats are its own
                    by_time.setdefault(beat, []).append(sid)
            for beat, sids in by_time.items():
                for start in range(0, len(sids), 500):
                    conn.execute(
                        update(table)
                        .where(table.c.id.in_(sids[start : start + 500]))
                        .values(last_heartbeat=beat)
                    )

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
        step = StepWrite.build(
            strategy_id,
            snapshot=snapshot,
            expected_version=expected_version,
            new_version=new_version,
            now=now,
            new_orders=new_orders,
            order_updates=order_updates,
            fills=fills,
            cycle=cycle,
            events=events,
            audits=audits,
        )
        [outcome] = self._save_group([step])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def save_steps(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        """One transaction for the group (`sql_steps.write_steps`).

        Safety net: if the group's write fails for any reason but an outage (it should not:
        every rule is checked before the first write), it is rolled back and each step is
        written again in a transaction of its own, so one bad step cannot fail its
        neighbours. Not inside `transaction()`: there the caller's transaction is the unit.
        """
        if not steps:
            return []
        try:
            return self._save_group(steps)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if getattr(self._unit, "session", None) is not None:
                raise  # it may have written part of the group into the caller's transaction
            if len(steps) == 1:
                return [exc]
        self.group_fallbacks += 1
        out: list[StepOutcome] = []
        for step in steps:
            try:
                out.extend(self._save_group([step]))
            except Exception as exc:  # committed neighbours must still hear their result
                out.append(exc)
        return out

    def _save_group(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        # The account cache spares reading the strategies first; not inside `transaction()`,
        # where a strategy created earlier may yet roll back (and a retry cannot).
        accounts = None if getattr(self._unit, "session", None) is not None else self._accounts
        try:
            with self._write("save steps") as s:
                return sql_steps.write_steps(
                    s.connection(), steps, accounts=accounts, fence=self.fence
                )
        except sql_steps.StaleVersion:  # rolled back: check every step against the stored rows
            with self._write("save steps") as s:
                return sql_steps.write_steps(s.connection(), steps, fence=self.fence)

    def _fenced(self, session: Session, strategy_ids: Sequence[int]) -> None:
        """Raise LeaseLost if this process no longer holds the lease of these strategies'
        user (several processes on one database); the lease rows stay share-locked to the
        commit."""
        if self.fence is not None and refused_users(session.connection(), self.fence, strategy_ids):
            raise LeaseLost(f"strategies {list(strategy_ids)}: {sql_steps.LEASE_LOST}")

    def record_order_intent(self, strategy_id: int, intent: OrderIntent, *, now: datetime) -> Order:
        with self._write("record order intent") as s:
            conn = s.connection()
            account_id = self._account_id(conn, strategy_id)
            trading.write_orders(conn, strategy_id, account_id, intents=[intent], now=now)
            return trading.order_of(conn, account_id, intent.order.client_order_id)

    def update_order(self, strategy_id: int, order: Order, *, now: datetime) -> Order:
        with self._write("update order") as s:
            conn = s.connection()
            account_id = self._account_id(conn, strategy_id)
            trading.write_orders(conn, strategy_id, account_id, updates=[order], now=now)
            return trading.order_of(conn, account_id, order.client_order_id)

    def apply_fill(self, strategy_id: int, fill: Fill, *, now: datetime) -> bool:
        with self._write("apply fill") as s:
            conn = s.connection()
            account_id = self._account_id(conn, strategy_id)
            return bool(trading.insert_fills(conn, strategy_id, account_id, [fill], now=now))

    def upsert_cycle(self, strategy_id: int, cycle: CycleRecord) -> CycleRecord:
        with self._write("upsert cycle") as s:
            conn = s.connection()
            self._account_id(conn, strategy_id)  # NotFound for a missing strategy
            trading.upsert_cycle(conn, strategy_id, cycle)
            return sql_rows.cycle(trading.cycle_row(conn, strategy_id, cycle.number))

    def close_cycle(
        self,
        strategy_id: int,
        number: int,
        *,
        realized_profit: Decimal,
        now: datetime,
        status: CycleStatus = CycleStatus.CLOSED,
    ) -> CycleRecord:
        with self._write("close cycle") as s:
            conn = s.connection()
            row = trading.cycle_row(conn, strategy_id, number)
            if row is None:
                raise NotFound(f"cycle {number} of strategy {strategy_id} does not exist")
            closed = dataclasses.replace(
                sql_rows.cycle(row), status=status, realized_profit=realized_profit, closed_at=now
            )
            trading.upsert_cycle(conn, strategy_id, closed)
            return sql_rows.cycle(trading.cycle_row(conn, strategy_id, number))

    def append_events(self, entries: Sequence[JournalEntry]) -> int:
        if not entries:
            return 0
        with self._write("append events") as s:
            return trading.insert_events(s.connection(), entries)

    def append_audit(self, entries: Sequence[AuditEntry]) -> int:
        if not entries:
            return 0
        with self._write("append audit") as s:
            return trading.insert_audit(s.connection(), entries)


def _update_strategy(session: Session, strategy_id: int, **values: Any) -> None:
    """One UPDATE of a strategy's columns; NotFound when there is no such strategy."""
    table = m.STRATEGIES
    result = session.connection().execute(
        update(table).where(table.c.id == strategy_id).values(**values)
    )
    if result.rowcount == 0:
        raise NotFound(f"strategy {strategy_id} does not exist")
