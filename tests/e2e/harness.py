"""Shared tools of the end-to-end tests: configs, candle windows, polling, and the two ledgers.

The end-to-end tests judge the service by what it left behind: the service database (through
the repository) and the paper venue's file (through `PaperVenue`, opened only once the service
has let go of it: one owner per venue file). `audit` compares the two order by order.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from app.bootstrap import Service, Tuning
from config.loader import load_config
from config.schema import SimulatedMarket
from domain.orders import Fill, Order, OrderState
from exchange.paper import PaperVenue
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import CycleRecord, CycleStatus, StrategyRecord
from persistence.sql_repository import SqlRepository
from services.onboarding import prepare_database, sync_config

REPO_ROOT = Path(__file__).resolve().parents[2]
CANDLES = REPO_ROOT / "config" / "examples" / "data"
MARTINGALE = str(Path(sys.executable).with_name("martingale"))

T = TypeVar("T")

# States in which a DB row may exist without any order on the venue: the intent was written
# but the exchange never accepted it (rejected), or it was withdrawn before it got there
# (canceled with nothing filled), or it is still waiting to be resolved.
NEVER_REACHED_VENUE = frozenset(
    {OrderState.PENDING_SUBMIT, OrderState.REJECTED, OrderState.CANCELED}
)


# --- files --------------------------------------------------------------------------------------


def write_candles(dest: Path, source: str, *, start: int, count: int) -> Path:
    """Copy `count` candles from row `start` of a shipped data file (header kept), so a test
    replays a chosen real window; the name keeps the period suffix the replay reads."""
    lines = (CANDLES / source).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    window = rows[start : start + count]
    assert len(window) == count, f"{source} has no {count} candles from row {start}"
    dest.write_text("\n".join([header, *window]) + "\n", encoding="utf-8")
    return dest


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """Numbers are written as strings: the config refuses floats, and strings stay exact."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def onboard(config_path: Path) -> None:
    """What an operator and `martingale run` do before the service starts: upgrade the schema
    (`martingale db upgrade`: MySQL is never migrated implicitly), check it, sync the file."""
    config = load_config(config_path)
    upgrade(config.database.url)
    prepare_database(config.database.url)
    engine = make_engine(config.database.url)
    try:
        sync_config(config, SqlRepository(engine), None, now=datetime.now(UTC))
    finally:
        engine.dispose()


@contextmanager
def running_service(config_path: Path, tuning: Tuning | None = None) -> Iterator[Service]:
    """The real in-process `Service` (every actor, the paper venue, the DB), stopped on exit."""
    onboard(config_path)
    service = Service(load_config(config_path), vault=None, tuning=tuning or fast_tuning())
    service.start()
    try:
        yield service
    finally:
        service.stop()


def fast_tuning() -> Tuning:
    return Tuning(poll_interval=0.5, heartbeat_interval=1.0)


