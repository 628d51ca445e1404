"""A venue outage seen by a live price feed over the real ccxt client, on a simulated clock.

The engines' calls open the shared breaker, the feed keeps polling, the venue comes back: how
long until prices flow again, and how much the feed asked the venue meanwhile. Time is a
hand-moved clock shared by the breaker and the test, so nothing sleeps and nothing is timed by
the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import ExchangeUnavailable
from exchange.ccxt_adapter import CcxtExchange
from exchange.feeds import LiveTickerSource
from exchange.resilience.circuit import CircuitBreakerRegistry
from exchange.resilience.retry import ReadRetryPolicy
from tests.integration.exchange.fake_binance import FakeBinance, Fault

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("outage", [10.0, 12.5, 95.0])
def test_prices_return_within_seconds_of_the_venue(
    make_adapter: Make, fake: FakeBinance, outage: float
) -> None:
    clock = Clock()
    circuits = CircuitBreakerRegistry(clock=clock)
    once = ReadRetryPolicy(max_attempts=1)
    feed_client = make_adapter(circuits=circuits, breaker_threshold=5)  # reads retried
    engine_client = make_adapter(circuits=circuits, retry=once, breaker_threshold=5)
    feed = LiveTickerSource(feed_client, SYM, interval=5)
    assert feed.next_tick() is not None and engine_client.fetch_balances()
    clock.now = 100.0
    back_at = clock.now + outage
    fake.inject(
        *[
            Fault.http(m, p, 503, "<html>down</html>")
            for m, p in [("GET", "ticker/24hr"), ("GET", "account")]
            for _ in range(500)
        ]
    )
    fake.reset_log()
    for _ in range(5):  # the engines meet the outage first and open the breaker
        with pytest.raises(ExchangeUnavailable):
            engine_client.fetch_balances()
    polls = 0
    while True:
        if clock.now >= back_at:
            fake.clear_faults()
        polls += 1
        if feed.next_tick() is not None:
            break
        clock.now += feed.next_delay
        assert clock.now < back_at + 600, "the feed never recovered"
    assert clock.now - back_at <= 10  # the breaker's probe period bounds it, not a backoff
    assert fake.count("GET", "ticker/24hr") <= outage / 10 + 2  # one probe per period at most
