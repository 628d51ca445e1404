"""The handle engines call an account's exchange through: a replaced client is closed only once
the calls it is answering have returned (closing it under a create in flight would turn a placed
order into an unknown outcome), and every later call goes to the new one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from actors.user_accounts import AccountClient
from domain.market import Ticker


class Client:
    """A client whose fetch_ticker can be held mid-call by the test."""

    def __init__(self, name: str, *, hold: bool = False) -> None:
        self.exchange_id = name
        self.closed = 0
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def fetch_ticker(self, symbol: str) -> Ticker:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        assert not self.closed, "closed while a call was in flight"
        return Ticker(symbol=symbol, bid=None, ask=None, last=Decimal("1"), timestamp=None)

    def close(self) -> None:
        self.closed += 1


def test_a_replaced_client_closes_after_its_call_in_flight_and_later_calls_go_to_the_new() -> None:
    old, new = Client("old", hold=True), Client("new")
    handle: Any = AccountClient(old)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(handle.fetch_ticker, "ETH/USDT")
        assert old.entered.wait(10)
        handle.replace(new)
        assert handle.exchange_id == "new"
        handle.fetch_ticker("ETH/USDT")  # the next call: on the new client at once
        assert (new.calls, old.closed) == (1, 0)
        old.release.set()
        assert in_flight.result(10).last == Decimal("1")
    assert (old.closed, new.closed) == (1, 0)


def test_an_idle_client_is_closed_at_once_when_replaced_or_retired() -> None:
    old, new = Client("old"), Client("new")
    handle: Any = AccountClient(old)
    handle.fetch_ticker("ETH/USDT")
    handle.replace(new)
    assert old.closed == 1
    handle.retire()
    assert new.closed == 1
