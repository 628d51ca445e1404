"""The observability routes over a whole `app.bootstrap.Service` (the paper exchange with a
simulated market, on SQLite and MySQL), built the way the web app builds it: `observer_for`.
And the database check through a MySQL connection that stops answering, then is cut."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.bootstrap import Service, Tuning
from config.loader import load_config
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.probe import DatabaseProbe
from persistence.records import ActualState
from persistence.sql_repository import SqlRepository
from services.observe import Observer, observer_for
from services.onboarding import sync_config
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree
from tests.integration.app.conftest import SIMULATED_ETH_BTC, alice_eth_btc
from tests.integration.persistence.tcp_proxy import FreezableProxy, proxy, through

__all__ = ["proxy"]  # the fixture, imported
from web.observability import router


def client_of(observer: Observer) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.observer = observer
    return TestClient(app)


def figures(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def figure(client: TestClient, name: str, **labels: str) -> float:
    return figures(client).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    """A started service: one user, one ETH/BTC strategy on a simulated paper market."""
    upgrade(db_url)
    path = tmp_path / "service.yaml"
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=tmp_path / "paper.sqlite")
    path.write_text(f"database:\n  url: {db_url}\n{body}", encoding="utf-8")
    config = load_config(path)
    engine = make_engine(db_url)
    try:
        sync_config(config, SqlRepository(engine), None, now=datetime.now(UTC))
    finally:
        engine.dispose()
    running = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_a_paper_cycle_shows_in_metrics_and_the_service_is_ready(service: Service) -> None:
    client = client_of(observer_for(service))
    paper = {"venue": "paper"}

    # The simulated market moves until the take-profit sells the cycle's position.
    wait_until(
        lambda: figure(client, "martingale_fills_total", side="sell", **paper) >= 1,
        timeout=120,
        what="a take-profit fill (a whole paper cycle)",
    )
    counted = figures(client)
    placed = counted["martingale_orders_placed_total", frozenset({"side": "buy", **paper}.items())]
    assert placed >= 2  # the base order and at least safety 1
    assert counted["martingale_fills_total", frozenset({"side": "buy", **paper}.items())] >= 1
    wait_until(
        lambda: figure(client, "martingale_strategies", state=ActualState.RUNNING.value) == 1,
        what="the running strategy counted from the database",
    )
    assert figure(client, "martingale_feed_up", venue="paper", symbol="ETH/BTC") == 1.0

    answer = client.get("/health/ready")
    assert answer.status_code == 200, answer.json()
    assert set(answer.json()["checks"]) == {"actors", "database", "feed:paper:ETH/BTC"}
    assert "alice" not in client.get("/metrics").text


# --- MySQL through a proxy: silent, then cut ---------------------------------------------------


@pytest.mark.timeout(120)
def test_ready_stays_bounded_while_mysql_is_silent_and_turns_503_when_it_is_cut(
    mysql_url: str, proxy: FreezableProxy, tmp_path: Path
) -> None:
    upgrade(mysql_url)
    tree = Tree(tmp_path)  # the actors, on their own database: this test is about the probe
    try:
        tree.start()
        # The probe waits 3 s, the request 0.5 s: the second request below still finds the
        # first probe waiting on a loaded machine (with 1 s it had sometimes given up already).
        probe = DatabaseProbe(through(mysql_url, proxy), timeout_s=3.0)
        observer = Observer(
            telemetry=tree.telemetry,
            root=lambda: tree.root,
            database=probe.check,
            repository=lambda: tree.sql,
            ready_timeout=0.5,
        )
        client = client_of(observer)
        answer = client.get("/health/ready")
        assert answer.status_code == 200, answer.json()

        proxy.freeze()  # connections are accepted and then hear nothing
        body = client.get("/health/ready").json()
        assert body["checks"]["database"] == {
            "ok": False,
            "detail": "the database gave no answer in 0.5s",
        }
        connections = len(proxy._sockets)
        again = client.get("/health/ready")  # joins the probe still waiting: no second connection
        assert again.status_code == 503
        assert again.json()["checks"]["database"]["detail"].startswith("the database gave no")
        assert len(proxy._sockets) == connections

        proxy.close()  # cut: nothing listens any more

        def database() -> str:
            return str(client.get("/health/ready").json()["checks"]["database"]["detail"])

        # Once the silent probe has given up (its own timeout), the next one is refused.
        wait_until(lambda: "unavailable" in database(), timeout=30, what="the cut reported")
        detail = database()
        assert detail.startswith("database unavailable during health check")
        assert "127.0.0.1" not in detail and "root" not in detail
    finally:
        tree.close()
