"""Retention on a database with 6 months of history for 1,000 strategies (about 30 million
events at --scale 1): status latency and database size before and after the prune, the prune's
rate and its longest transaction, and what a writer appending beside it waited.

Steps: the strategies alone, status timed (the baseline); then the history (retention_fill.py:
events, audit rows, closed cycles with orders and fills), status timed again; then a prune of
events and audit rows older than --events-days / --audit-days (a pass of the service's
`PruneRun`, `SqlPruner`) while a writer thread appends 10 events per transaction, as the
service's writer does; then status timed a third time.

Status reads: `martingale status` (every strategy: services.status.collect_status), the API's
status of one user (history.status_of), its profit summary (history.profit_summary), its newest
events page (history.events) and the metrics' count by state. p50 / p99 of --calls calls each,
and the ratio of the full database's p50 to the empty one's (1.0: history costs nothing).

Sizes: SQLite, the file and the pages in use (a prune frees pages inside the file for new rows;
only VACUUM gives them back to the file system); MySQL, data + index of each table after
ANALYZE TABLE.

    .venv/bin/python bench/bench_retention.py [--scale 1] [--strategies 1000] [--days 182]
        [--events-days 30] [--audit-days 30] [--batch-rows 2000] [--calls 30]
        [--mysql mysql+pymysql://root@127.0.0.1:3306/test] [--keep FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import retention_fill as fill
from bench.scratch_mysql import scratch_database
from domain.events import PriceTicked
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import JournalEntry
from persistence.retention import PruneRun, RetentionPolicy
from persistence.sql_repository import SqlRepository
from persistence.sql_retention import SqlPruner
from services import history
from services.status import collect_status

TABLES = ("events", "audit_log", "cycles", "orders", "fills")


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    call()  # warm the statement cache
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def status_reads(repo: SqlRepository, now: datetime) -> dict[str, Callable[[], object]]:
    uid, sid = 1, 1
    return {
        "status (all)": lambda: collect_status(repo, now=now),
        "status_of user": lambda: history.status_of(repo, uid, now=now),
        "profit_summary": lambda: history.profit_summary(repo, uid),
        "events page": lambda: history.events(repo, uid, sid),
        "count by state": repo.count_strategies_by_state,
    }


def time_status(repo: SqlRepository, now: datetime, calls: int) -> dict[str, tuple[float, float]]:
    return {name: timed(call, calls) for name, call in status_reads(repo, now).items()}


def sizes(engine: Engine, url: str) -> dict[str, int]:
    """Bytes per table (MySQL) or of the file and in use (SQLite)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            page = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            path = Path(url.removeprefix("sqlite:///"))
            return {"file": path.stat().st_size, "in use": (pages - free) * page}
        for table in TABLES:
            conn.exec_driver_sql(f"ANALYZE TABLE {table}").all()
        rows = conn.execute(
            text(
                "SELECT table_name, data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE()"
            )
        ).all()
    found = {str(name): int(size) for name, size in rows}
    return {**{t: found.get(t, 0) for t in TABLES}, "all tables": sum(found.values())}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one()) for t in TABLES
        }


class Writer(threading.Thread):
    """Appends 10 events per transaction, as the service's writer does, and records how long
    each append took (the wait for the prune's transaction included)."""

    def __init__(self, url: str, now: datetime) -> None:
        super().__init__(daemon=True)
        self._engine = make_engine(url)
        self._now = now
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        repo = SqlRepository(self._engine)
        event = PriceTicked(at=self._now, price=Decimal(1))  # what engines journal most
        rows = [JournalEntry(strategy_id=1, event=event, occurred_at=self._now)] * 10
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                repo.append_events(rows)
                self.latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)
        finally:
            self._engine.dispose()


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def _report_status(label: str, figures: dict[str, tuple[float, float]], base: Any) -> None:
    print(f"  status reads, {label}:")
    for name, (p50, p99) in figures.items():
        ratio = f"  x{p50 / base[name][0]:.2f} of empty" if base is not None else ""
        print(f"    {name:<15} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms{ratio}")


