"""Fakes shared by the engine unit tests and the actor tests: real parts, controllable faults.

Everything here wraps a real component (the paper venue, the in-memory repository) and adds
one thing a test needs to steer: a fault to inject, a clock to move, a record of what the
engine asked for. No mocks: the engine under test talks to the real venue and repository.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.engine import Engine
from actors.engine_actor import EngineActor
from actors.feed import PriceBoard
from actors.sends import SendLog
from domain.errors import DatabaseUnavailable
from domain.keys import KeyReport
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue
from persistence.memory import MemoryRepository
from persistence.records import (
    AuditEntry,
    CycleRecord,
    DesiredState,
    EngineState,
    OrderIntent,
    StepResult,
    StrategyRecord,
)

SYMBOL = "ETH/USDT"
RULES = MarketRules(
    symbol=SYMBOL,
    tick_size=Decimal("0.01"),
    step_size=Decimal("0.0001"),
    min_amount=Decimal("0.0001"),
    min_notional=Decimal("5"),
)
START_PRICE = Decimal("100")
PARAMS: dict[str, str] = {
    "base_order": "100",
    "safety_order": "100",
    "max_safety_orders": "3",
    "price_deviation": "1",
    "take_profit": "1",
    "cooldown": "60",
}


class Inbox:
    """An actor reference that keeps what it is told."""

    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)


def bare_engine_actor(**overrides: Any) -> EngineActor:
    """An engine actor built but not started, with no exchange, repository, parent or timers
    unless given: for what it does with a message outside (or before) its start path."""
    kwargs: dict[str, Any] = {
        "strategy_id": 1,
        "user_id": 1,
        "account_id": 1,
        "symbol": "ETH/BTC",
        "venue": "paper",
        "exchange": None,
        "repo": None,
        "parent": None,
        "feed": None,
        "timers": None,
        "prices": PriceBoard(),
        "fence": threading.Event(),
    }
    return EngineActor(**{**kwargs, **overrides})


class Crash(RuntimeError):
    """Stands for the process dying: not a domain error, so no policy catches it."""


class ManualClock:
    """Time the test moves by hand (no sleeping, no wall time)."""

    def __init__(self, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=seconds)
            return self.now


@dataclass
class RecordingHost:
    """The engine's Host: records timers, watched levels and reports; `fenced` trips guard()."""

    scheduled: list[tuple[datetime, str]] = field(default_factory=list)
    watched: list[tuple[Decimal | None, Decimal | None]] = field(default_factory=list)
    reports: list[tuple[str, str | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unscheduled: list[str] = field(default_factory=list)
    fenced: bool = False

    def schedule(self, at: datetime, what: str) -> None:
        self.scheduled.append((at, what))

    def unschedule(self, what: str) -> None:
        self.unscheduled.append(what)

    def watch(self, below: Decimal | None, above: Decimal | None) -> None:
        self.watched.append((below, above))

    def report(self, kind: str, detail: str | None = None, *, stored: bool = False) -> None:
        self.reports.append((kind, detail))

    def audit_entry(self, kind: str, detail: str) -> AuditEntry:
        return AuditEntry(
            at=datetime(2024, 1, 1, tzinfo=UTC),
            level="info",
            event=kind,
            message=detail,
            user_id=None,
            strategy_id=None,
        )

    def guard(self, *, exchange: bool = True) -> None:
        if self.fenced:
            raise Crash("fenced")

    def warn(self, kind: str, message: str) -> None:
        self.reports.append((kind, message))
        self.warnings.append(message)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.reports]


class FaultyStore:
    """The engine's Store over a real MemoryRepository, with switchable faults.

    `down`: every call raises DatabaseUnavailable before touching the repository (nothing is
    written). `crash_after_commit`: the next save_step commits and then raises Crash, as a
    process killed right after its transaction would.
    """

    def __init__(self, repo: MemoryRepository) -> None:
        self.repo = repo
        self.down = False
        self.crash_after_commit = False
        self.saves = 0

    def load_engine_state(self, strategy_id: int) -> EngineState:
        if self.down:
            raise DatabaseUnavailable("database is down (test)")
        return self.repo.load_engine_state(strategy_id)

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        if self.down:
            raise DatabaseUnavailable("database is down (test)")
        return self.repo.get_strategy(strategy_id)

    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int,
        new_orders: list[OrderIntent],
        order_updates: list[Order],
        fills: list[Fill],
        cycle: CycleRecord | None,
        events: list[object],
        audits: list[AuditEntry] | None = None,
    ) -> StepResult:
        if self.down:
            raise DatabaseUnavailable("database is down (test)")
        result = self.repo.save_step(
            strategy_id,
            new_version=new_version,
            snapshot=snapshot,
            expected_version=expected_version,
            now=now,
            new_orders=new_orders,
            order_updates=order_updates,
            fills=fills,
            cycle=cycle,
            events=events,
            audits=audits or [],
        )
        self.saves += 1
        if self.crash_after_commit:
            self.crash_after_commit = False
            raise Crash("killed after the commit (test)")
        return result