@contextmanager
def repository(url: str) -> Iterator[SqlRepository]:
    engine = make_engine(url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()


# --- waiting ------------------------------------------------------------------------------------


def wait_for(
    probe: Callable[[], T], done: Callable[[T], bool], *, what: str, timeout: float = 60.0
) -> T:
    """Poll `probe` until `done(value)`; a bound on patience, never a timing assertion: the
    timeout only turns a hang into a failure that shows the last value seen."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; last seen: {value!r}")
        time.sleep(0.1)
        value = probe()
    return value


# --- the two ledgers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueLedger:
    """Every order and fill the paper venue holds, keyed by venue account ("user/account")."""

    orders: list[tuple[str, Order]]
    fills: list[tuple[str, Fill]]


@dataclass(frozen=True, slots=True)
class DbLedger:
    """Every order, fill and cycle in the service database, by venue account and strategy."""

    strategies: dict[int, StrategyRecord]
    account_of: dict[int, str]  # strategy id -> venue account key
    orders: list[tuple[str, int, Order]]
    fills: list[tuple[str, int, Fill]]
    cycles: dict[int, list[CycleRecord]]

    def closed_cycles(self) -> list[CycleRecord]:
        return [c for cs in self.cycles.values() for c in cs if c.status is CycleStatus.CLOSED]

    def orders_of(self, name: str) -> list[Order]:
        ids = [sid for sid, s in self.strategies.items() if s.name == name]
        return [o for _, sid, o in self.orders if sid in ids]


def read_venue(path: Path) -> VenueLedger:
    """Open the venue file as its one owner (this fails while a service still holds it) and
    list everything in it."""
    venue = PaperVenue(path)
    try:
        return venue_ledger(venue, path)
    finally:
        venue.close()


def venue_ledger(venue: PaperVenue, path: Path) -> VenueLedger:
    """Everything an open venue holds. The venue has no "all orders" call, so the order ids
    come from its table (a read-only look, safe beside the owner: WAL); each order and fill
    is then read through the venue itself."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT id, account, symbol FROM orders ORDER BY id").fetchall()
        markets = conn.execute("SELECT DISTINCT account, symbol FROM orders").fetchall()
    orders = [(acc, venue.order(acc, sym, str(oid), None)) for oid, acc, sym in rows]
    fills = [(acc, fill) for acc, sym in markets for fill in venue.fills(acc, sym, None, None)]
    return VenueLedger(orders=orders, fills=fills)


def read_db(url: str) -> DbLedger:
    with repository(url) as repo:
        strategies = {s.id: s for s in repo.list_strategies()}
        account_of: dict[int, str] = {}
        for sid, strategy in strategies.items():
            account = repo.get_account(strategy.account_id)
            user = repo.get_user(strategy.user_id)
            account_of[sid] = f"{user.name}/{account.name}"
        orders = [(account_of[sid], sid, o) for sid in strategies for o in repo.list_orders(sid)]
        fills = [(account_of[sid], sid, f) for sid in strategies for f in repo.list_fills(sid)]
        cycles = {sid: repo.list_cycles(sid) for sid in strategies}
    return DbLedger(
        strategies=strategies, account_of=account_of, orders=orders, fills=fills, cycles=cycles
    )


def audit(venue: VenueLedger, db: DbLedger, *, unapplied_fills_ok: bool = False) -> list[str]:
    """Every disagreement between the venue and the database, as readable lines.

    Strict: each venue order placed once, with exactly one DB row of the same client order id,
    state and filled amount; each DB order that claims to have reached the venue is there; each
    fill stored once per trade id, equal to the venue's, and every venue fill stored.

    `unapplied_fills_ok`: after a stop while prices moved, the venue may hold fills the engines
    had not applied yet (a tick after an engine stopped listening, or while it was backing off);
    rule 5 applies them on the next start. Those fills may be missing and their orders may lag
    behind the venue by exactly them; the DB must still never be ahead of the venue.
    """
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for account, order in venue.orders:
        key = (account, order.client_order_id)
        seen[key] = seen.get(key, 0) + 1
    problems += [f"venue: {k} placed {n} times" for k, n in seen.items() if n > 1]

    db_rows: dict[tuple[str, str], list[Order]] = {}
    for account, _, order in db.orders:
        db_rows.setdefault((account, order.client_order_id), []).append(order)
    problems += [f"db: {k} has {len(v)} rows" for k, v in db_rows.items() if len(v) > 1]

    venue_fills = {(acc, f.trade_id): f for acc, f in venue.fills}
    db_fill_count: dict[tuple[str, str], int] = {}
    for account, _, fill in db.fills:
        key = (account, fill.trade_id)
        db_fill_count[key] = db_fill_count.get(key, 0) + 1
        theirs = venue_fills.get(key)
        if theirs is None:
            problems.append(f"db: fill {key} is unknown to the venue")
        elif (theirs.client_order_id, theirs.price, theirs.amount, theirs.fee) != (
            fill.client_order_id,
            fill.price,
            fill.amount,
            fill.fee,
        ):
            problems.append(f"db: fill {key} differs: db {fill!r} venue {theirs!r}")
    problems += [f"db: fill {k} stored {n} times" for k, n in db_fill_count.items() if n > 1]
    unapplied = sorted(k for k in venue_fills if k not in db_fill_count)
    if not unapplied_fills_ok:
        problems += [
            f"db: venue fill {k} ({venue_fills[k].client_order_id}) never stored" for k in unapplied
        ]
    lagging = {(acc, venue_fills[(acc, tid)].client_order_id) for acc, tid in unapplied}

    for account, order in venue.orders:
        key = (account, order.client_order_id)
        rows = db_rows.get(key)
        if not rows:
            problems.append(f"venue order {key} has no DB row")
            continue
        mine = rows[0]
        if (mine.state, mine.filled) == (order.state, order.filled):
            continue
        behind = mine.filled < order.filled and not mine.state.is_terminal
        if not (unapplied_fills_ok and key in lagging and behind):
            problems.append(
                f"{key}: db {mine.state.value} filled {mine.filled}, "
                f"venue {order.state.value} filled {order.filled}"
            )
    for key, rows in db_rows.items():
        if key not in seen and (rows[0].state not in NEVER_REACHED_VENUE or rows[0].filled):
            problems.append(f"db order {key} is {rows[0].state.value} but not on the venue")
    return problems


