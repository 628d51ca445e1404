"""A real actor tree for tests: RootSupervisor, users, engines, repository and feed actors.

The parts are the production ones; the test steers only the edges: a scripted price source
it pushes prices into, per-account exchange wrappers with switchable faults, and a repository
wrapper whose writes fail while `down` is set. Accounts on another exchange than "paper" trade
on a second paper venue standing in for it, and their markets' feeds are scripted sources the
root asks for on demand (`live_sources`, one per venue key). SQLite (a temp file) is the database, so the
test thread reads what the actors wrote through its own connection.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pykka

from actors.admission import BootGate
from actors.feed import PriceBoard
from actors.notify_queue import Notifications
from actors.root import FeedSpec, RootSupervisor
from actors.supervision import RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable
from exchange.feeds.source import PriceSource, PriceTick
from exchange.port import Exchange
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import AccountRecord, ActualState, DesiredState, StrategyRecord
from persistence.repository import Repository
from persistence.sql_repository import SqlRepository
from tests.actors.fakes import (
    PARAMS,
    SYMBOL,
    FaultyExchange,
    VenueOrder,
    open_paper_account,
    open_venue,
    venue_orders,
    wait_until,
)

FAST_POLICY = RestartPolicy(max_restarts=3, window=60.0, base_delay=0.01, max_delay=0.05)
T0 = datetime(2024, 1, 1, tzinfo=UTC)

# Writes the service makes; reads (load_engine_state, list_*, get_*) keep working.
WRITES = frozenset(
    {
        "save_step",
        "save_steps",
        "record_order_intent",
        "update_order",
        "apply_fill",
        "upsert_cycle",
        "close_cycle",
        "set_actual_state",
        "set_desired_state",
        "increment_restart_count",
        "record_heartbeats",
        "append_events",
        "append_audit",
    }
)


class ScriptedSource:
    """A PriceSource the test feeds by hand: `push(price)`; no tick while nothing is queued.

    `failing`: while set, every poll fails with it, kept in `last_error` as LiveTickerSource
    keeps a failed poll's error."""

    def __init__(self, symbol: str = SYMBOL, delay: float = 0.01) -> None:
        self._symbol = symbol
        self._delay = delay
        self._queue: deque[Decimal] = deque()
        self._lock = threading.Lock()
        self.published = 0
        self.failing: Exception | None = None
        self.last_error: Exception | None = None

    def push(self, *prices: str) -> None:
        with self._lock:
            self._queue.extend(Decimal(p) for p in prices)

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def interval(self) -> float:
        return self._delay

    @property
    def next_delay(self) -> float:
        return self._delay

    @property
    def finished(self) -> bool:
        return False

    def next_tick(self) -> PriceTick | None:
        with self._lock:
            self.last_error = self.failing
            if self.failing is not None or not self._queue:
                return None
            price = self._queue.popleft()
            self.published += 1
        return PriceTick(symbol=self._symbol, price=price, timestamp=datetime.now(UTC))

    def drained(self) -> bool:
        with self._lock:
            return not self._queue

    def close(self) -> None:
        pass


