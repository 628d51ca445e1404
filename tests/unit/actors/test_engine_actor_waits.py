"""The engine actor's waits: exchange calls count as known waits, and a retry after a refusal
waits what the venue asked for (issue 11, items 6 and 11)."""

from __future__ import annotations

import random
import threading
from typing import Any, cast

from actors.admission import Liveness
from actors.engine_waits import WatchedExchange as _WatchedExchange
from actors.engine_waits import retry_delay
from domain.errors import ExchangeUnavailable, RateLimited
from exchange.resilience.circuit import CircuitOpen


class _Blocking:
    exchange_id = "slow"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def fetch_ticker(self, symbol: str) -> str:
        self.entered.set()
        assert self.release.wait(10)
        return symbol


def test_an_exchange_call_is_a_known_wait_for_the_heartbeat_check() -> None:
    liveness = Liveness()
    inner = _Blocking()
    watched = cast(Any, _WatchedExchange(cast(Any, inner), liveness))
    assert watched.exchange_id == "slow"
    thread = threading.Thread(target=watched.fetch_ticker, args=("ETH/USDT",))
    with liveness.busy():
        thread.start()
        assert inner.entered.wait(10)
        wait = liveness.waiting_on()
        inner.release.set()
        thread.join(10)
    assert wait is not None and wait[0] == "exchange"
    assert liveness.waiting_on() is None


def test_a_retry_waits_what_the_venue_asked_for_not_a_growing_backoff() -> None:
    rng = random.Random(1)
    for failures in (1, 5, 9):
        delay = retry_delay(
            RateLimited("429", retry_after=2.0), failures, base=1.0, cap=60.0, rng=rng
        )
        assert 2.0 <= delay <= 2.25
        probe = retry_delay(
            CircuitOpen("binance@live: circuit open", retry_after=7.5),
            failures,
            base=1.0,
            cap=60.0,
            rng=rng,
        )
        assert 7.5 <= probe <= 8.35


def test_without_a_hint_the_retry_backs_off_exponentially_within_the_cap() -> None:
    rng = random.Random(2)
    delays = [
        retry_delay(ExchangeUnavailable("down"), n, base=1.0, cap=60.0, rng=rng)
        for n in range(1, 20)
    ]
    assert all(0 <= d <= 60.0 for d in delays)
    assert max(delays[:2]) <= 4.0
