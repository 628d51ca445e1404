"""The live ticker feed's pacing after failures, and what it reports; no sleeping anywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from domain.errors import ExchangeUnavailable, NetworkError, RateLimited
from domain.market import Ticker
from exchange.feeds import LiveTickerSource
from exchange.resilience.circuit import CircuitOpen

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Venue:
    """A fake port: `fetch_ticker` raises the queued errors, then answers 42."""

    exchange_id = "fake"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def fetch_ticker(self, symbol: str) -> Ticker:
        if self.errors:
            raise self.errors.pop(0)
        return Ticker(symbol=symbol, last=Decimal("42"), timestamp=T0)


def delays(source: LiveTickerSource, polls: int) -> list[float]:
    out = []
    for _ in range(polls):
        assert source.next_tick() is None
        out.append(source.next_delay)
    return out


def test_the_default_backoff_is_capped_at_fifteen_seconds() -> None:
    source = LiveTickerSource(Venue(*[NetworkError("down")] * 5), "X/Y", interval=5)
    assert delays(source, 5) == [10, 15, 15, 15, 15]


def test_after_a_circuit_open_the_feed_polls_when_the_breaker_admits_a_probe() -> None:
    venue = Venue(*[NetworkError("down")] * 4, CircuitOpen("open", retry_after=3.2))
    source = LiveTickerSource(venue, "X/Y", interval=5)
    assert delays(source, 5)[-1] == 3.2  # not the backoff (15 s) the four failures built up
    assert source.next_tick() is not None and source.next_delay == 5


def test_a_rate_limits_retry_after_stays_a_floor() -> None:
    source = LiveTickerSource(Venue(RateLimited("banned", retry_after=120)), "X/Y", interval=5)
    assert delays(source, 1) == [120]


def test_a_day_long_outage_keeps_a_finite_backoff() -> None:
    source = LiveTickerSource(Venue(), "X/Y", interval=5)
    source.consecutive_errors = 5000  # a poll every 15 s for 20 hours
    source.last_error = NetworkError("still down")
    assert source.next_delay == 15


def test_the_first_failure_each_new_cause_and_the_recovery_are_logged() -> None:
    venue = Venue(
        NetworkError("timeout"),
        NetworkError("timeout"),
        CircuitOpen("binance@live: circuit open (last: NetworkError: timeout)", retry_after=4),
    )
    source = LiveTickerSource(venue, "X/Y", interval=5)
    with capture_logs() as logs:
        delays(source, 3)
        assert source.next_tick() is not None
    assert [(e["event"], e.get("failed_polls")) for e in logs] == [
        ("feed.poll_failed", 1),
        ("feed.poll_failed", 3),
        ("feed.poll_recovered", 3),
    ]
    assert "last: NetworkError: timeout" in logs[1]["error"]


@pytest.mark.parametrize("max_backoff", [0.5, 5])
def test_the_cap_is_never_below_the_interval(max_backoff: float) -> None:
    source = LiveTickerSource(
        Venue(ExchangeUnavailable("x")), "X/Y", interval=5, max_backoff=max_backoff
    )
    assert delays(source, 1) == [5]