class CrashingBoard(PriceBoard):
    """The feeds' price board with a bug switched on: `crash` makes the next `set` raise it,
    which kills the feed actor publishing (a bug in the feed itself, not in its source)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash: Exception | None = None

    def set(self, venue: str, symbol: str, price: Decimal, at: datetime) -> None:
        crash, self.crash = self.crash, None
        if crash is not None:
            raise crash
        super().set(venue, symbol, price, at)


class FlakyRepository:
    """A real repository whose writes raise DatabaseUnavailable while `down` is set."""

    def __init__(self, inner: Repository) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.refused: dict[str, int] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            if self.down.is_set():
                with self._lock:
                    self.refused[name] = self.refused.get(name, 0) + 1
                raise DatabaseUnavailable(f"{name}: database is down (test)")
            return attr(*args, **kwargs)

        return write

    def refusals(self, name: str) -> int:
        with self._lock:
            return self.refused.get(name, 0)


class Tree:
    """Build users/strategies with `add`, then `start()`; `close()` always (in `finally`)."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        policy: RestartPolicy = FAST_POLICY,
        heartbeat_interval: float = 30.0,
        gate: BootGate | None = None,
        max_known_wait: float = 300.0,
        reconcile_interval: float = 60.0,
        engine_threads: int = 64,
        boot_slots: int = 32,
    ) -> None:
        """`engine_threads`: the engines' shared workers (actors.pool), 0 for a thread each."""
        self.gate = gate
        self.engine_threads = engine_threads
        self.boot_slots = boot_slots
        self.max_known_wait = max_known_wait
        self.reconcile_interval = reconcile_interval
        url = self.url = f"sqlite:///{tmp_path / 'martingale.sqlite'}"
        self.db_path = tmp_path / "martingale.sqlite"
        upgrade(url)
        self.telemetry = Telemetry()  # what the tree counts (actors.telemetry)
        self._db = make_engine(url)
        self.sql = SqlRepository(self._db)
        self.repo = FlakyRepository(self.sql)
        self.venue_path = tmp_path / "venue.sqlite"
        self.venue = open_venue(self.venue_path)
        self.source = ScriptedSource()
        self.live_venue_path = tmp_path / "live-venue.sqlite"
        self.live_venue = open_venue(self.live_venue_path)
        self.live_sources: dict[str, ScriptedSource] = {}
        self.live_feeds_built: list[tuple[str, str]] = []  # (venue, symbol) the root asked for
        self.prices = CrashingBoard()
        self.paper_source: Callable[[], PriceSource] = lambda: self.source
        self.timers = TimerService()
        self.policy = policy
        self.heartbeat_interval = heartbeat_interval
        self.exchanges: dict[int, FaultyExchange] = {}
        self.account_keys: dict[int, str] = {}
        # Every client the user actors asked for, per account. With `fresh_clients`, each ask
        # after an account's first builds a new client on the same venue account, as the
        # service's factory builds one on the key stored at that moment.
        self.clients: dict[int, list[FaultyExchange]] = {}
        self.fresh_clients = False
        self.root: pykka.ActorRef[Any] | None = None
        self.notifications: Notifications | None = None  # users' notifications' inbox, if any

    def add(
        self,
        user: str,
        account: str,
        name: str,
        params: dict[str, str] | None = None,
        *,
        exchange: str = "paper",
        sandbox: bool = False,
        base_url: str | None = None,
        desired: DesiredState = DesiredState.RUNNING,
    ) -> int:
        u = self.sql.upsert_user(user, now=T0)
        a = self.sql.upsert_account(
            u.id, account, exchange=exchange, now=T0, sandbox=sandbox, base_url=base_url
        )
        if a.id not in self.exchanges:
            key = f"{user}/{account}"
            self.account_keys[a.id] = key
            venue = self.venue if exchange == "paper" else self.live_venue
            self.exchanges[a.id] = FaultyExchange(open_paper_account(venue, key))
        s = self.sql.upsert_strategy(
            u.id,
            name,
            account_id=a.id,
            symbol=SYMBOL,
            params=params or {**PARAMS, "cooldown": "1"},
            desired_state=desired,
            now=T0,
        )
        return s.id

    def exchange_of(self, strategy_id: int) -> FaultyExchange:
        return self.exchanges[self.sql.get_strategy(strategy_id).account_id]

    def _exchange_for(self, account_id: int) -> Exchange:
        handed = self.clients.setdefault(account_id, [])
        client = self.exchanges[account_id]
        if self.fresh_clients and handed:
            paper = self.sql.get_account(account_id).exchange == "paper"
            venue = self.venue if paper else self.live_venue
            client = FaultyExchange(open_paper_account(venue, self.account_keys[account_id]))
        handed.append(client)
        return client

    def _live_feed(self, account: AccountRecord, symbol: str) -> FeedSpec:
        self.live_feeds_built.append((account.venue, symbol))
        source = self.live_sources.setdefault(account.venue, ScriptedSource(symbol))
        return FeedSpec(venue=account.venue, symbol=symbol, source=lambda: source)

    def start(self) -> None:
        self.root = RootSupervisor.start(
            repo=cast(Repository, self.repo),
            feeds=[
                FeedSpec(venue="paper", symbol=SYMBOL, source=self.paper_source, paper=self.venue)
            ],
            exchange_for=self._exchange_for,
            live_feed=self._live_feed,
            timers=self.timers,
            prices=self.prices,
            policy=self.policy,
            poll_interval=0.1,
            heartbeat_interval=self.heartbeat_interval,
            gate=self.gate,
            boot_slots=self.boot_slots,
            engine_threads=self.engine_threads,
            max_known_wait=self.max_known_wait,
            reconcile_interval=self.reconcile_interval,
            telemetry=self.telemetry,
            notifications=self.notifications,
        )

    def stop(self) -> None:
        if self.root is not None:
            self.root.stop(timeout=60)
            self.root = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            pykka.ActorRegistry.stop_all(timeout=30)
            self.timers.stop()
            self.venue.close()
            self.live_venue.close()
            self._db.dispose()

    # --- reading the outcome ---------------------------------------------------------------

    def coid(self, strategy_id: int, cycle: int | None, leg: str) -> str:
        """A client order id of this database (cycle None: the prefix of all of them)."""
        tag = self.sql.deployment_tag()
        return f"mg{tag}{strategy_id}c" + ("" if cycle is None else f"{cycle}{leg}")

    def strategy(self, strategy_id: int) -> StrategyRecord:
        return self.sql.get_strategy(strategy_id)

    def user_refs(self) -> dict[int, Any]:
        """The root's user actors by user id."""
        assert self.root is not None
        return self.root.proxy().user_refs().get(timeout=10)  # type: ignore[no-any-return]

    def orders_of(self, strategy_id: int) -> list[VenueOrder]:
        account_id = self.sql.get_strategy(strategy_id).account_id
        key = self.account_keys[account_id]
        paper = self.sql.get_account(account_id).exchange == "paper"
        path = self.venue_path if paper else self.live_venue_path
        prefix = self.coid(strategy_id, None, "")
        return [o for o in venue_orders(path, key) if o.client_order_id.startswith(prefix)]

    def wait_state(self, strategy_id: int, state: ActualState, timeout: float = 15.0) -> None:
        wait_until(
            lambda: self.strategy(strategy_id).actual_state is state,
            timeout=timeout,
            what=f"strategy {strategy_id} to be {state.value} "
            f"(is {self.strategy(strategy_id).actual_state.value})",
        )

    def wait_orders(self, strategy_id: int, count: int, timeout: float = 15.0) -> None:
        wait_until(
            lambda: len(self.orders_of(strategy_id)) >= count,
            timeout=timeout,
            what=f"{count} venue orders of strategy {strategy_id}",
        )

    def watching(self, market: str = f"paper:{SYMBOL}") -> int:
        """How many engines the feed wakes on price moves (registered watch levels)."""
        return int(self.feed_stats()[market]["watching"])

    def feed_stats(self) -> dict[str, dict[str, int]]:
        assert self.root is not None
        return self.root.proxy().feed_stats().get(timeout=10)  # type: ignore[no-any-return]

    def wait_filled(self, strategy_id: int, leg: str, timeout: float = 15.0) -> None:
        """Until the DB row of order `leg` (cycle 1) is FILLED: the engine applied the fill."""
        coid = self.coid(strategy_id, 1, leg)

        def filled() -> bool:
            rows = {o.client_order_id: o for o in self.sql.list_orders(strategy_id)}
            row = rows.get(coid)
            return row is not None and row.state.value == "filled"

        wait_until(filled, timeout=timeout, what=f"{coid} filled in the database")
