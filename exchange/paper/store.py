"""The paper venue's own SQLite file (stdlib sqlite3), separate from the service database.

The paper venue stands for an external exchange, so its state must outlive the service process:
an order the venue accepted is still there after a crash. Every mutation runs in one
transaction that is committed before the venue call returns (grouped with other callers'
changes: see `journal`). WAL with synchronous=NORMAL:
a process crash (even SIGKILL) loses nothing that was committed; a power loss or OS crash can
lose the last few committed transactions (those not yet checkpointed/fsynced), never corrupt
the file. Decimals are stored as TEXT, times as integer microseconds since the epoch (UTC), so
they sort and compare exactly.

`replays` holds, per replayed symbol, the recording (its file) and the open time of the last
candle the venue took from it, written in the same transaction as that candle's price and fills:
a restarted replay continues after it, never repeating a candle whose fills the file holds nor
skipping one whose fills it does not. The table was added without a schema version change: older
code ignores it, and opening an older file creates it.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from domain.errors import ConfigurationError
from domain.market import MarketRules
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.paper.journal import Changes
from exchange.paper.times import EPOCH, from_us, to_us

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY, fee_rate TEXT NOT NULL, fee_in_quote INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS balances (
    account TEXT NOT NULL, currency TEXT NOT NULL, free TEXT NOT NULL, used TEXT NOT NULL,
    PRIMARY KEY (account, currency));
CREATE TABLE IF NOT EXISTS markets (
    symbol TEXT PRIMARY KEY, tick_size TEXT NOT NULL, step_size TEXT NOT NULL,
    min_amount TEXT NOT NULL, min_notional TEXT NOT NULL, max_amount TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prices (
    symbol TEXT PRIMARY KEY, price TEXT NOT NULL, at_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL, amount TEXT NOT NULL,
    price TEXT, filled TEXT NOT NULL, cost TEXT NOT NULL, state TEXT NOT NULL,
    locked TEXT NOT NULL, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_coid ON orders (account, client_order_id);
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (state);
CREATE TABLE IF NOT EXISTS fills (
    trade_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, account TEXT NOT NULL,
    client_order_id TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    price TEXT NOT NULL, amount TEXT NOT NULL, fee TEXT NOT NULL, fee_currency TEXT NOT NULL,
    at_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fills_by_account ON fills (account, symbol, at_us, trade_id);
CREATE TABLE IF NOT EXISTS replays (
    symbol TEXT PRIMARY KEY, source TEXT NOT NULL, candle_us INTEGER NOT NULL);
"""

_SELECT_ORDERS = (
    "SELECT id, account, client_order_id, symbol, side, type, amount, price, filled, cost, "
    "state, locked, created_us, updated_us FROM orders "
)
_INSERT_ORDER = "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SELECT_FILLS = (
    "SELECT trade_id, order_id, account, client_order_id, symbol, side, price, amount, fee, "
    "fee_currency, at_us FROM fills "
)


