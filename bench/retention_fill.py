"""Fills a database with months of history for bench_retention.py, fast.

Rows go in with the driver's executemany (one prepared INSERT, PyMySQL folds it into
multi-row INSERTs), times pre-formatted as the column types store them, in chunks of about
50,000 rows per transaction. Events and audit rows are written in time order, every
strategy's rows interleaved as the engines write them (ids follow time, as in production).

Shape per strategy over `days`: `events` journal rows, an audit row per 10 events, two closed
cycles a day (each with a base, a safety and a take-profit order and their fills), and one open
cycle with a resting safety and take-profit order, so status has positions to show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from persistence.sql_trading import refresh_totals

CHUNK = 50_000
PER_USER = 10
PAYLOAD = (
    '{"__type__":"OrderFilled","client_order_id":"mgb-aaaa-%d-%d-s2","price":"1834.25",'
    '"amount":"0.01250000","fee":"0.00001250","filled":"0.01250000","at":"%s"}'
)


@dataclass(frozen=True, slots=True)
class Shape:
    strategies: int
    days: int
    events: int  # per strategy
    cycles_per_day: int = 2

    @property
    def users(self) -> int:
        return max(1, self.strategies // PER_USER)


def _fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sql(engine: Engine, table: str, columns: str) -> str:
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    count = columns.count(",") + 1
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join([mark] * count)})"


def _insert(engine: Engine, sql: str, rows: Iterator[tuple[Any, ...]]) -> int:
    done, chunk = 0, []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            done += _write(engine, sql, chunk)
            chunk = []
    return done + (_write(engine, sql, chunk) if chunk else 0)


def _write(engine: Engine, sql: str, rows: list[tuple[Any, ...]]) -> int:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql, rows)
    return len(rows)


def fleet(engine: Engine, shape: Shape, start: datetime) -> None:
    at = _fmt(start)
    users = [(u + 1, f"u{u}", at) for u in range(shape.users)]
    _insert(engine, _sql(engine, "users", "id, name, created_at"), iter(users))
    accounts = [(u + 1, u + 1, "main", "paper", at) for u in range(shape.users)]
    _insert(
        engine, _sql(engine, "accounts", "id, user_id, name, exchange, created_at"), iter(accounts)
    )
    strategies = (
        (s + 1, s // PER_USER + 1, s // PER_USER + 1, f"s{s % PER_USER}", "ETH/USDT", "{}",
         "running", "running", 0, 0, at, at)
        for s in range(shape.strategies)
    )  # fmt: skip
    columns = (
        "id, user_id, account_id, name, symbol, params, desired_state, actual_state, "
        "restart_count, version, created_at, updated_at"
    )
    _insert(engine, _sql(engine, "strategies", columns), strategies)


def journal(engine: Engine, shape: Shape, start: datetime) -> tuple[int, int]:
    """Events and audit rows, in time order; (events, audit rows) written."""
    step = timedelta(days=shape.days) / max(1, shape.events)
    n = shape.strategies

    def events() -> Iterator[tuple[Any, ...]]:
        for k in range(shape.events):
            base = start + step * k
            for s in range(n):
                at = _fmt(base + step * s / n)
                yield (s + 1, "OrderFilled", PAYLOAD % (s + 1, k, at), at)

    def audits() -> Iterator[tuple[Any, ...]]:
        for k in range(0, shape.events, 10):
            base = start + step * k
            for s in range(n):
                at = _fmt(base + step * s / n)
                yield (at, "info", "order_filled", "safety order 2 filled", s // PER_USER + 1,
                       s + 1, '{"level":2}')  # fmt: skip

    written = _insert(
        engine, _sql(engine, "events", "strategy_id, type, payload, occurred_at"), events()
    )
    columns = "at, level, event, message, user_id, strategy_id, data"
    return written, _insert(engine, _sql(engine, "audit_log", columns), audits())


def ledger(engine: Engine, shape: Shape, start: datetime) -> int:
    """Closed cycles with their orders and fills, then an open cycle per strategy; the number
    of closed cycles written."""
    closed = shape.days * shape.cycles_per_day
    span = timedelta(days=shape.days) / max(1, closed)
    money = ("1800.00", "0.01", "18.00")

    def cycles() -> Iterator[tuple[Any, ...]]:
        for s in range(shape.strategies):
            for c in range(closed + 1):
                at = _fmt(start + span * c)
                done = c < closed
                yield (s + 1, c + 1, "closed" if done else "open", *money,
                       "0.0731" if done else None, 1, "0", "0", at, at if done else None)  # fmt: skip

    def orders() -> Iterator[tuple[Any, ...]]:
        oid = 0
        for s in range(shape.strategies):
            account = s // PER_USER + 1
            for c in range(closed + 1):
                at = _fmt(start + span * c)
                for leg in ("b", "s1", "t1"):
                    oid += 1
                    live = c == closed and leg != "b"
                    yield (oid, s + 1, account, c + 1, leg, f"mgb-aaaa-{s + 1}-{c + 1}-{leg}",
                           "ETH/USDT", "sell" if leg == "t1" else "buy", "limit", money[0],
                           money[1], "0" if live else money[1], "0" if live else money[2],
                           "open" if live else "filled", at, at)  # fmt: skip

    def fills() -> Iterator[tuple[Any, ...]]:
        oid = 0
        for s in range(shape.strategies):
            account = s // PER_USER + 1
            for c in range(closed + 1):
                at = _fmt(start + span * c)
                for leg in ("b", "s1", "t1"):
                    oid += 1
                    if c == closed and leg != "b":
                        continue
                    cid = f"mgb-aaaa-{s + 1}-{c + 1}-{leg}"
                    yield (account, s + 1, oid, c + 1, f"T{oid}", cid, "ETH/USDT",
                           "sell" if leg == "t1" else "buy", money[0], money[1], "0.00001",
                           at, at)  # fmt: skip

    cycle_cols = (
        "strategy_id, number, status, base_price, amount, cost, realized_profit, "
        "safety_orders_filled, carried_amount, carried_cost, opened_at, closed_at"
    )
    order_cols = (
        "id, strategy_id, account_id, cycle, leg, client_order_id, symbol, side, type, price, "
        "amount, filled, cost, state, created_at, updated_at"
    )
    fill_cols = (
        "account_id, strategy_id, order_id, cycle, trade_id, client_order_id, symbol, side, "
        "price, amount, fee, traded_at, recorded_at"
    )
    _insert(engine, _sql(engine, "cycles", cycle_cols), cycles())
    _insert(engine, _sql(engine, "orders", order_cols), orders())
    _insert(engine, _sql(engine, "fills", fill_cols), fills())
    with engine.begin() as conn:  # the totals every close keeps, as the service would have
        refresh_totals(conn, range(1, shape.strategies + 1))
    return closed * shape.strategies
