"""The SQL prune of old events and audit rows (`persistence.retention`), a window at a time.

Why windows of primary keys: the single writer (the RepositoryActor) must never wait long, so
each transaction deletes at most `batch_rows` rows: the next `batch_rows` ids from where the
last window ended, those of them older than the cutoff. A window is a primary-key range on
both backends (SQLite's rowid, InnoDB's clustered index), so the delete touches only those rows,
and rows written meanwhile (ids past the window) are never in its way. The window is found by a
read first, so the write transaction holds the lock (SQLite) or the rows (MySQL) only for the
DELETE itself.

Why no index on the time columns: a row's time is the wall clock of the step or log line
that wrote it, and ids are handed out when it is committed, a moment later; so ids follow time
up to the writer's delay. The walk starts at the oldest id and stops at the first window
holding a row newer than the cutoff by more than `CLOCK_SKEW`: every later row is then newer
than the cutoff. Each delete still compares the time, so a row newer than the cutoff is never
deleted whatever the order; a row that was committed more than `CLOCK_SKEW` after it was
written (audit rows buffered through a long outage) is only kept until a later pass reaches it.
That saves an index on the busiest table (its space and a second B-tree write per event).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.engine import Engine

from persistence import models as m
from persistence.database import READONLY
from persistence.errors import translated
from persistence.retention import DEFAULT_BATCH_ROWS, PruneBatch

CLOCK_SKEW = timedelta(hours=1)
# table name -> (table, its time column)
_TABLES: dict[str, tuple[Any, Any]] = {
    "events": (m.EVENTS, m.EVENTS.c.occurred_at),
    "audit_log": (m.AUDIT_LOG, m.AUDIT_LOG.c.at),
    "signals": (m.SIGNALS, m.SIGNALS.c.received_at),
}


class SqlPruner:
    """Deletes old rows of one table, one window (one short transaction) per `batch` call."""

    def __init__(self, engine: Engine, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self._engine = engine
        self._read_engine = engine.execution_options(**{READONLY: True})
        self.batch_rows = batch_rows

    def batch(self, table: str, cutoff: datetime, *, from_id: int | None) -> PruneBatch:
        """Delete the rows older than `cutoff` among the next `batch_rows` ids from `from_id`
        (from the oldest row when None)."""
        rows, when = _TABLES[table]
        with translated(f"prune {table}"):
            with self._read_engine.begin() as conn:
                start = from_id if from_id is not None else conn.scalar(select(func.min(rows.c.id)))
                if start is None:
                    return PruneBatch(table, 0, None, 0.0)
                window = (
                    select(rows.c.id, when.label("at"))
                    .where(rows.c.id >= start)
                    .order_by(rows.c.id)
                    .limit(self.batch_rows)
                    .subquery()
                )
                count, last, newest = conn.execute(
                    select(func.count(), func.max(window.c.id), func.max(window.c.at))
                ).one()
            if not count:
                return PruneBatch(table, 0, None, 0.0)
            started = time.perf_counter()
            with self._engine.begin() as conn:
                deleted = conn.execute(
                    delete(rows).where(and_(rows.c.id >= start, rows.c.id <= last, when < cutoff))
                ).rowcount
            held = time.perf_counter() - started
        done = count < self.batch_rows or _as_utc(newest, cutoff) >= cutoff + CLOCK_SKEW
        return PruneBatch(table, int(deleted or 0), None if done else int(last) + 1, held)


def _as_utc(value: Any, like: datetime) -> datetime:
    """MAX() of a subquery's column comes back as the column type on MySQL and as text on
    SQLite; either way a UTC datetime comparable with `like`."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=like.tzinfo) if parsed.tzinfo is None else parsed
