"""Helpers of bench_service.py: the generated fleet config, the database, and the fleet probe.

The config is written as a real YAML file and read back with `load_config`, so the benchmark
goes through the same validation and onboarding (`sync_config`) as `martingale run`; the child
processes of the restart test read the same file.

The probe reads the service's database from outside (a second connection), which is how an
operator would see the fleet: it never asks the actors, so it works across a SIGKILL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, create_engine, func, select, text
from sqlalchemy.engine import make_url

from config.loader import load_config
from config.schema import ServiceConfig
from persistence import models as m
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from services.onboarding import prepare_database, sync_config

QUOTE = "USDT"
START_PRICE = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetShape:
    users: int = 500
    per_user: int = 10
    symbols: int = 10
    interval: Decimal = Decimal("0.5")  # seconds between ticks of one symbol
    volatility: Decimal = Decimal("0.0002")  # per-tick standard deviation (0.02 %)
    cooldown: int = 5
    log_level: str = "warning"
    ladders: str = "spread"  # or "by-symbol": every strategy of a symbol on one deviation

    @property
    def strategies(self) -> int:
        return self.users * self.per_user


def symbol_names(count: int) -> list[str]:
    return [f"S{n:02d}/{QUOTE}" for n in range(count)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedVenue:
    """One `martingale paper-venue` process on loopback holding every paper account of the
    fleet, for several service processes (bench/process_phase.py)."""

    port: int
    token_file: Path  # the shared token, a private file
    state_file: Path  # the venue's own file

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def market_lines(shape: FleetShape) -> list[str]:
    """The `markets:` section: `symbols` simulated GBM feeds (the venue's and the services')."""
    lines = ["markets:"]
    for n, symbol in enumerate(symbol_names(shape.symbols)):
        lines += [
            f"  {symbol}:",
            "    feed: simulated",
            f"    price: {START_PRICE}",
            f"    volatility: {shape.volatility}",
            f"    seed: {1000 + n}",
            f"    interval: {shape.interval}",
            "    tick_size: 0.01",
            "    step_size: 0.0001",
            "    min_notional: 5",
        ]
    return lines


def venue_config_text(shape: FleetShape, venue: ServedVenue) -> str:
    """The YAML of the `martingale paper-venue` process serving the fleet's paper accounts: the
    same markets, its file, its port and token (the services open the accounts on it)."""
    lines = [
        "logging:",
        "  format: json",
        f"  level: {shape.log_level}",
        "paper:",
        f"  state_file: {venue.state_file}",
        "  serve:",
        f"    port: {venue.port}",
        f"    token_file: {venue.token_file}",
        *market_lines(shape),
    ]
    return "\n".join(lines) + "\n"


def config_text(
    shape: FleetShape,
    *,
    database_url: str,
    venue: ServedVenue | None = None,
    lease_seconds: int | None = None,
) -> str:
    """The YAML of a fleet: `users` x `per_user` strategies spread over `symbols` GBM markets.

    Its paper accounts are in the service's own venue file (`paper.state_file`), or, with
    `venue`, on that served venue (`paper.venue_url`, several processes sharing it); with
    `lease_seconds`, `database.lease_seconds` (MySQL leases; else the default, 20 s).

    Ladders differ per strategy (deviation 0.4-1.3 %, take-profit 0.4-1.0 %) so their levels
    spread out and a tick wakes only some of them, as with real users: strategy k trades symbol
    k mod `symbols`, and its ladder is picked by its index j within that symbol, so every
    symbol sees all 70 ladders (not one deviation per symbol, which made a tenth of the fleet
    share each level and a tick wake a hundred engines at once). `ladders="by-symbol"` keeps
    that layout as a burst stress test.
    """
    lines = ["database:", f"  url: {database_url}"]
    if lease_seconds is not None:
        lines.append(f"  lease_seconds: {lease_seconds}")
    lines += ["logging:", "  format: json", f"  level: {shape.log_level}", "paper:"]
    if venue is None:
        lines.append("  state_file: paper.sqlite")
    else:
        lines += [f"  venue_url: {venue.url}", f"  venue_token_file: {venue.token_file}"]
    lines += market_lines(shape)
    lines.append("users:")
    symbols = symbol_names(shape.symbols)
    for u in range(shape.users):
        lines += [
            f"  - name: u{u:04d}",
            f"    email: u{u:04d}@bench.example",
            "    accounts:",
            "      - name: main",
            "        exchange: paper",
            f"        balances: {{{QUOTE}: 2000}}",
            "        fee_rate: 0.001",
            "    strategies:",
        ]
        for s in range(shape.per_user):
            k = u * shape.per_user + s
            j = k // len(symbols) if shape.ladders == "spread" else k
            lines += [
                f"      - name: s{s:02d}",
                "        account: main",
                f"        symbol: {symbols[k % len(symbols)]}",
                "        base_order: 10",
                "        safety_order: 10",
                "        max_safety_orders: 5",
                f"        price_deviation: {Decimal(4 + j % 10) / 10}",
                "        step_scale: 1.2",
                "        volume_scale: 1.3",
                f"        take_profit: {Decimal(4 + (j // 10) % 7) / 10}",
                "        max_active_safety_orders: 2",
                f"        cooldown: {shape.cooldown}",
            ]
    return "\n".join(lines) + "\n"


def fresh_database(url: str) -> None:
    """An empty database at the schema head; a MySQL database of that name is recreated."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "mysql":
        name = parsed.database
        if not name or not name.startswith("bench"):
            raise SystemExit("--mysql: the database name must start with 'bench' (it is dropped)")
        server = create_engine(parsed.set(database=""))
        with server.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        server.dispose()
        upgrade(url)
    else:
        prepare_database(url)


