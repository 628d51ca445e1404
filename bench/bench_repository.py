"""Repository write paths: batched journal writes and engine steps.

events: SqlRepository.append_events against raw PyMySQL executemany. Both write the same rows
into the same `events` table of a scratch MySQL database, in batches of the same size, one
transaction per batch. Prints rows/s for each and the ratio (repository over raw: 1.0 means no
overhead). Also prints the SQLite figure for the repository.

save_step: what every engine decision costs the single writer. A plain step records 1 new order
intent, moves the previous step's order to OPEN, upserts the cycle and appends 3 events; a fill
step instead moves it to FILLED and stores its fill. Prints steps/s and mean ms per step.

save_steps: the same plain steps written in groups of 1, 10 and 50 (one step of each of that
many strategies per group, one transaction per group), as the writer does when steps queue up.
Prints steps/s, mean ms per step and SQL statements per step (cursor executions plus COMMIT).

--busy-threads N runs N threads of pure Python next to the writer (switch interval 2 ms, as
the service sets it): each statement hands the GIL away and has to win it back, as in a
process running thousands of engines. Then statements, not rows, set the pace.

MySQL figures are skipped (with a note) when the server is not reachable.

    .venv/bin/python bench/bench_repository.py [--rows 20000] [--batch 500] [--rounds 5]
                                               [--steps 2000] [--groups 1,10,50]
                                               [--busy-threads 0]
    MARTINGALE_BENCH_MYSQL_URL=mysql+pymysql://root@127.0.0.1:3306/test (the default)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pymysql
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app.bootstrap import Tuning
from domain import codec
from domain.ids import client_order_id
from domain.orders import Fill, Order, OrderState, OrderType, Side
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import (
    CycleRecord,
    CycleStatus,
    DesiredState,
    JournalEntry,
    OrderIntent,
    StepResult,
    StepWrite,
)
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


def _strategy(repo: SqlRepository, name: str = "s") -> int:
    user = repo.upsert_user("bench", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
    return repo.upsert_strategy(
        user.id,
        name,
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


LEGS_PER_CYCLE = 20


def _intent(sid: int, i: int) -> OrderIntent:
    cycle = i // LEGS_PER_CYCLE + 1
    order = Order(
        client_order_id=client_order_id(sid, cycle, f"s{i % LEGS_PER_CYCLE}"),
        symbol="ETH/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.0123"),
        price=Decimal("1234.56") - i % LEGS_PER_CYCLE,
    )
    return OrderIntent(cycle=cycle, leg=f"s{i % LEGS_PER_CYCLE}", order=order)


SNAPSHOT = '{"phase":"buying","ladder":[' + ",".join(['"1234.56"'] * 40) + "]}"


def _step(sid: int, i: int, intents: list[OrderIntent], version: int, *, fill: bool) -> StepWrite:
    """Step `i` (from 1) of a strategy: record intent i, move intent i-1 (filled: with a fill)."""
    now = T0 + timedelta(seconds=i)
    previous = intents[i - 1].order
    cost = Decimal("15.185088")
    if fill:
        update = previous.transition(
            OrderState.FILLED, filled=previous.amount, cost=cost, exchange_order_id=f"E{i}"
        )
        fills: tuple[Fill, ...] = (
            Fill(
                trade_id=f"T{i}",
                client_order_id=previous.client_order_id,
                symbol=previous.symbol,
                side=previous.side,
                price=Decimal("1234.56"),
                amount=previous.amount,
                fee=Decimal("0.0000123"),
                fee_currency="ETH",
                timestamp=now,
            ),
        )
    else:
        update = previous.transition(OrderState.OPEN, exchange_order_id=f"E{i}")
        fills = ()
    cycle = CycleRecord(
        number=intents[i].cycle,
        status=CycleStatus.OPEN,
        opened_at=T0,
        amount=Decimal("0.0123") * (i % LEGS_PER_CYCLE + 1),
        cost=cost * (i % LEGS_PER_CYCLE + 1),
        base_price=Decimal("1234.56"),
    )
    events = tuple(
        PriceSeen(symbol="ETH/USDT", price=Decimal("1234.5678") + i + k, at=now) for k in range(3)
    )
    return StepWrite(
        strategy_id=sid,
        snapshot=SNAPSHOT,
        expected_version=version,
        new_version=version + 1,
        now=now,
        new_orders=(intents[i],),
        order_updates=(update,),
        fills=fills,
        cycle=cycle,
        events=events,
    )


def time_steps(
    repo: SqlRepository, engine: Engine, sid: int, steps: int, *, fill: bool
) -> tuple[float, float, float]:
    """(steps/s, mean ms per step, statements per step) of `steps` steps of one strategy."""
    intents = [_intent(sid, i) for i in range(steps + 1)]
    repo.save_step(sid, snapshot="{}", expected_version=0, now=T0, new_orders=[intents[0]])
    version = 1
    took: list[float] = []
    with _counting(engine) as statements:
        for i in range(1, steps + 1):
            step = _step(sid, i, intents, version, fill=fill)
            start = time.perf_counter()
            result = repo.save_step(sid, **step.save_step_kwargs())
            took.append(time.perf_counter() - start)
            version = result.version
    total = sum(took)
    return steps / total, 1000 * total / steps, statements[0] / steps


@contextmanager
def _counting(engine: Engine) -> Iterator[list[int]]:
    """Counts SQL statements sent: cursor executions (an executemany is one) and COMMITs."""
    count = [0]

    def one(*_: object) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", one)
    event.listen(engine, "commit", one)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", one)
        event.remove(engine, "commit", one)


def time_groups(
    repo: SqlRepository, engine: Engine, group: int, steps: int
) -> tuple[float, float, float]:
    """(steps/s, mean ms per step, statements per step) of about `steps` plain steps written
    with `save_steps` in groups of `group`: each group one step of `group` strategies."""
    rounds = max(1, steps // group)
    sids = [_strategy(repo, f"group{group}-{k}") for k in range(group)]
    intents = {sid: [_intent(sid, i) for i in range(rounds + 2)] for sid in sids}
    repo.save_steps(
        [
            StepWrite(
                strategy_id=sid,
                snapshot="{}",
                expected_version=0,
                new_version=1,
                now=T0,
                new_orders=(intents[sid][0],),
            )
            for sid in sids
        ]
    )
    took = 0.0
    with _counting(engine) as statements:
        for i in range(1, rounds + 2):
            group_steps = [_step(sid, i, intents[sid], i, fill=False) for sid in sids]
            if i == 1:  # warm-up: compiles this group size's statements
                repo.save_steps(group_steps)
                statements[0] = 0
                continue
            start = time.perf_counter()
            results = repo.save_steps(group_steps)
            took += time.perf_counter() - start
            assert all(isinstance(r, StepResult) for r in results), results
    total = rounds * group
    return total / took, 1000 * took / total, statements[0] / total


def time_loads(repo: SqlRepository, sid: int, loads: int) -> tuple[float, float]:
    """(loads/s, mean ms per load) of `load_engine_state` (what every engine start reads)."""
    start = time.perf_counter()
    for _ in range(loads):
        repo.load_engine_state(sid)
    total = time.perf_counter() - start
    return loads / total, 1000 * total / loads


Figures = dict[str, tuple[float, ...]]


def steps_figures(
    repo: SqlRepository, engine: Engine, steps: int, groups: list[int], busy: int
) -> Figures:
    """save_step figures, load_engine_state of the fill strategy (one live order), then
    save_steps in groups; all of it next to `busy` busy threads.

    A throwaway strategy steps first: the first few hundred steps on a fresh database (MySQL
    above all) are slower and would bias whichever variant ran first."""
    time_steps(repo, engine, _strategy(repo, "steps-warmup"), max(1, steps // 5), fill=True)
    figures: Figures = {}
    with _busy(busy):
        for kind in ("plain", "fill"):
            sid = _strategy(repo, f"steps-{kind}")
            figures[kind] = time_steps(repo, engine, sid, steps, fill=kind == "fill")
        figures["load"] = time_loads(repo, sid, max(1, steps // 4))
        for group in groups:
            figures[f"group {group}"] = time_groups(repo, engine, group, steps)
    return figures


@contextmanager
def _busy(threads: int) -> Iterator[None]:
    """`threads` threads that only ever want the GIL, as thousands of engines do."""
    if threads <= 0:
        yield
        return
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(200))

    previous = sys.getswitchinterval()
    sys.setswitchinterval(Tuning().switch_interval)  # as the service sets it
    workers = [threading.Thread(target=spin, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        sys.setswitchinterval(previous)


def run_mysql(base: str, name: str, args: argparse.Namespace) -> tuple[float, float, Figures]:
    """Alternate repository and raw rounds on one warmed table; median rows/s of each.

    Then the save_step figures on the same database."""
    rows, batch, rounds = args.rows, args.batch, args.rounds
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
        return (
            statistics.median(repo_rates),
            statistics.median(raw_rates),
            steps_figures(repo, engine, args.steps, args.groups, args.busy_threads),
        )
    finally:
        conn.close()
        engine.dispose()


def run_sqlite(args: argparse.Namespace) -> tuple[float, Figures]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        upgrade(url)
        engine = make_engine(url)
        try:
            repo = SqlRepository(engine)
            rate = time_repo(repo, _entries(_strategy(repo), args.rows), args.batch)
            figures = steps_figures(repo, engine, args.steps, args.groups, args.busy_threads)
            return rate, figures
        finally:
            engine.dispose()


def _print_steps(backend: str, figures: Figures) -> None:
    for kind, (rate, mean_ms, *statements) in figures.items():
        if kind == "load":
            label, unit = f"{backend} load_engine_state/s", "loads"
        elif kind.startswith("group"):
            label, unit = f"{backend} save_steps/s ({kind})", "steps"
        else:
            label, unit = f"{backend} save_step/s ({kind})", "steps"
        line = f"  {label:<35}: {rate:10.0f} {unit}/s  {mean_ms:7.3f} ms/{unit[:-1]}"
        if statements:
            line += f"  {statements[0]:6.2f} statements/step"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--groups", type=lambda v: [int(g) for g in v.split(",")], default=[1, 10, 50]
    )
    parser.add_argument("--busy-threads", type=int, default=0)
    args = parser.parse_args()
    base = os.environ.get("MARTINGALE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    name = f"martingale_bench_{os.getpid()}"
    mysql: tuple[float, float, Figures] | None = None
    try:
        admin = _connect(base, None)
    except pymysql.err.OperationalError as error:
        print(f"MySQL not reachable ({error.args[0]}): MySQL figures skipped")
    else:
        try:
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            mysql = run_mysql(base, name, args)
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()
    sqlite_rate, sqlite_steps = run_sqlite(args)
    print(f"events: {args.rows} rows in batches of {args.batch}, median of {args.rounds} rounds")
    if mysql is not None:
        repo_rate, raw_rate, _ = mysql
        print(f"  MySQL  raw PyMySQL executemany : {raw_rate:10.0f} rows/s")
        print(f"  MySQL  SqlRepository.append    : {repo_rate:10.0f} rows/s")
        print(f"  ratio repository/raw           : {repo_rate / raw_rate:10.2f}")
    print(f"  SQLite SqlRepository.append    : {sqlite_rate:10.0f} rows/s")
    print(
        f"save_step: {args.steps} steps of one strategy (1 intent + 1 order update + cycle "
        "upsert + 3 events; fill: + 1 fill);"
    )
    print(
        f"save_steps: about {args.steps} such plain steps in groups of one step of N strategies"
        + (f"; {args.busy_threads} busy threads" if args.busy_threads else "")
    )
    if mysql is not None:
        _print_steps("MySQL ", mysql[2])
    _print_steps("SQLite", sqlite_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