class FaultyExchange:
    """The Exchange port over a real PaperExchange, with faults a test switches on.

    - `outage`: every call raises this exception (e.g. ExchangeUnavailable) while it is set.
    - `before_create` / `after_create`: queued exceptions for the next creates; "before" raises
      without reaching the venue, "after" lets the venue accept the order and then raises.
    - `reject`: client order id -> exception raised (once) instead of creating that order.
    - `kill_in` / `kill_after`: a countdown over every call; at zero the call raises Crash,
      before reaching the venue (`kill_after=False`) or after the venue acted (`True`).
    """

    def __init__(self, inner: PaperExchange) -> None:
        self.inner = inner
        self.outage: Exception | None = None
        self.before_create: deque[BaseException] = deque()
        self.after_create: deque[BaseException] = deque()
        self.reject: dict[str, BaseException] = {}
        self.kill_in: int | None = None
        self.kill_after = False
        self.creates: list[str] = []
        self.fetched: list[str | None] = []  # fetch_order calls, by client order id
        self.open_order_calls = 0
        self.calls = 0
        self.closed = False
        self._lock = threading.Lock()

    def _run(self, call: Callable[[], Any]) -> Any:
        with self._lock:
            self.calls += 1
            kill = False
            if self.kill_in is not None:
                self.kill_in -= 1
                if self.kill_in < 0:
                    self.kill_in, kill = None, True
            outage = self.outage
        if kill and not self.kill_after:
            raise Crash("killed before an exchange call (test)")
        if outage is not None:
            raise outage
        result = call()
        if kill:
            raise Crash("killed after an exchange call (test)")
        return result

    @property
    def exchange_id(self) -> str:
        return self.inner.exchange_id

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        return self._run(lambda: self.inner.load_market_rules(symbol, fresh=fresh))  # type: ignore[no-any-return]

    def fetch_ticker(self, symbol: str) -> Ticker:
        return self._run(lambda: self.inner.fetch_ticker(symbol))  # type: ignore[no-any-return]

    def fetch_balances(self) -> dict[str, Balance]:
        return self._run(self.inner.fetch_balances)  # type: ignore[no-any-return]

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        return self._run(lambda: self.inner.fetch_candles(symbol, timeframe, limit))  # type: ignore[no-any-return]

    def create_order(
        self,
        *,
        client_order_id: str,
        symbol: str,
        side: Side,
        type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        cost: Decimal | None = None,
    ) -> Order:
        def create() -> Order:
            self.creates.append(client_order_id)
            if client_order_id in self.reject:
                raise self.reject.pop(client_order_id)
            if self.before_create:
                raise self.before_create.popleft()
            order = self.inner.create_order(
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                type=type,
                amount=amount,
                price=price,
                cost=cost,
            )
            if self.after_create:
                raise self.after_create.popleft()
            return order

        return self._run(create)  # type: ignore[no-any-return]

    def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        return self._run(  # type: ignore[no-any-return]
            lambda: self.inner.cancel_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            )
        )

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        self.fetched.append(client_order_id)
        return self._run(  # type: ignore[no-any-return]
            lambda: self.inner.fetch_order(
                symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
            )
        )

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        self.open_order_calls += 1
        return self._run(lambda: self.inner.fetch_open_orders(symbol))  # type: ignore[no-any-return]

    def fetch_fills(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[Fill]:
        return self._run(  # type: ignore[no-any-return]
            lambda: self.inner.fetch_fills(symbol, since=since, limit=limit)
        )

    def key_report(self) -> KeyReport:
        return self._run(self.inner.key_report)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def open_venue(path: Path, clock: Callable[[], datetime] | None = None) -> PaperVenue:
    venue = PaperVenue(path, clock=clock) if clock is not None else PaperVenue(path)
    venue.set_market_rules(RULES)
    venue.update_price(SYMBOL, START_PRICE)
    return venue


def open_paper_account(
    venue: PaperVenue, key: str, *, fee_rate: Decimal = Decimal("0"), usdt: str = "100000"
) -> PaperExchange:
    venue.open_account(key, balances={"USDT": Decimal(usdt)}, fee_rate=fee_rate)
    return PaperExchange(venue, key)


def add_strategy(
    repo: MemoryRepository,
    *,
    user: str = "alice",
    account: str = "main",
    name: str = "s1",
    params: dict[str, str] | None = None,
    now: datetime = datetime(2024, 1, 1, tzinfo=UTC),
) -> int:
    """Onboard one strategy (and its user and account if new); returns the strategy id."""
    u = repo.upsert_user(user, now=now)
    a = repo.upsert_account(u.id, account, exchange="paper", now=now)
    s = repo.upsert_strategy(
        u.id,
        name,
        account_id=a.id,
        symbol=SYMBOL,
        params=params or PARAMS,
        desired_state=DesiredState.RUNNING,
        now=now,
    )
    return s.id


@dataclass(frozen=True, slots=True)
class VenueOrder:
    client_order_id: str
    side: Side
    state: OrderState
    amount: Decimal
    filled: Decimal
    cost: Decimal


def venue_orders(path: Path, account: str) -> list[VenueOrder]:
    """Every order the venue file holds for `account`, open or closed, in placement order.

    Read straight from the venue's SQLite file (read-only), the ground truth of what reached
    the exchange, whatever the engine or its wrappers believe.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT client_order_id, side, state, amount, filled, cost FROM orders "
            "WHERE account = ? ORDER BY id",
            (account,),
        ).fetchall()
    finally:
        conn.close()
    return [
        VenueOrder(
            client_order_id=r[0],
            side=Side(r[1]),
            state=OrderState(r[2]),
            amount=Decimal(r[3]),
            filled=Decimal(r[4]),
            cost=Decimal(r[5]),
        )
        for r in rows
    ]


def duplicated_ids(orders: Sequence[VenueOrder]) -> list[str]:
    counts = Counter(o.client_order_id for o in orders)
    return sorted(coid for coid, n in counts.items() if n > 1)


def wait_until(
    condition: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.01, what: str = ""
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds.

    A bound on waiting, never an assertion about speed: a slow machine only waits longer.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


class EngineWorld:
    """One strategy wired for engine unit tests: real venue and repository, no threads.

    `engine()` builds a fresh Engine on the same store and venue, which is exactly what a
    restart after a crash does (the old instance is simply discarded).
    """

    def __init__(
        self,
        tmp_path: Path,
        *,
        params: dict[str, str] | None = None,
        fee_rate: Decimal = Decimal("0"),
        usdt: str = "100000",
    ) -> None:
        self.clock = ManualClock()
        self.path = tmp_path / "venue.sqlite"
        self.venue = open_venue(self.path, self.clock)
        self.paper = open_paper_account(self.venue, "alice", fee_rate=fee_rate, usdt=usdt)
        self.exchange = FaultyExchange(self.paper)
        self.repo = MemoryRepository(deployment_tag="kqzw")  # fixed: runs compare their ids
        self.strategy_id = add_strategy(self.repo, params=params)
        self.store = FaultyStore(self.repo)
        self.host = RecordingHost()
        self.sends = SendLog()  # one per strategy, across its engines, as the user actor keeps

    def engine(self, resubmit_grace: float = 0.0, **extra: Any) -> Engine:
        """The paper venue answers at once, so by default no grace before a resubmit."""
        return Engine(
            strategy_id=self.strategy_id,
            exchange=self.exchange,
            store=self.store,
            host=self.host,
            clock=self.clock,
            price=lambda: self.venue.ticker(SYMBOL).last,
            resubmit_grace=resubmit_grace,
            sends=self.sends,
            **extra,
        )

    def started(self) -> Engine:
        engine = self.engine()
        engine.start()
        return engine

    def move(self, price: str, seconds: float = 10) -> None:
        """Time passes and the market trades at `price` (resting orders it reaches fill)."""
        self.clock.advance(seconds)
        self.venue.update_price(SYMBOL, Decimal(price))

    def venue_orders(self) -> list[VenueOrder]:
        return venue_orders(self.path, "alice")

    def db_orders(self) -> dict[str, Order]:
        return {o.client_order_id: o for o in self.repo.list_orders(self.strategy_id)}

    def coid(self, cycle: int, leg: str) -> str:
        return f"mg{self.repo.deployment_tag()}{self.strategy_id}c{cycle}{leg}"

    def close(self) -> None:
        self.venue.close()