def build(
    directory: Path,
    shape: FleetShape,
    database_url: str,
    *,
    venue: ServedVenue | None = None,
    lease_seconds: int | None = None,
    name: str = "fleet.yaml",
) -> tuple[Path, ServiceConfig]:
    """Write the config file (`config_text`), create the database and onboard the fleet."""
    path = directory / name
    text_ = config_text(shape, database_url=database_url, venue=venue, lease_seconds=lease_seconds)
    path.write_text(text_, encoding="utf-8")
    config = load_config(path)
    fresh_database(database_url)
    engine = make_engine(database_url)
    try:
        sync_config(config, SqlRepository(engine), None, now=datetime.now(UTC))
    finally:
        engine.dispose()
    return path, config


# --- the probe --------------------------------------------------------------------------------

S = m.STRATEGIES
A = m.AUDIT_LOG
ORDERS = m.Order.__table__
LEASES = m.USER_LEASES
PROCESSES = m.SERVICE_PROCESSES


@dataclass(frozen=True, slots=True, kw_only=True)
class Fleet:
    wanted: int  # strategies whose desired state is running
    running: int  # actual_state running now
    booted: int  # ...and logged "state: running" at or after `since` (loaded, reconciled, acted)
    recovered: int  # ...and a heartbeat at or after `since`
    orders_since: int  # orders created at or after `since`
    # engines restarted by their user actor (crashed or stuck), ever: a healthy run adds 0
    restarts: int
    faulted: int  # strategies given up on after too many crashes

    @property
    def all_booted(self) -> bool:
        return self.wanted > 0 and self.booted == self.wanted

    @property
    def all_recovered(self) -> bool:
        return self.wanted > 0 and self.recovered == self.wanted


