"""The bridge between `martingale run` and its web process (app.web_bridge): answers, errors
that keep their type and field, errors that keep their text out, strangers refused, a call
that hangs bounded, and a close that ends it all."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path

import pytest

from app.web_bridge import BridgeClient, BridgeServer
from app.web_child import BridgedPaperExchange, BridgedView
from domain.errors import ExchangeUnavailable, FatalError, ValidationError

KEY = b"k" * 32
RELEASE = threading.Event()


def _refuse(symbol: str) -> None:
    raise ValidationError(f"no market {symbol!r}", field="symbol")


def _crash() -> None:
    raise RuntimeError("secret-ish detail from a bug")


def _hang() -> str:
    RELEASE.wait(10)
    return "late"


@pytest.fixture
def server() -> Iterator[BridgeServer]:
    RELEASE.clear()
    bridge = BridgeServer(
        {"add": lambda a, b: a + b, "refuse": _refuse, "crash": _crash, "hang": _hang},
        authkey=KEY,
    )
    bridge.start()
    try:
        yield bridge
    finally:
        RELEASE.set()
        bridge.close()


def test_a_call_is_answered_from_any_thread(server: BridgeServer) -> None:
    client = BridgeClient(server.address, KEY)
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: answers.append(client.call("add", n, 1)))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(answers) == list(range(1, 9))


def test_a_services_error_arrives_with_its_type_and_field(server: BridgeServer) -> None:
    with pytest.raises(ValidationError) as raised:
        BridgeClient(server.address, KEY).call("refuse", "DOGE/EUR")
    assert raised.value.field == "symbol" and "DOGE/EUR" in str(raised.value)


def test_a_bug_arrives_as_unavailable_without_its_text(server: BridgeServer) -> None:
    with pytest.raises(ExchangeUnavailable) as raised:
        BridgeClient(server.address, KEY).call("crash")
    assert "secret-ish" not in str(raised.value)
    with pytest.raises(ExchangeUnavailable):
        BridgeClient(server.address, KEY).call("place_order")  # not in the table


def test_a_stranger_without_the_key_is_refused(server: BridgeServer) -> None:
    with pytest.raises(AuthenticationError):
        Client(server.address, family="AF_UNIX", authkey=b"x" * 32)
    assert BridgeClient(server.address, KEY).call("add", 1, 2) == 3  # still serving
    with pytest.raises(ExchangeUnavailable):
        BridgeClient(server.address, b"x" * 32).call("add", 1, 2)


def test_a_call_that_hangs_is_bounded_and_its_late_answer_never_read(
    server: BridgeServer,
) -> None:
    client = BridgeClient(server.address, KEY)
    with pytest.raises(ExchangeUnavailable, match="did not answer"):
        client.call("hang", timeout=0.2)
    RELEASE.set()
    assert client.call("add", 2, 2) == 4  # a new connection: not the hung call's "late"


def test_close_stops_serving_and_removes_the_socket(server: BridgeServer) -> None:
    client = BridgeClient(server.address, KEY)
    assert client.call("add", 1, 1) == 2
    RELEASE.set()
    server.close()
    assert not Path(server.address).parent.exists()
    with pytest.raises(ExchangeUnavailable):
        BridgeClient(server.address, KEY).call("add", 1, 1)


def test_without_the_service_the_web_reports_not_ready_and_unknown_prices() -> None:
    bridge = BridgeClient("/nonexistent/bridge", KEY)
    view = BridgedView(bridge)
    report = view.ready(timeout_s=0.1)
    assert not report.ok and not report.checks["service"].ok
    assert view.price("paper", "ETH/BTC") is None and view.price_history("paper", "ETH/BTC") == []
    assert view.live() == {"status": "ok"}


def test_the_webs_paper_client_places_and_cancels_nothing() -> None:
    client = BridgedPaperExchange(BridgeClient("/nonexistent/bridge", KEY), "alice/main")
    with pytest.raises(FatalError):
        client.cancel_order("ETH/BTC", client_order_id="x")
    assert "k" * 32 not in repr(BridgeClient("/x", KEY))


def test_a_peer_that_never_answers_the_challenge_holds_up_no_one(server: BridgeServer) -> None:
    with socket.socket(socket.AF_UNIX) as silent:
        silent.connect(server.address)  # connected, and silent from here on
        assert BridgeClient(server.address, KEY).call("add", 20, 22) == 42
