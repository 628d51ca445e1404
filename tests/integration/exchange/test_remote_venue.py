"""`RemoteVenue` when the wire fails: what nothing reached is `ExchangeUnavailable`, a place or
cancel whose answer was lost is `OrderOutcomeUnknown` (DESIGN rule 4: looked up, never resent),
a lost read is `NetworkError`; a wrong token is refused without being logged."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.venue_server import OPERATIONS, _run
from domain.errors import (
    AuthenticationFailed,
    ExchangeUnavailable,
    NetworkError,
    OrderOutcomeUnknown,
)
from domain.market import MarketRules
from domain.orders import OrderType, Side
from domain.secrets import Secret
from exchange.paper import PaperVenue
from exchange.paper.remote import RemoteVenue
from tests.integration.exchange.served_venue import serving

SYM = "BTC/USDT"


def _place(client: RemoteVenue, coid: str = "mg1c1b") -> object:
    return client.place(
        "acct",
        client_order_id=coid,
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.001"),
        price=Decimal("29000"),
    )


@contextmanager
def scripted(behaviour: str, seen: list[str] | None = None) -> Iterator[str]:
    """A server that answers every POST by `behaviour`: "stall" (never answers in time),
    "502" (a proxy's error page, not the venue's answer) or "drop" (closes the connection
    without a word, as a server closing an idle connection does). `seen`: the paths asked."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if seen is not None:
                seen.append(self.path)
            if behaviour == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if behaviour == "stall":
                release.wait(5)
                return
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>Bad Gateway</html>")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_unavailable_for_reads_and_places_alike() -> None:
    client = RemoteVenue(f"http://127.0.0.1:{_closed_port()}", Secret("token-123456"))
    with pytest.raises(ExchangeUnavailable, match="cannot connect"):
        client.ticker(SYM)
    with pytest.raises(ExchangeUnavailable) as caught:
        _place(client)
    assert not isinstance(caught.value, OrderOutcomeUnknown)  # nothing was sent


def test_a_place_without_an_answer_is_an_unknown_outcome_and_a_read_a_network_error() -> None:
    with scripted("stall") as url:
        client = RemoteVenue(url, Secret("token-123456"), read_timeout=0.3)
        with pytest.raises(OrderOutcomeUnknown) as caught:
            _place(client, "mg7c3s2")
        assert caught.value.client_order_id == "mg7c3s2"
        with pytest.raises(OrderOutcomeUnknown):
            client.cancel("acct", SYM, None, "mg7c3s2")
        with pytest.raises(NetworkError):
            client.order("acct", SYM, None, "mg7c3s2")


def test_a_5xx_that_is_not_the_venues_answer_is_unknown_for_a_place_only() -> None:
    with scripted("502") as url:
        client = RemoteVenue(url, Secret("token-123456"))
        with pytest.raises(OrderOutcomeUnknown, match="HTTP 502"):
            _place(client)
        with pytest.raises(ExchangeUnavailable) as caught:
            client.open_orders("acct", SYM)
        assert not isinstance(caught.value, OrderOutcomeUnknown)


def test_a_dropped_connection_is_tried_once_more_for_a_read_never_for_a_write() -> None:
    seen: list[str] = []
    with scripted("drop", seen) as url:
        client = RemoteVenue(url, Secret("token-123456"))
        with pytest.raises(NetworkError):
            client.open_orders("acct", SYM)
        assert seen == ["/v1/open_orders", "/v1/open_orders"]  # a closed idle connection
        seen.clear()
        with pytest.raises(OrderOutcomeUnknown):
            _place(client, "mg7c3s9")
        with pytest.raises(OrderOutcomeUnknown):
            client.cancel("acct", SYM, None, "mg7c3s9")
        with pytest.raises(NetworkError):
            client.deposit("acct", "USDT", Decimal(1))  # not repeatable by itself
        assert seen == ["/v1/place", "/v1/cancel", "/v1/deposit"]  # each sent once


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[PaperVenue]:
    venue = PaperVenue(tmp_path / "paper.sqlite")
    venue.set_market_rules(MarketRules(symbol=SYM, tick_size=Decimal("0.01")))
    venue.open_account("acct", balances={"USDT": Decimal("1000")})
    venue.update_price(SYM, Decimal("30000"))
    yield venue
    venue.close()


def test_a_wrong_token_is_refused_and_never_logged(
    venue: PaperVenue, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-token-do-not-log-me"
    with serving(venue) as url:
        client = RemoteVenue(url, Secret(wrong))
        with pytest.raises(AuthenticationFailed, match="refused our token"):
            client.balances("acct")
        with pytest.raises(AuthenticationFailed):
            _place(client)
    out = capsys.readouterr()
    assert "request refused" in out.out + out.err  # the refusal is logged...
    assert wrong not in out.out + out.err  # ...without the token
    assert venue.open_orders("acct", None) == []


def test_a_place_that_waited_past_its_budget_is_refused_not_placed(venue: PaperVenue) -> None:
    args = {
        "account": "acct",
        "client_order_id": "mg1c1b",
        "symbol": SYM,
        "side": "buy",
        "type": "limit",
        "amount": "0.001",
        "price": "29000",
        "budget_s": 1.0,
    }
    late = _run(venue, "place", OPERATIONS["place"], args, time.monotonic() - 2.0)
    assert late.status_code == 503
    assert b"exchange_unavailable" in late.body
    assert venue.open_orders("acct", None) == []
    in_time = _run(venue, "place", OPERATIONS["place"], args, time.monotonic())
    assert in_time.status_code == 200
    assert [o.client_order_id for o in venue.open_orders("acct", None)] == ["mg1c1b"]
