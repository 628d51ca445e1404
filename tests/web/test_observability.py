"""/health/live, /health/ready and /metrics over a real actor tree (tests/actors/tree.py): the
production root, users, engines, repository writer and feeds on SQLite, with the test steering
only the edges (prices, exchange faults, the database file)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from actors import engine_actor
from domain.errors import ExchangeUnavailable, InsufficientFunds
from exchange.feeds.source import PriceSource
from exchange.paper import PaperExchange
from exchange.resilience.circuit import CircuitBreaker
from persistence.probe import DatabaseProbe
from persistence.records import ActualState, DesiredState
from services.observe import Observer
from tests.actors.fakes import FaultyExchange, wait_until
from tests.actors.tree import Tree
from web.observability import router


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine actor's retry backoff is a module constant; seconds would make tests slow."""
    monkeypatch.setattr(engine_actor, "RETRY_BASE", 0.02)
    monkeypatch.setattr(engine_actor, "RETRY_CAP", 0.1)


class ShiftedClock:
    """The wall clock plus an offset the test moves (a feed's last price then looks old)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    t = Tree(tmp_path)
    try:
        yield t
    finally:
        t.close()


def observer_of(
    tree: Tree, clock: Callable[[], datetime] | None = None, **options: Any
) -> Observer:
    probe = DatabaseProbe(tree.url, timeout_s=2.0)
    return Observer(
        telemetry=tree.telemetry,
        root=lambda: tree.root,
        database=probe.check,
        repository=lambda: tree.sql,
        clock=clock or (lambda: datetime.now(UTC)),
        **options,
    )


def client_of(observer: Observer) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.observer = observer
    return TestClient(app)


def running(tree: Tree, sid: int, *, watchers: int = 1) -> None:
    """Base, take-profit and safety 1 placed, the engine watching its levels, a price seen."""
    tree.wait_state(sid, ActualState.RUNNING)
    tree.wait_orders(sid, 3)
    wait_until(lambda: tree.watching() >= watchers, what="the engine watching its levels")


def ready_body(client: TestClient, status: int) -> dict[str, Any]:
    answer = client.get("/health/ready")
    assert answer.status_code == status, answer.json()
    body: dict[str, Any] = answer.json()
    return body


def wait_ready(client: TestClient, status: int, what: str) -> dict[str, Any]:
    """Until /health/ready answers `status` (the tree reports changes asynchronously)."""
    wait_until(lambda: client.get("/health/ready").status_code == status, interval=0.05, what=what)
    return ready_body(client, status)


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def sample(client: TestClient, name: str, **labels: str) -> float:
    return samples(client).get((name, tuple(sorted(labels.items()))), 0.0)


# --- /health/live and /health/ready ----------------------------------------------------------


def test_live_is_ok_and_ready_is_200_with_every_check_when_all_is_well(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    running(tree, sid)
    tree.source.push("100")
    client = client_of(observer_of(tree))

    live = client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    body = wait_ready(client, 200, "the service to be ready")
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"actors", "database", "feed:paper:ETH/USDT"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["actors"]["detail"] == "1/1 user actors alive; repository writer alive"


def test_ready_turns_503_while_the_database_is_unreachable(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    running(tree, sid)
    tree.source.push("100")
    client = client_of(observer_of(tree))
    wait_ready(client, 200, "the service to be ready")

    moved = tree.db_path.with_name("moved.sqlite")
    tree.db_path.rename(moved)
    tree.db_path.mkdir()  # the database path now names something no connection can open
    try:
        body = ready_body(client, 503)
        database = body["checks"]["database"]
        assert database["ok"] is False
        assert "database unavailable" in database["detail"]
        assert str(tree.db_path.parent) not in str(body)  # no path, no URL
        assert body["checks"]["actors"]["ok"] is True  # the cause is named, not everything
    finally:
        tree.db_path.rmdir()
        moved.rename(tree.db_path)
    wait_ready(client, 200, "ready again once the database is back")


def test_ready_turns_503_when_a_feed_goes_stale_or_down(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    running(tree, sid)
    tree.source.push("100")
    clock = ShiftedClock()
    client = client_of(observer_of(tree, clock, stale_after=60.0))
    wait_ready(client, 200, "the service to be ready")

    clock.offset = timedelta(seconds=120)  # two minutes without a price
    feed = ready_body(client, 503)["checks"]["feed:paper:ETH/USDT"]
    assert feed["ok"] is False and feed["detail"].startswith("stale: last price 12")
    assert sample(client, "martingale_feed_lag_seconds", venue="paper", symbol="ETH/USDT") > 60

    clock.offset = timedelta(0)
    ready_body(client, 200)
    tree.source.failing = ExchangeUnavailable("ticker endpoint down")  # polls fail from now on
    body = wait_ready(client, 503, "the feed reported down")
    feed = body["checks"]["feed:paper:ETH/USDT"]
    assert feed["ok"] is False and "ticker endpoint down" in feed["detail"]
    assert sample(client, "martingale_feed_up", venue="paper", symbol="ETH/USDT") == 0.0
    assert (
        sample(client, "martingale_errors_total", component="feed", kind="ExchangeUnavailable") >= 3
    )


class GuardedExchange(FaultyExchange):
    """A venue's client whose every call goes through a real circuit breaker, as the ccxt
    adapter's pipeline does: outages count, an open circuit fails fast without a call."""

    def __init__(self, inner: PaperExchange, circuit: CircuitBreaker) -> None:
        super().__init__(inner)
        self.circuit = circuit

    def _run(self, call: Callable[[], Any]) -> Any:
        self.circuit.before_call()
        try:
            result = super()._run(call)
        except ExchangeUnavailable as exc:
            self.circuit.record_failure(f"{type(exc).__name__}: {exc}")
            raise
        except BaseException:
            self.circuit.release()
            raise
        self.circuit.record_success()
        return result