def run(label: str, url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = make_engine(url)
    events = round(30_000 * args.scale * 1000 / args.strategies)
    shape = fill.Shape(
        strategies=args.strategies,
        days=args.days,
        events=max(10, round(events * args.days / 182)),
        cycles_per_day=max(1, round(2 * min(1.0, args.scale * 10))),
    )
    now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=args.days)
    start = now - timedelta(days=args.days)
    repo = SqlRepository(engine)
    try:
        started = time.perf_counter()
        fill.fleet(engine, shape, start)
        empty = time_status(repo, now, args.calls)
        fill.ledger(engine, shape, start)
        fill.journal(engine, shape, start)
        loaded = time.perf_counter() - started
        rows = counts(engine)
        print(
            f"{label}: {shape.strategies} strategies, {shape.days} days; loaded in {loaded:.0f} s: "
            + ", ".join(f"{t} {n:,}" for t, n in rows.items())
        )
        _report_status("strategies only (no history)", empty, None)
        before = time_status(repo, now, args.calls)
        _report_status("full history", before, empty)
        size_before = sizes(engine, url)
        print("  size before prune: " + ", ".join(f"{k} {_mb(v)}" for k, v in size_before.items()))

        policy = RetentionPolicy(
            events_days=args.events_days, audit_days=args.audit_days, batch_rows=args.batch_rows
        )
        writer = Writer(url, now)
        writer.start()
        time.sleep(1.0)  # the writer's pace alone first
        alone = len(writer.latencies)
        prune = PruneRun(SqlPruner(engine, batch_rows=args.batch_rows), policy.cutoffs(now))
        started = time.perf_counter()
        while prune.step():
            pass
        took = time.perf_counter() - started
        writer.stop.set()
        writer.join(timeout=60)
        deleted = sum(prune.deleted.values())
        print(
            f"  prune (events > {args.events_days} d, audit > {args.audit_days} d, "
            f"{args.batch_rows} rows/batch): "
            + ", ".join(f"{t} {n:,}" for t, n in prune.deleted.items())
            + f" deleted in {took:.1f} s, {deleted / max(took, 1e-9):,.0f} rows/s, "
            f"{prune.batches:,} batches, longest transaction {prune.longest_s * 1000:.1f} ms"
        )
        base_lat = sorted(writer.latencies[:alone]) or [0.0]
        during = sorted(writer.latencies[alone:]) or [0.0]
        print(
            f"  writer beside it: {len(during):,} appends, p50 {statistics.median(during):.2f} "
            f"ms, p99 {during[int(len(during) * 0.99)]:.2f} ms, max {during[-1]:.2f} ms "
            f"(alone: p50 {statistics.median(base_lat):.2f} ms, max {base_lat[-1]:.2f} ms)"
        )
        after = time_status(repo, now, args.calls)
        _report_status("after the prune", after, empty)
        size_after = sizes(engine, url)
        print("  size after prune: " + ", ".join(f"{k} {_mb(v)}" for k, v in size_after.items()))
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 30M events")
    parser.add_argument("--strategies", type=int, default=1000)
    parser.add_argument("--days", type=int, default=182)
    parser.add_argument("--events-days", type=int, default=30)
    parser.add_argument("--audit-days", type=int, default=30)
    parser.add_argument("--batch-rows", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--mysql", metavar="URL", help="run on this MySQL server instead")
    parser.add_argument("--keep", metavar="FILE", help="SQLite: build the database here, keep it")
    args = parser.parse_args()
    if args.mysql:
        return _mysql(args)
    if args.keep:
        run("sqlite", f"sqlite:///{Path(args.keep).resolve()}", args)
        return 0
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.sqlite", args)
    return 0


def _mysql(args: argparse.Namespace) -> int:
    with scratch_database(args.mysql, "bench_retention") as url:
        if url is not None:
            run("mysql", url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