def _own(path: Path) -> TextIO:
    """Hold an exclusive lock on ``<file>.lock`` for as long as the store is open.

    The venue caches its book in memory, so two openers of one file (two processes, or two
    venues in one process) would each trust a stale cache and could double-spend a balance.
    The OS drops the lock when the process dies, even by SIGKILL, so a crash never wedges it.
    """
    handle = path.with_name(path.name + ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigurationError(
            "the paper venue file is already open (another service process, or a second "
            "PaperVenue on the same file); one process owns a venue file at a time",
            field=str(path),
        ) from None
    return handle


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


class PaperStore:
    """Thin SQL layer; callers serialise access (the venue's journal holds its `io` lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _own(self.path)
        try:
            self._connect()
        except BaseException:
            self._owner.close()
            raise

    def _connect(self) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is explicit.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise ConfigurationError(
                f"paper venue schema version {version} is newer than this code "
                f"({SCHEMA_VERSION}); upgrade the service",
                field=str(self.path),
            )
        self._conn.executescript(_SCHEMA)
        self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        try:
            self._conn.close()
        finally:
            self._owner.close()  # releases the flock

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back when the block raises."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- writes ---------------------------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """Write one group of changes (see `journal`) in one transaction, one statement per
        table; rolled back whole if any row fails."""
        conn = self._conn
        with self.transaction():
            if changes.accounts:
                conn.executemany(
                    "INSERT INTO accounts (key, fee_rate, fee_in_quote) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET fee_rate = excluded.fee_rate, "
                    "fee_in_quote = excluded.fee_in_quote",
                    [(k, str(rate), int(q)) for k, (rate, q) in changes.accounts.items()],
                )
            if changes.markets:
                conn.executemany(
                    "INSERT OR REPLACE INTO markets VALUES (?, ?, ?, ?, ?, ?)",
                    [_market_row(r) for r in changes.markets.values()],
                )
            if changes.balances:
                conn.executemany(
                    "INSERT INTO balances (account, currency, free, used) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (account, currency) DO UPDATE SET free = excluded.free, "
                    "used = excluded.used",
                    [(a, c, str(f), str(u)) for (a, c), (f, u) in changes.balances.items()],
                )
            if changes.prices:
                conn.executemany(
                    "INSERT OR REPLACE INTO prices VALUES (?, ?, ?)",
                    [(s, str(p), to_us(at)) for s, (p, at) in changes.prices.items()],
                )
            if changes.replays:
                conn.executemany(
                    "INSERT OR REPLACE INTO replays VALUES (?, ?, ?)",
                    [(s, src, to_us(at)) for s, (src, at) in changes.replays.items()],
                )
            if changes.orders:
                conn.executemany(
                    _INSERT_ORDER,
                    [_order_row(i, a, o, locked) for i, (a, o, locked) in changes.orders.items()],
                )
            if changes.fills:
                conn.executemany(
                    "INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_fill_row(a, i, f) for a, i, f in changes.fills],
                )

    # --- reads ---------------------------------------------------------------------------------

    def accounts(self) -> list[tuple[str, Decimal, bool]]:
        rows = self._conn.execute("SELECT key, fee_rate, fee_in_quote FROM accounts")
        return [(key, Decimal(rate), bool(in_quote)) for key, rate, in_quote in rows]

    def balances(self) -> list[tuple[str, str, Decimal, Decimal]]:
        rows = self._conn.execute("SELECT account, currency, free, used FROM balances")
        return [(a, c, Decimal(free), Decimal(used)) for a, c, free, used in rows]

    def markets(self) -> list[MarketRules]:
        rows = self._conn.execute("SELECT * FROM markets")
        return [
            MarketRules(
                symbol=r[0],
                tick_size=Decimal(r[1]),
                step_size=Decimal(r[2]),
                min_amount=Decimal(r[3]),
                min_notional=Decimal(r[4]),
                max_amount=Decimal(r[5]),
            )
            for r in rows
        ]

    def prices(self) -> list[tuple[str, Decimal, datetime]]:
        rows = self._conn.execute("SELECT symbol, price, at_us FROM prices")
        return [(s, Decimal(p), from_us(at)) for s, p, at in rows]

    def replays(self) -> list[tuple[str, str, datetime]]:
        """(symbol, recording, open time of the last candle taken) per replayed symbol."""
        rows = self._conn.execute("SELECT symbol, source, candle_us FROM replays")
        return [(s, src, from_us(at)) for s, src, at in rows]

    def latest_fill_time(self, account: str, symbol: str, *, through_trade: int) -> int | None:
        """The latest time (microseconds) of the market's fills up to trade id `through_trade`."""
        row = self._conn.execute(
            "SELECT MAX(at_us) FROM fills WHERE account = ? AND symbol = ? AND trade_id <= ?",
            (account, symbol, through_trade),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def max_ids(self) -> tuple[int, int]:
        order_id = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM orders").fetchone()[0]
        trade_id = self._conn.execute("SELECT COALESCE(MAX(trade_id), 0) FROM fills").fetchone()
        return int(order_id), int(trade_id[0])

    def open_orders(self) -> list[tuple[int, str, Order, Decimal]]:
        rows = self._conn.execute(
            _SELECT_ORDERS + "WHERE state IN (?, ?) ORDER BY id",
            (OrderState.OPEN.value, OrderState.PARTIALLY_FILLED.value),
        )
        return [self._order_row(r) for r in rows]

    def order_by_id(self, account: str, order_id: int) -> tuple[int, str, Order, Decimal] | None:
        row = self._conn.execute(
            _SELECT_ORDERS + "WHERE id = ? AND account = ?", (order_id, account)
        ).fetchone()
        return None if row is None else self._order_row(row)

    def order_by_coid(self, account: str, coid: str) -> tuple[int, str, Order, Decimal] | None:
        """The most recent order with this client order id (ids may be reused once closed)."""
        row = self._conn.execute(
            _SELECT_ORDERS + "WHERE account = ? AND client_order_id = ? ORDER BY id DESC LIMIT 1",
            (account, coid),
        ).fetchone()
        return None if row is None else self._order_row(row)

    def fills(
        self, account: str, symbol: str, since: datetime | None, limit: int | None
    ) -> list[Fill]:
        sql = _SELECT_FILLS + "WHERE account = ? AND symbol = ?"
        args: list[Any] = [account, symbol]
        if since is not None:
            sql += " AND at_us >= ?"
            args.append(to_us(since))
        sql += " ORDER BY at_us, trade_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [
            Fill(
                trade_id=str(r[0]),
                exchange_order_id=str(r[1]),
                client_order_id=r[3],
                symbol=r[4],
                side=Side(r[5]),
                price=Decimal(r[6]),
                amount=Decimal(r[7]),
                fee=Decimal(r[8]),
                fee_currency=r[9],
                timestamp=from_us(r[10]),
            )
            for r in self._conn.execute(sql, args)
        ]

    @staticmethod
    def _order_row(r: tuple[Any, ...]) -> tuple[int, str, Order, Decimal]:
        order = Order(
            exchange_order_id=str(r[0]),
            client_order_id=r[2],
            symbol=r[3],
            side=Side(r[4]),
            type=OrderType(r[5]),
            amount=Decimal(r[6]),
            price=_dec(r[7]),
            filled=Decimal(r[8]),
            cost=Decimal(r[9]),
            state=OrderState(r[10]),
            created_at=from_us(r[12]),
            updated_at=from_us(r[13]),
        )
        return int(r[0]), r[1], order, Decimal(r[11])


def _market_row(rules: MarketRules) -> tuple[str, ...]:
    return (
        rules.symbol,
        str(rules.tick_size),
        str(rules.step_size),
        str(rules.min_amount),
        str(rules.min_notional),
        str(rules.max_amount),
    )


def _order_row(order_id: int, account: str, order: Order, locked: Decimal) -> tuple[Any, ...]:
    created = order.created_at or order.updated_at or EPOCH
    updated = order.updated_at or created
    return (
        order_id,
        account,
        order.client_order_id,
        order.symbol,
        order.side.value,
        order.type.value,
        str(order.amount),
        None if order.price is None else str(order.price),
        str(order.filled),
        str(order.cost),
        order.state.value,
        str(locked),
        to_us(created),
        to_us(updated),
    )


def _fill_row(account: str, order_id: int, fill: Fill) -> tuple[Any, ...]:
    assert fill.timestamp is not None and fill.fee_currency is not None
    return (
        int(fill.trade_id),
        order_id,
        account,
        fill.client_order_id,
        fill.symbol,
        fill.side.value,
        str(fill.price),
        str(fill.amount),
        str(fill.fee),
        fill.fee_currency,
        to_us(fill.timestamp),
    )