def test_ready_turns_503_while_a_venue_circuit_breaker_is_open(tree: Tree) -> None:
    tree.reconcile_interval = 0.2  # the account's periodic pass keeps calling the venue
    sid = tree.add("alice", "main", "s1", exchange="binance")
    account = tree.strategy(sid).account_id
    circuit = CircuitBreaker("binance@live", failure_threshold=2, reset_after=0.3)
    exchange = tree.exchanges[account] = GuardedExchange(tree.exchanges[account].inner, circuit)
    tree.start()
    tree.wait_state(sid, ActualState.RUNNING)
    client = client_of(observer_of(tree))
    check = wait_ready(client, 200, "the service to be ready")["checks"]["exchange:binance@live"]
    assert check == {"ok": True, "detail": "circuit closed (1 account)"}

    exchange.outage = ExchangeUnavailable("binance: 503 Service Unavailable")
    body = wait_ready(client, 503, "the breaker to open")
    check = body["checks"]["exchange:binance@live"]
    assert check["ok"] is False
    assert "503 Service Unavailable" in check["detail"]
    assert check["detail"].startswith(("circuit open", "circuit half_open"))
    state = sample(client, "martingale_circuit_breaker_state", venue="binance@live", state="closed")
    assert state == 0.0

    exchange.outage = None  # the next probe succeeds and closes the circuit
    wait_ready(client, 200, "the breaker to close again")


def test_ready_answers_in_bounded_time_while_the_root_is_stuck_and_live_still_answers(
    tree: Tree,
) -> None:
    entered, release = threading.Event(), threading.Event()
    stuck = threading.Event()

    def paper_source() -> PriceSource:
        if stuck.is_set():  # the root builds the restarted feed's source on its own thread
            entered.set()
            release.wait(60)
        return tree.source

    tree.paper_source = paper_source
    sid = tree.add("alice", "main", "s1")
    tree.start()
    running(tree, sid)
    client = client_of(observer_of(tree, ready_timeout=0.5))
    try:
        stuck.set()
        tree.prices.crash = RuntimeError("a bug in the feed")  # the feed dies at its next price
        tree.source.push("100")
        wait_until(entered.is_set, what="the root to be stuck restarting the feed")

        body = ready_body(client, 503)
        assert body["checks"]["actors"] == {
            "ok": False,
            "detail": "the root supervisor did not answer within 0.5s",
        }
        assert body["checks"]["database"]["ok"] is True
        assert client.get("/health/live").status_code == 200
    finally:
        release.set()
    tree.source.push("100")  # the restarted feed counts as down until it publishes a price
    wait_ready(client, 200, "the root to answer again")
    assert sample(client, "martingale_restarts_total", child="feed") == 1.0
    assert sample(client, "martingale_errors_total", component="feed", kind="RuntimeError") == 1.0


