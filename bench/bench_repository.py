"""Batched journal writes: SqlRepository.append_events against raw PyMySQL executemany.

Both write the same rows into the same `events` table of a scratch MySQL database, in batches
of the same size, one transaction per batch. Prints rows/s for each and the ratio (repository
over raw: 1.0 means no overhead). Also prints the SQLite figure for the repository.

    .venv/bin/python bench/bench_repository.py [--rows 20000] [--batch 500] [--rounds 5]
    MARTINGALE_BENCH_MYSQL_URL=mysql+pymysql://root@127.0.0.1:3306/test (the default)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pymysql

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from domain import codec
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import DesiredState, JournalEntry
from persistence.sql_repository import SqlRepository

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@codec.register
@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeen:
    symbol: str
    price: Decimal
    at: datetime


def _connect(url: str, database: str | None) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    p = urlsplit(url)
    return pymysql.connect(
        host=p.hostname,
        port=p.port or 3306,
        user=p.username or "root",
        password=p.password or "",
        database=database,
        autocommit=False,
    )


def _strategy(repo: SqlRepository) -> int:
    user = repo.upsert_user("bench", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
    return repo.upsert_strategy(
        user.id,
        "s",
        account_id=account.id,
        symbol="ETH/USDT",
        params={},
        desired_state=DesiredState.RUNNING,
        now=T0,
    ).id


def _entries(sid: int, rows: int) -> list[JournalEntry]:
    return [
        JournalEntry(
            strategy_id=sid,
            event=PriceSeen(
                symbol="ETH/USDT", price=Decimal("1234.5678") + i, at=T0 + timedelta(seconds=i)
            ),
            occurred_at=T0 + timedelta(seconds=i),
        )
        for i in range(rows)
    ]


def time_repo(repo: SqlRepository, entries: list[JournalEntry], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(entries), batch):
        repo.append_events(entries[i : i + batch])
    return len(entries) / (time.perf_counter() - start)


def time_raw(
    conn: pymysql.connections.Connection, entries: list[JournalEntry], batch: int
) -> float:  # type: ignore[type-arg]
    # Same work as the repository: encode each event, then one executemany per batch.
    sql = "INSERT INTO events (strategy_id, type, payload, occurred_at) VALUES (%s, %s, %s, %s)"
    start = time.perf_counter()
    for i in range(0, len(entries), batch):
        params = [
            (
                e.strategy_id,
                type(e.event).__name__,
                codec.dumps(e.event),
                e.occurred_at.replace(tzinfo=None),
            )
            for e in entries[i : i + batch]
        ]
        with conn.cursor() as cur:
            cur.executemany(sql, params)
        conn.commit()
    return len(entries) / (time.perf_counter() - start)


def run_mysql(base: str, name: str, rows: int, batch: int, rounds: int) -> tuple[float, float]:
    """Alternate repository and raw rounds on one warmed table; median rows/s of each."""
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    upgrade(url)
    engine = make_engine(url)
    conn = _connect(base, name)
    try:
        repo = SqlRepository(engine)
        entries = _entries(_strategy(repo), rows)
        repo.append_events(entries[:batch])  # warm up the pool and statement cache
        time_raw(conn, entries[:batch], batch)
        repo_rates, raw_rates = [], []
        for _ in range(rounds):
            repo_rates.append(time_repo(repo, entries, batch))
            raw_rates.append(time_raw(conn, entries, batch))
        assert repo.count_rows("events") == 2 * batch + 2 * rounds * rows
        return statistics.median(repo_rates), statistics.median(raw_rates)
    finally:
        conn.close()
        engine.dispose()


def run_sqlite(rows: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        upgrade(url)
        engine = make_engine(url)
        try:
            repo = SqlRepository(engine)
            return time_repo(repo, _entries(_strategy(repo), rows), batch)
        finally:
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = os.environ.get("MARTINGALE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    name = f"martingale_bench_{os.getpid()}"
    admin = _connect(base, None)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        repo_rate, raw_rate = run_mysql(base, name, args.rows, args.batch, args.rounds)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    sqlite_rate = run_sqlite(args.rows, args.batch)
    print(f"events: {args.rows} rows in batches of {args.batch}, median of {args.rounds} rounds")
    print(f"  MySQL  raw PyMySQL executemany : {raw_rate:10.0f} rows/s")
    print(f"  MySQL  SqlRepository.append    : {repo_rate:10.0f} rows/s")
    print(f"  ratio repository/raw           : {repo_rate / raw_rate:10.2f}")
    print(f"  SQLite SqlRepository.append    : {sqlite_rate:10.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