def settle(service: Service, venue_file: Path, db_url: str, *, timeout: float = 60.0) -> None:
    """Once prices stop moving, wait until the engines have brought the DB level with the
    venue (read live: the running service owns the venue file meanwhile).

    "Stopped moving" means each flat simulated market has published its price: its first
    tick may still fill orders resting from before, and a ledger that agrees before that tick
    proves nothing (the service would stop with that tick's fills unapplied)."""
    assert service.venue is not None
    venue = service.venue
    flat = {
        symbol: market.price
        for symbol, market in service.config.markets.items()
        if isinstance(market, SimulatedMarket)
    }
    wait_for(
        lambda: {symbol: venue.ticker(symbol).last for symbol in flat},
        lambda prices: prices == flat,
        what="each flat market's first price",
        timeout=timeout,
    )
    wait_for(
        lambda: audit(venue_ledger(venue, venue_file), read_db(db_url)),
        lambda problems: problems == [],
        what="the DB to agree with the venue",
        timeout=timeout,
    )


# --- `martingale run` as a process --------------------------------------------------------------


@dataclass(slots=True)
class ServiceProcess:
    """One `martingale run` process; its stdout and stderr go to `log`."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_started(self, timeout: float = 60.0) -> None:
        """Until the service says it started (or the process died, which fails the test)."""
        exited, started = wait_for(
            lambda: (self.proc.poll(), "service started" in self.output()),
            lambda seen: seen[0] is not None or seen[1],
            what=f"{self.log.name} to start",
            timeout=timeout,
        )
        assert started, f"martingale run exited {exited} before starting:\n{self.output()}"

    def web_port(self, timeout: float = 60.0) -> int:
        """The port the web server listens on, read from its 'web server listening' log line:
        configs say port 0 (the OS picks a free one), so parallel workers never fight over one."""

        def listening() -> int | None:
            for line in self.output().splitlines():
                if "web server listening" in line:
                    return int(json.loads(line[line.index("{") :])["port"])
            return None

        port = wait_for(
            listening, lambda p: p is not None, what="the web server to listen", timeout=timeout
        )
        assert port is not None
        return port

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 120.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def launch(
    args: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None
) -> ServiceProcess:
    """Start `martingale <args>` in `cwd` (relative paths in configs then resolve there)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MARTINGALE, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    return ServiceProcess(proc=proc, log=log)
