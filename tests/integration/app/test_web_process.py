"""The web in a process of its own (`web.mode: process`, app.web_process): what only the
trading process holds crosses the bridge (prices, /health/ready, /metrics, the paper venue),
the web never trades, it is restarted when it dies, and it never outlives the service."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import Service, Tuning
from app.web_bridge import BridgeClient
from app.web_process import WebProcess
from config.loader import load_config
from domain.errors import ConfigurationError, FatalError
from persistence.sql_repository import SqlRepository
from services.tokens import issue_token
from tests.integration.app.conftest import alice_trading, wait


@pytest.fixture
def served(
    resting_alice: tuple[Path, SqlRepository],
) -> Iterator[tuple[Service, WebProcess, httpx.Client, SqlRepository]]:
    path, repo = resting_alice
    config = load_config(path)
    web = WebProcess(config, vault=None, port=0)
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2), web=web)
    service.start()
    user = repo.find_user("alice")
    assert user is not None
    token = issue_token(repo, user.id, name="t", now=datetime.now(UTC)).secret
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{web.bound_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    try:
        yield service, web, client, repo
    finally:
        client.close()
        service.stop()


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_web_serves_from_its_own_process_with_the_services_answers(
    served: tuple[Service, WebProcess, httpx.Client, SqlRepository],
) -> None:
    service, web, client, repo = served
    assert web.pid is not None and web.pid != os.getpid()
    strategy = repo.list_strategies(user_id=repo.find_user("alice").id)[0]  # type: ignore[union-attr]
    alice_trading(service, repo, strategy.id)
    # /health/ready is the service's own report: its actor tree, feeds and breakers.
    wait(lambda: client.get("/health/ready").status_code == 200, "the service ready")
    checks = client.get("/health/ready").json()["checks"]
    assert {"actors", "database"} <= set(checks)
    assert any(name.startswith("feed") for name in checks), checks
    assert b"martingale_" in client.get("/metrics").content
    # The paper venue's balances are the service's venue's, read across the bridge.
    account = _ok(client.get("/api/v1/accounts"))[0]
    held = _ok(client.get(f"/api/v1/accounts/{account['id']}/balances"))["balances"]
    assert service.venue is not None
    assert Decimal(held["ETH"]["total"]) == service.venue.balances("alice/main")["ETH"].total
    # A preview with no start price takes the paper market's price from the service.
    preview = client.post(
        "/api/v1/strategies?dry_run=true",
        json={
            "name": "eth2",
            "account": account["name"],
            "symbol": "ETH/BTC",
            "params": {
                "base_order": "0.002",
                "safety_order": "0.004",
                "max_safety_orders": 3,
                "price_deviation": "1.5",
                "take_profit": "1.5",
            },
        },
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["plan"]["levels"]
    # A paper account created through the API is opened on the service's venue.
    made = client.post(
        "/api/v1/accounts", json={"name": "spare", "exchange": "paper", "balances": {"BTC": "2"}}
    )
    assert made.status_code == 201, made.text
    assert service.venue.balances("alice/spare")["BTC"].total == 2


def test_the_web_may_read_paper_accounts_but_never_trade_on_them(
    served: tuple[Service, WebProcess, httpx.Client, SqlRepository],
) -> None:
    _service, web, _client, _repo = served
    bridge = BridgeClient(web._bridge.address, web._authkey)  # type: ignore[union-attr]
    assert "BTC" in bridge.call("paper", "alice/main", "fetch_balances", (), {})
    order = {"client_order_id": "x", "symbol": "ETH/BTC", "side": "buy", "type": "market"}
    with pytest.raises(FatalError, match="may not call 'create_order'"):
        bridge.call("paper", "alice/main", "create_order", (), order)
    # The bridge's key reached the web through its stdin: not its command line nor environment.
    assert web.pid is not None
    for place in ("cmdline", "environ"):
        assert web._authkey not in Path(f"/proc/{web.pid}/{place}").read_bytes()


def test_a_web_that_dies_is_restarted_on_the_same_port(
    served: tuple[Service, WebProcess, httpx.Client, SqlRepository],
) -> None:
    _service, web, client, _repo = served
    first = web.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait(lambda: web.restarts == 1 and web.pid != first, "the web restarted", timeout=60)
    wait(lambda: _answers(client), "the restarted web answering", timeout=30)
    assert client.get("/health/live").json() == {"status": "ok"}


def test_stopping_the_service_stops_its_web(
    resting_alice: tuple[Path, SqlRepository],
) -> None:
    path, _repo = resting_alice
    web = WebProcess(load_config(path), vault=None, port=0)
    service = Service(load_config(path), vault=None, web=web)
    service.start()
    pid = web.pid
    assert pid is not None
    service.stop()
    assert not _alive(pid)
    assert not _answers(httpx.Client(base_url=f"http://127.0.0.1:{web.bound_port}", timeout=2))


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/health/live").status_code == 200
    except httpx.TransportError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_port_in_use_is_a_clear_error_naming_the_field_and_the_service_stops(
    resting_alice: tuple[Path, SqlRepository],
) -> None:
    path, _repo = resting_alice
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = Service(
            load_config(path), vault=None, web=WebProcess(load_config(path), vault=None, port=port)
        )
        with pytest.raises(ConfigurationError) as raised:
            service.start()
    assert raised.value.field == "web.port"
    assert f"127.0.0.1:{port}" in str(raised.value)
    again = Service(load_config(path), vault=None)  # the one-service lock was released
    again.start()
    again.stop()
