"""Retention: journal events and audit rows older than an age are deleted, in small batches.

Only `events`, `audit_log` and `signals` are ever pruned (signals with the events' age: a
signal is useless minutes after it came, and a replay of a pruned one is refused as stale).
Cycles, orders and fills are the ledger (a strategy's position and profit are sums of them)
and are kept for good; status and summaries read them through indexes and grouped sums
(`sql_reads`, `sql_history`), never the journal.

This module holds what is the same whatever the database: the policy (ages), a pass over the
tables as a sequence of batches (`PruneRun`, so that its caller decides what runs between two
of them), and the port a batch goes through. `sql_retention.SqlPruner` is the SQL one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

DEFAULT_BATCH_ROWS = 2000
PRUNABLE = ("events", "audit_log", "signals")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    """How long each prunable table keeps its rows (None: for good), and how pruning runs.

    Built by the app from the config's `retention:` section and passed down as a value.
    """

    events_days: int | None = 90
    audit_days: int | None = 365
    batch_rows: int = DEFAULT_BATCH_ROWS
    interval_s: float = 3600.0  # between two passes of the service's pruning

    def __post_init__(self) -> None:
        for name in ("events_days", "audit_days"):
            days = getattr(self, name)
            if days is not None and days < 1:
                raise ValueError(f"{name} must be at least 1 (or None to keep rows for good)")
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per table, the time before which its rows go; tables kept for good are left out."""
        ages = {
            "events": self.events_days,
            "audit_log": self.audit_days,
            "signals": self.events_days,
        }
        return {table: now - timedelta(days=days) for table, days in ages.items() if days}


@dataclass(frozen=True, slots=True)
class PruneBatch:
    table: str
    deleted: int  # rows deleted by this batch's transaction
    next_id: int | None  # where the next window starts; None: this table is done
    held_s: float  # how long the delete's write transaction took (what the writer waited)


class BatchPruner(Protocol):
    def batch(self, table: str, cutoff: datetime, *, from_id: int | None) -> PruneBatch:
        """Delete the rows of `table` older than `cutoff` among the next window of ids from
        `from_id` (from the oldest row when None), in one transaction."""
        ...


@dataclass(slots=True)
class PruneRun:
    """One pass over the prunable tables, a batch per `step()`: the caller decides what runs
    between two batches (the service's writer serves the steps waiting; the CLI nothing)."""

    pruner: BatchPruner
    cutoffs: dict[str, datetime]
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    longest_s: float = 0.0  # the longest single delete transaction
    _next_id: int | None = None

    def __post_init__(self) -> None:
        self.cutoffs = dict(self.cutoffs)
        self.deleted = dict.fromkeys(self.cutoffs, 0)

    @property
    def done(self) -> bool:
        return not self.cutoffs

    def step(self) -> bool:
        """One batch of the current table; True while there is more to do."""
        if not self.cutoffs:
            return False
        table, cutoff = next(iter(self.cutoffs.items()))
        batch = self.pruner.batch(table, cutoff, from_id=self._next_id)
        self.batches += 1
        self.deleted[table] += batch.deleted
        self.longest_s = max(self.longest_s, batch.held_s)
        self._next_id = batch.next_id
        if batch.next_id is None:
            del self.cutoffs[table]
        return bool(self.cutoffs)
