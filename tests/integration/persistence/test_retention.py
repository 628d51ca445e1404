"""Retention on both databases: what the prune deletes, what it keeps, and how much at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, select
from sqlalchemy.engine import Engine

from persistence import models as m
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import AuditEntry, JournalEntry
from persistence.retention import PruneBatch, PruneRun, RetentionPolicy
from persistence.sql_repository import SqlRepository
from persistence.sql_retention import CLOCK_SKEW, SqlPruner
from tests.integration.persistence.helpers import TestEvent, fill_of, intent, onboard, open_cycle

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _events(repo: SqlRepository, sid: int, times: list[datetime]) -> None:
    repo.append_events(
        [
            JournalEntry(
                strategy_id=sid, event=TestEvent(name=f"e{i}", price=Decimal(i)), occurred_at=t
            )
            for i, t in enumerate(times)
        ]
    )


def _audits(repo: SqlRepository, uid: int, sid: int, times: list[datetime]) -> None:
    repo.append_audit(
        [
            AuditEntry(at=t, level="info", event="e", message=f"m{i}", user_id=uid, strategy_id=sid)
            for i, t in enumerate(times)
        ]
    )


def _times(engine: Engine, table: Any, column: Any) -> list[datetime]:
    with engine.connect() as conn:
        return sorted(t.replace(tzinfo=UTC) for t in conn.execute(select(column)).scalars())


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _ledger(repo: SqlRepository, sid: int) -> None:
    """A cycle with orders and fills, all far older than any cutoff: the ledger stays."""
    base = intent(sid, 1, "b")
    old = NOW - timedelta(days=400)
    repo.save_step(
        sid,
        snapshot="{}",
        expected_version=0,
        now=old,
        new_orders=[base, intent(sid, 1, "s1", price="95")],
        fills=[fill_of(base.order, "T1", "0.1")],
        cycle=open_cycle(1, opened_at=old),
        events=[TestEvent(name="opened", price=Decimal(100))],
    )


def _prune_all(pruner: SqlPruner, cutoffs: dict[str, datetime]) -> PruneRun:
    run = PruneRun(pruner, cutoffs)
    while run.step():
        pass
    return run


def test_prune_removes_exactly_the_rows_past_the_age_and_keeps_the_ledger(engine: Engine) -> None:
    repo = SqlRepository(engine)
    uid, _, sid = onboard(repo)
    _ledger(repo, sid)
    ages = [400, 90, 31, 30.01, 29.99, 10, 1, 0]
    times = [NOW - timedelta(days=d) for d in ages]
    # Written a little out of order (a log line committed after a newer step's events).
    times.insert(5, CUTOFF - timedelta(minutes=20))
    _events(repo, sid, times)
    _audits(repo, uid, sid, times)
    ledger = {t: _count(engine, t) for t in (m.CYCLES, m.ORDERS, m.FILLS)}

    policy = RetentionPolicy(events_days=30, audit_days=30, batch_rows=3)
    run = _prune_all(SqlPruner(engine, batch_rows=3), policy.cutoffs(NOW))

    kept = sorted(t for t in times if t >= CUTOFF)
    assert _times(engine, m.EVENTS, m.EVENTS.c.occurred_at) == kept
    assert _times(engine, m.AUDIT_LOG, m.AUDIT_LOG.c.at) == kept
    # The step's own event (400 days old) went too: 5 old rows of `times` plus it.
    assert run.deleted == {"events": 6, "audit_log": 5, "signals": 0}
    assert {t: _count(engine, t) for t in ledger} == ledger
    assert repo.list_fills(sid) and repo.list_cycles(sid)


def test_a_table_kept_for_good_is_not_touched(engine: Engine) -> None:
    repo = SqlRepository(engine)
    uid, _, sid = onboard(repo)
    old = [NOW - timedelta(days=500)] * 4
    _events(repo, sid, old)
    _audits(repo, uid, sid, old)
    policy = RetentionPolicy(events_days=30, audit_days=None)
    run = _prune_all(SqlPruner(engine), policy.cutoffs(NOW))
    assert run.deleted == {"events": 4, "signals": 0}
    assert _count(engine, m.EVENTS) == 0 and _count(engine, m.AUDIT_LOG) == 4


def test_signals_go_with_the_events_age_consumed_or_not(engine: Engine) -> None:
    repo = SqlRepository(engine)
    _, _, sid = onboard(repo)
    ages = [200, 31, 29, 0]
    for n, days in enumerate(ages):
        when = NOW - timedelta(days=days)
        repo.record_signal(sid, nonce=f"n{n}", signal_at=when, now=when)
    old = repo.unconsumed_signals([sid])[0]
    repo.consume_signal(old.id, NOW - timedelta(days=199))

    run = _prune_all(SqlPruner(engine), RetentionPolicy(events_days=30).cutoffs(NOW))

    assert run.deleted["signals"] == 2
    assert [s.nonce for s in repo.unconsumed_signals([sid])] == ["n2", "n3"]


def test_each_batch_deletes_at_most_batch_rows_in_its_own_transaction(engine: Engine) -> None:
    repo = SqlRepository(engine)
    uid, _, sid = onboard(repo)
    _audits(repo, uid, sid, [CUTOFF - timedelta(hours=50 - i) for i in range(50)])
    _audits(repo, uid, sid, [CUTOFF + timedelta(hours=i) for i in range(5)])
    deletes: list[int] = []  # rows of each DELETE
    per_commit: list[int] = []  # DELETEs in each committed transaction
    pending = [0]

    def on_execute(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(cursor.rowcount)
            pending[0] += 1

    def on_commit(_conn: Any) -> None:
        per_commit.append(pending[0])
        pending[0] = 0

    event.listen(engine, "after_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        run = _prune_all(SqlPruner(engine, batch_rows=7), {"audit_log": CUTOFF})
    finally:
        event.remove(engine, "after_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
    assert sum(deletes) == 50 == run.deleted["audit_log"]
    assert max(deletes) <= 7 and len(deletes) >= 50 // 7
    # One DELETE per transaction, each committed before the next batch.
    assert max(per_commit) == 1 and sum(per_commit) == len(deletes) and pending[0] == 0
    assert _count(engine, m.AUDIT_LOG) == 5


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    offsets=st.lists(st.integers(min_value=-2000, max_value=2000), min_size=0, max_size=60),
    jitter=st.lists(st.integers(min_value=0, max_value=59), min_size=60, max_size=60),
    batch=st.integers(min_value=1, max_value=9),
)
def test_any_order_within_the_skew_prunes_exactly_the_old_rows(
    engine: Engine, offsets: list[int], jitter: list[int], batch: int
) -> None:
    """Rows in id order whose times go back by less than `CLOCK_SKEW` (minutes around the
    cutoff, each a random bit earlier than the newest before it): the prune keeps exactly the
    rows at or after the cutoff."""
    with engine.begin() as conn:
        conn.execute(delete(m.AUDIT_LOG))
    times, newest = [], CUTOFF - timedelta(days=3)
    for offset, back in zip(sorted(offsets), jitter, strict=False):
        at = CUTOFF + timedelta(minutes=offset)
        newest = max(newest, at)
        times.append(max(at, newest - CLOCK_SKEW + timedelta(minutes=back + 1)))
    repo = SqlRepository(engine)
    if times:
        _audits(repo, None, None, times)  # type: ignore[arg-type]
    _prune_all(SqlPruner(engine, batch_rows=batch), {"audit_log": CUTOFF})
    assert _times(engine, m.AUDIT_LOG, m.AUDIT_LOG.c.at) == sorted(t for t in times if t >= CUTOFF)


def test_a_prune_beside_a_writer_loses_no_write(engine: Engine, db_url: str) -> None:
    """The CLI's case: a prune on its own connections while the service's writer (another
    engine, another thread) keeps appending; each side's transactions wait for the other's
    at most. Every row the writer wrote is there afterwards, every old row is gone."""
    repo = SqlRepository(engine)
    _, _, sid = onboard(repo)
    old = [CUTOFF - timedelta(days=1, seconds=i) for i in range(3000, 0, -1)]
    _events(repo, sid, old)
    writer_engine = make_engine(db_url)
    written = threading.Semaphore(0)
    done = threading.Event()
    errors: list[BaseException] = []
    rows = 0

    def write() -> None:
        nonlocal rows
        writer = SqlRepository(writer_engine)
        try:
            while not done.is_set() or rows < 200:
                _events(writer, sid, [NOW] * 10)
                rows += 10
                written.release()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
            written.release()

    class Interleaved(SqlPruner):
        def batch(self, table: str, cutoff: datetime, *, from_id: int | None) -> PruneBatch:
            assert written.acquire(timeout=30), "the writer stalled"
            return super().batch(table, cutoff, from_id=from_id)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        run = _prune_all(Interleaved(engine, batch_rows=100), {"events": CUTOFF})
    finally:
        done.set()
        thread.join(timeout=60)
        writer_engine.dispose()
    assert not errors and not thread.is_alive()
    assert run.deleted["events"] == 3000 and run.batches >= 30
    assert _times(engine, m.EVENTS, m.EVENTS.c.occurred_at) == [NOW] * rows
