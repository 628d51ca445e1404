"""SQL repository, history side: the REST API's pages of a strategy's orders, fills, events,
audit rows and cycles, a user's profit per symbol and day, and the soft delete that
hides a strategy from users while keeping that history.

Pages are keyset reads, newest first: `WHERE strategy_id = ? AND id < ? ORDER BY id DESC
LIMIT ?` (never OFFSET, whose cost grows with the page number). Events and cycles have the
index that serves this exactly. Orders and fills are found by their (strategy_id, state|cycle)
index and then sorted, and audit rows by (user_id, at) and then filtered and sorted: a page of
those costs in proportion to the strategy's (the user's) rows. Indexes (strategy_id, id) on
orders, fills and audit_log (a migration) would make every page a plain index range read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, func, select, update

from domain.errors import ValidationError
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound
from persistence.records import (
    ActualState,
    AuditRecord,
    CycleRecord,
    CycleStatus,
    DesiredState,
    EventRecord,
)
from persistence.records_history import (
    STOPPED_STATES,
    DailyProfit,
    FillRecord,
    OrderRecord,
    deleted_name,
    deletion_refused,
)
from persistence.sql_base import SqlBase
from persistence.sql_reads import strategy_row
from persistence.sql_sums import exact_sum

ORDERS, FILLS, CYCLES, STRATEGIES, USERS = m.ORDERS, m.FILLS, m.CYCLES, m.STRATEGIES, m.USERS
EVENTS, AUDIT_LOG = m.EVENTS, m.AUDIT_LOG


def _newest(table: Table, strategy_id: int, before_id: int | None, limit: int) -> Any:
    query = select(table).where(table.c.strategy_id == strategy_id)
    if before_id is not None:
        query = query.where(table.c.id < before_id)
    return query.order_by(table.c.id.desc()).limit(limit)


class SqlHistory(SqlBase):
    # --- history (REST API read models) ---------------------------------------------------
    def page_orders(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[OrderRecord]:
        """Index (strategy_id, state): the strategy's orders, then sorted by id."""
        with self._read("page orders") as s:
            rows = s.connection().execute(_newest(ORDERS, strategy_id, before_id, limit))
            return [_order(row) for row in rows]

    def page_fills(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[FillRecord]:
        """Index (strategy_id, cycle): the strategy's fills, then sorted by id."""
        with self._read("page fills") as s:
            rows = s.connection().execute(_newest(FILLS, strategy_id, before_id, limit))
            return [
                FillRecord(id=row.id, fill=sql_rows.fill(row), created_at=row.recorded_at)
                for row in rows
            ]

    def page_events(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[EventRecord]:
        """Index (strategy_id, id): read in order, no sort."""
        with self._read("page events") as s:
            query = _newest(EVENTS, strategy_id, before_id, limit)
            return [sql_rows.event(row) for row in s.connection().execute(query)]

    def page_audit(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """Audit rows of the strategy (written with its owner's user_id, as the engine does).

        audit_log has no strategy index: the owner's id narrows the read to that user's rows
        through index (user_id, at), which are then filtered and sorted by id.
        """
        owner = select(STRATEGIES.c.user_id).where(STRATEGIES.c.id == strategy_id)
        query = _newest(AUDIT_LOG, strategy_id, before_id, limit).where(
            AUDIT_LOG.c.user_id == owner.scalar_subquery()
        )
        with self._read("page audit") as s:
            return [sql_rows.audit(row) for row in s.connection().execute(query)]

    def page_cycles(
        self, strategy_id: int, *, before_number: int | None, limit: int
    ) -> list[CycleRecord]:
        """Unique index (strategy_id, number): read in order, no sort."""
        query = select(CYCLES).where(CYCLES.c.strategy_id == strategy_id)
        if before_number is not None:
            query = query.where(CYCLES.c.number < before_number)
        query = query.order_by(CYCLES.c.number.desc()).limit(limit)
        with self._read("page cycles") as s:
            return [sql_rows.cycle(row) for row in s.connection().execute(query)]

    def profit_by_day(self, user_id: int, *, since: datetime | None = None) -> list[DailyProfit]:
        """One grouped query: the user's strategies (index user_id; deleted ones included),
        their cycles by the unique (strategy_id, number), summed by `sql_sums.exact_sum`.
        closed_at is stored in UTC, so DATE() of it is the UTC day on both backends."""
        day = func.date(CYCLES.c.closed_at)
        query = (
            select(STRATEGIES.c.symbol, day, exact_sum(CYCLES.c.realized_profit), func.count())
            .join(STRATEGIES, STRATEGIES.c.id == CYCLES.c.strategy_id)
            .where(
                STRATEGIES.c.user_id == user_id,
                CYCLES.c.status == CycleStatus.CLOSED.value,
                CYCLES.c.realized_profit.is_not(None),
                CYCLES.c.closed_at.is_not(None),
            )
            .group_by(STRATEGIES.c.symbol, day)
            .order_by(STRATEGIES.c.symbol, day)
        )
        if since is not None:
            query = query.where(CYCLES.c.closed_at >= since)
        with self._read("profit by day") as s:
            return [
                DailyProfit(
                    symbol=symbol,
                    day=on if isinstance(on, date) else date.fromisoformat(on),
                    realized_profit=total,
                    cycles_closed=int(count),
                )
                for symbol, on, total, count in s.connection().execute(query)
            ]

    def delete_strategy(self, strategy_id: int, *, now: datetime) -> None:
        """Soft delete of a stopped strategy; the guard is in the UPDATE itself, so a resume
        committed meanwhile by another writer makes it refuse rather than hide a live one."""
        with self._write("delete strategy") as s:
            conn = s.connection()
            row = strategy_row(conn, strategy_id)
            if row.deleted_at is not None:
                raise NotFound(f"strategy {strategy_id} does not exist")
            desired, actual = DesiredState(row.desired_state), ActualState(row.actual_state)
            reason = deletion_refused(row.name, desired, actual)
            if reason is None:
                result = conn.execute(
                    update(STRATEGIES)
                    .where(
                        STRATEGIES.c.id == strategy_id,
                        STRATEGIES.c.deleted_at.is_(None),
                        STRATEGIES.c.desired_state == DesiredState.STOPPED.value,
                        STRATEGIES.c.actual_state.in_([x.value for x in STOPPED_STATES]),
                    )
                    .values(
                        deleted_at=now, name=deleted_name(row.name, strategy_id), updated_at=now
                    )
                )
                if result.rowcount == 1:
                    return
                reason = f"strategy {row.name!r} changed while being deleted; look and retry"
            raise ValidationError(reason, field="state")


def _order(row: Any) -> OrderRecord:
    order = sql_rows.order(row)
    return OrderRecord(
        id=row.id,
        cycle=row.cycle,
        leg=row.leg,
        order=order,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