class Probe:
    """Cheap enough to poll every second beside a loaded service: the audit log is read
    incrementally (rows after the last id seen), the strategies table is 5,000 short rows.
    (A correlated EXISTS per strategy cost a full core and starved the service under test.)"""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        self._since: datetime | None = None
        self._last_id = 0
        self._booted: dict[int, datetime] = {}  # strategy -> its last "state: running" seen
        self._first_order = 0  # the id of the first order created at or after `_since`

    def close(self) -> None:
        self.engine.dispose()

    def fleet(
        self, since: datetime, *, only: Collection[int] | None = None, leased: bool = False
    ) -> Fleet:
        """The fleet as the database shows it; `only`: those strategies (by id) alone, e.g. a
        killed process's (orders are counted fleet-wide whatever `only` says).

        `leased` (several processes): a strategy counts as running only while a live process
        holds its user's lease, and as booted and heartbeating only by what happened after that
        lease was claimed (and after `since`): a user handed over between processes is not
        back until its new owner has booted it, whatever the old owner wrote before."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            if since != self._since:  # then rows are read by id: ids grow with time
                self._since, self._booted = since, {}
                self._last_id = self._first_id(conn, A.c.id, A.c.at, since) - 1
                self._first_order = self._first_id(conn, ORDERS.c.id, ORDERS.c.created_at, since)
            rows = conn.execute(
                select(A.c.id, A.c.strategy_id, A.c.event, A.c.message, A.c.at).where(
                    A.c.id > self._last_id
                )
            ).all()
            for row in rows:
                self._last_id = max(self._last_id, row.id)
                if (
                    row.event == "state"
                    and row.message == ActualState.RUNNING.value
                    and row.at >= since
                    and row.strategy_id is not None
                ):
                    self._booted[row.strategy_id] = row.at
            claims = self._claims(conn) if leased else {}
            strategies = conn.execute(
                select(
                    S.c.id,
                    S.c.user_id,
                    S.c.desired_state,
                    S.c.actual_state,
                    S.c.last_heartbeat,
                    S.c.restart_count,
                )
            ).all()
            # A range of the primary key, not a scan of created_at.
            orders = conn.execute(
                select(func.count()).select_from(ORDERS).where(ORDERS.c.id >= self._first_order)
            ).scalar_one()
        if only is not None:
            chosen = set(only)
            strategies = [r for r in strategies if r.id in chosen]
        wanted = [r for r in strategies if r.desired_state == DesiredState.RUNNING.value]
        start = {
            r.id: max(since, claims[r.user_id]) if leased and r.user_id in claims else since
            for r in wanted
        }
        running = [
            r
            for r in wanted
            if r.actual_state == ActualState.RUNNING.value and (not leased or r.user_id in claims)
        ]
        booted = [r for r in running if r.id in self._booted and self._booted[r.id] >= start[r.id]]
        beating = [
            r for r in booted if r.last_heartbeat is not None and r.last_heartbeat >= start[r.id]
        ]
        return Fleet(
            wanted=len(wanted),
            running=len(running),
            booted=len(booted),
            recovered=len(beating),
            orders_since=int(orders),
            restarts=sum(r.restart_count or 0 for r in strategies),
            faulted=sum(r.actual_state == ActualState.FAULTED.value for r in strategies),
        )

    @staticmethod
    def _claims(conn: Any) -> dict[int, datetime]:
        """user id -> when its lease was claimed, for the leases a live process holds now."""
        rows = conn.execute(
            select(LEASES.c.user_id, LEASES.c.claimed_at).where(
                LEASES.c.owner.is_not(None), LEASES.c.expires_at > func.utc_timestamp(6)
            )
        ).all()
        return {int(uid): at for uid, at in rows if at is not None}

    @staticmethod
    def _first_id(conn: Any, id_column: Any, at_column: Any, since: datetime) -> int:
        """The id of the first row stamped at or after `since`; the next id if there is none."""
        first = conn.execute(select(func.min(id_column)).where(at_column >= since)).scalar()
        if first is not None:
            return int(first)
        return int(conn.execute(select(func.coalesce(func.max(id_column), 0))).scalar_one()) + 1

    def orders_between(self, start: datetime, end: datetime) -> int:
        with self.engine.connect().execution_options(readonly=True) as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(ORDERS)
                    .where(ORDERS.c.created_at >= start, ORDERS.c.created_at < end)
                ).scalar_one()
            )

    def wait(
        self,
        since: datetime,
        *,
        heartbeat: bool,
        timeout: float,
        alive: Callable[[], bool] | None = None,
        poll: float = 1.0,
        only: Collection[int] | None = None,
        leased: bool = False,
    ) -> tuple[float | None, Fleet]:
        """The `time.monotonic()` at which every wanted strategy (of `only`, if given) was seen
        booted since `since` (and, with `heartbeat`, heartbeating too; `leased`: see `fleet`);
        None on timeout or once `alive()` is false. Resolution is the poll interval (1 s), or
        twice the last read's time if longer: the probe shares the machine with what it
        measures, and reading 30,000 strategies every second took a third of a core from the
        services under test."""
        start = time.monotonic()
        fleet = self.fleet(since, only=only, leased=leased)
        took = time.monotonic() - start
        while time.monotonic() - start < timeout:
            done = fleet.all_recovered if heartbeat else fleet.all_booted
            if done:
                return time.monotonic(), fleet
            if alive is not None and not alive():
                return None, fleet
            time.sleep(max(poll, 2 * took))
            read = time.monotonic()
            fleet = self.fleet(since, only=only, leased=leased)
            took = time.monotonic() - read
        return None, fleet

    # --- several processes (leases) -----------------------------------------------------------

    def owners(self) -> dict[int, str | None]:
        """user id -> the process id holding its lease now (None: free or expired)."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(
                select(
                    LEASES.c.user_id,
                    case((LEASES.c.expires_at > func.utc_timestamp(6), LEASES.c.owner)),
                )
            ).all()
        return {int(uid): owner for uid, owner in rows}

    def process_pids(self) -> dict[str, int]:
        """Registered service process id -> its pid."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(select(PROCESSES.c.id, PROCESSES.c.pid)).all()
        return {str(pid_): int(pid) for pid_, pid in rows}

    def lease_claims(self) -> int:
        """Claims of user leases so far, all users together (each claim adds one to a token)."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            total = conn.execute(select(func.coalesce(func.sum(LEASES.c.token), 0))).scalar_one()
        return int(total)

    def strategies_of(self, users: Collection[int]) -> set[int]:
        if not users:
            return set()
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(select(S.c.id).where(S.c.user_id.in_(sorted(users)))).all()
        return {int(row.id) for row in rows}

    def repeated_order_ids(self) -> list[tuple[str, int]]:
        """Client order ids with more than one row in `orders` (any account): none, or a
        strategy was driven by two processes at once."""
        with self.engine.connect().execution_options(readonly=True) as conn:
            rows = conn.execute(
                select(ORDERS.c.client_order_id, func.count())
                .group_by(ORDERS.c.client_order_id)
                .having(func.count() > 1)
            ).all()
        return [(str(cid), int(n)) for cid, n in rows]
