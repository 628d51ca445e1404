"""The REST API's reads (services.history, services.strategies) on a loaded database.

A fleet of --users users with 10 strategies each (5,000 strategies by default), each strategy
with --rows orders, fills, events, audit rows and closed cycles of history, and one "busy" user
whose 10 strategies hold --busy-rows of each. Rows are bulk-inserted with Core statements in
time order, every strategy's rows interleaved as engines write them (so a strategy's rows are
scattered over the tables, as in production). Then each read the API makes is timed --calls
times for the busy user, and its p50 / p99 printed in ms, with the ratio of p99 to the 100 ms
budget (below 1.0 is within it).

    .venv/bin/python bench/bench_history.py [--users 500] [--rows 20] [--busy-rows 5000]
                                            [--calls 200] [--sqlite-only]
    MARTINGALE_BENCH_MYSQL_URL=mysql+pymysql://root@127.0.0.1:3306/test (the default)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.scratch_mysql import scratch_database
from domain.money import HUNDRED, ONE, ZERO
from persistence import models as m
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from services import history
from services.strategies import list_strategies

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BUDGET_MS = 100.0
PER_USER = 10


def populate(engine: Engine, users: int, rows: int, busy_rows: int) -> tuple[int, int]:
    """(busy user id, one of its strategy ids). The busy user is created in the middle."""
    busy_index = users // 2
    with engine.begin() as conn:
        conn.execute(
            insert(m.User.__table__),
            [{"id": u + 1, "name": f"u{u}", "created_at": T0} for u in range(users)],
        )
        conn.execute(
            insert(m.Account.__table__),
            [
                {"id": u + 1, "user_id": u + 1, "name": "main", "exchange": "paper",
                 "created_at": T0}
                for u in range(users)
            ],
        )  # fmt: skip
        conn.execute(
            insert(m.STRATEGIES),
            [
                {
                    "id": u * PER_USER + s + 1, "user_id": u + 1, "account_id": u + 1,
                    "name": f"s{s}", "symbol": "ETH/USDT" if s % 2 else "ETH/BTC",
                    "params": "{}", "desired_state": "running", "actual_state": "running",
                    "restart_count": 0, "version": 0, "created_at": T0,
                    "updated_at": T0,
                }
                for u in range(users)
                for s in range(PER_USER)
            ],
        )  # fmt: skip
    busy = {busy_index * PER_USER + s + 1 for s in range(PER_USER)}
    strategies = [(u + 1, u * PER_USER + s + 1) for u in range(users) for s in range(PER_USER)]
    every = max(1, busy_rows // max(1, rows))
    # Time steps in order, every strategy's rows interleaved as engines write them: the busy
    # user's strategies write at each step, the others every `every` steps.
    plan = [
        (uid, sid, n)
        for step in range(busy_rows)
        for uid, sid in strategies
        if sid in busy or step % every == 0
        for n in [step if sid in busy else step // every]
    ]
    chunk = 20_000
    for start in range(0, len(plan), chunk):
        with engine.begin() as conn:
            _history(conn, plan[start : start + chunk], first_order=start)
    return busy_index + 1, busy_index * PER_USER + 1


def _history(conn: Any, plan: list[tuple[int, int, int]], first_order: int) -> None:
    """One row of each kind per (user, strategy, n): cycle n + 1 closed at minute n."""
    times = {n: T0 + timedelta(minutes=n) for _, _, n in plan}
    conn.execute(
        insert(m.CYCLES),
        [
            {"strategy_id": sid, "number": n + 1, "status": "closed", "amount": ONE,
             "cost": ONE, "realized_profit": Decimal("0.001"), "safety_orders_filled": 0,
             "carried_amount": ZERO, "carried_cost": ZERO, "opened_at": times[n],
             "closed_at": times[n]}
            for _, sid, n in plan
        ],
    )  # fmt: skip
    conn.execute(
        insert(m.ORDERS),
        [
            {"id": first_order + i + 1, "strategy_id": sid, "account_id": uid, "cycle": n + 1,
             "leg": "b", "client_order_id": f"{sid}-{n}", "symbol": "ETH/USDT", "side": "buy",
             "type": "limit", "price": HUNDRED, "amount": ONE, "filled": ONE, "cost": HUNDRED,
             "state": "filled", "created_at": times[n], "updated_at": times[n]}
            for i, (uid, sid, n) in enumerate(plan)
        ],
    )  # fmt: skip
    conn.execute(
        insert(m.FILLS),
        [
            {"account_id": uid, "strategy_id": sid, "order_id": first_order + i + 1,
             "cycle": n + 1, "trade_id": f"{sid}-{n}", "client_order_id": f"{sid}-{n}",
             "symbol": "ETH/USDT", "side": "buy", "price": HUNDRED, "amount": ONE, "fee": ZERO,
             "traded_at": times[n], "recorded_at": times[n]}
            for i, (uid, sid, n) in enumerate(plan)
        ],
    )  # fmt: skip
    conn.execute(
        insert(m.EVENTS),
        [
            {"strategy_id": sid, "type": "Tick", "payload": "{}", "occurred_at": times[n]}
            for _, sid, n in plan
        ],
    )
    conn.execute(
        insert(m.AUDIT_LOG),
        [
            {"at": times[n], "level": "info", "event": "state", "message": "running",
             "user_id": uid, "strategy_id": sid, "data": "{}"}
            for uid, sid, n in plan
        ],
    )  # fmt: skip


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    call()  # warm the statement cache
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def run(label: str, url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        uid, sid = populate(engine, args.users, args.rows, args.busy_rows)
        print(
            f"{label}: {args.users * PER_USER} strategies, {args.rows} rows of each kind per "
            f"strategy, {args.busy_rows} for the busy user's 10 (loaded in "
            f"{time.perf_counter() - started:.0f} s)"
        )
        repo = SqlRepository(engine)
        middle = repo.page_orders(sid, before_id=None, limit=max(1, args.busy_rows // 2))
        deep = history.encode_cursor("orders", middle[-1].id)
        reads: dict[str, Callable[[], object]] = {
            "list_strategies": lambda: list_strategies(repo, uid),
            "status_of": lambda: history.status_of(repo, uid, now=T0),
            "orders page": lambda: history.orders(repo, uid, sid),
            "orders deep page": lambda: history.orders(repo, uid, sid, cursor=deep),
            "fills page": lambda: history.fills(repo, uid, sid),
            "events page": lambda: history.events(repo, uid, sid),
            "logs page": lambda: history.logs(repo, uid, sid),
            "cycles page": lambda: history.cycles(repo, uid, sid),
            "profit_summary": lambda: history.profit_summary(repo, uid),
            # A quiet user's strategy: few rows, scattered among everyone else's.
            "quiet orders page": lambda: history.orders(repo, 1, 1),
            "quiet fills page": lambda: history.fills(repo, 1, 1),
            "quiet logs page": lambda: history.logs(repo, 1, 1),
            "quiet status_of": lambda: history.status_of(repo, 1, now=T0),
        }
        for name, call in reads.items():
            p50, p99 = timed(call, args.calls)
            print(
                f"  {name:<18} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  p99/budget {p99 / BUDGET_MS:.2f}"
            )
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--busy-rows", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.sqlite", args)
    if args.sqlite_only:
        return 0
    base = os.environ.get("MARTINGALE_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    with scratch_database(base, "bench_history") as url:
        if url is not None:
            run("mysql", url, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