def test_ready_names_a_user_actor_given_up_after_repeated_crashes(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    del tree.exchanges[tree.strategy(sid).account_id]  # its client cannot be built: a bug
    tree.start()
    client = client_of(observer_of(tree))

    # Not a first 503: between a crash and its restart the actor is briefly down too, and the
    # next answer may be 200 again while a restart is still allowed.
    wait_until(
        lambda: "given up" in client.get("/health/ready").json()["checks"]["actors"]["detail"],
        interval=0.05,
        what="the root to give the user up",
    )
    body = ready_body(client, 503)
    assert body["checks"]["actors"] == {
        "ok": False,
        "detail": "0/1 user actors alive (1 given up after repeated crashes)",
    }
    assert body["checks"]["database"]["ok"] is True
    restarts = sample(client, "martingale_restarts_total", child="user")
    assert restarts == tree.policy.max_restarts


# --- /metrics ----------------------------------------------------------------------------------


def test_metrics_count_orders_fills_and_tick_to_order_with_conventional_names(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    running(tree, sid)
    client = client_of(observer_of(tree))
    placed = ("martingale_orders_placed_total", (("side", "buy"), ("venue", "paper")))
    sold = ("martingale_orders_placed_total", (("side", "sell"), ("venue", "paper")))
    bought = ("martingale_fills_total", (("side", "buy"), ("venue", "paper")))
    # Base (filled at once), take-profit and safety 1; the counters follow the venue's answer.
    wait_until(lambda: samples(client).get(placed) == 2.0, what="two buys counted")
    figures = samples(client)
    assert (figures.get(sold), figures.get(bought)) == (1.0, 1.0)
    assert figures["martingale_tick_to_order_seconds_count", ()] == 0.0  # none caused by a tick

    tree.source.push("99")  # safety 1 fills: a new take-profit and safety 2, caused by a tick
    tree.wait_filled(sid, "s1")
    wait_until(
        lambda: samples(client).get(placed) == 3.0 and samples(client).get(sold) == 2.0,
        what="safety 2 and the new take-profit counted",
    )
    figures = samples(client)
    assert figures[bought] == 2.0
    assert figures["martingale_tick_to_order_seconds_count", ()] == 1.0  # that one tick
    wait_until(
        lambda: sample(client, "martingale_strategies", state="running") == 1.0,
        what="the strategy counted as running",
    )
    count = figures["martingale_tick_to_order_seconds_count", ()]
    assert figures["martingale_tick_to_order_seconds_bucket", (("le", "+Inf"),)] == count
    assert figures["martingale_tick_to_order_seconds_bucket", (("le", "0.005"),)] <= count

    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain; version=")
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("martingale_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
    # No user, account or strategy names anywhere: labels are venues, sides, kinds, markets.
    for name in ("alice", "main", "s1"):
        assert f'"{name}"' not in text


def test_metrics_count_rejections_crashes_restarts_and_the_writer_backlog(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    exchange = tree.exchange_of(sid)
    exchange.kill_in = 0  # the engine's first venue call crashes it: one restart
    tree.start()
    running(tree, sid)
    client = client_of(observer_of(tree))
    assert sample(client, "martingale_restarts_total", child="engine") == 1.0
    assert sample(client, "martingale_restarts_total", child="user") == 0.0
    assert sample(client, "martingale_errors_total", component="engine", kind="Crash") == 1.0

    exchange.reject[tree.coid(sid, 1, "s2")] = InsufficientFunds("not enough USDT")
    tree.source.push("99")  # safety 1 fills; safety 2 is refused by the venue
    wait_until(
        lambda: sample(client, "martingale_orders_rejected_total", venue="paper", side="buy") == 1,
        what="the refused safety order counted",
    )
    kind = sample(client, "martingale_errors_total", component="engine", kind="InsufficientFunds")
    assert kind == 1.0

    tree.repo.down.set()  # writes fail: the writer keeps the rows buffered for its next try
    tree.sql.set_desired_state(sid, DesiredState.PAUSED, now=datetime.now(UTC))
    wait_until(
        lambda: sample(client, "martingale_repository_queue_depth", queue="buffered") >= 1,
        what="the paused state buffered while the database refuses writes",
    )
    tree.repo.down.clear()
    wait_until(
        lambda: sample(client, "martingale_repository_queue_depth", queue="buffered") == 0,
        what="the buffered rows written once the database is back",
    )
