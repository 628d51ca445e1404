"""The market cache's refresh rules, on a hand-moved clock."""

from __future__ import annotations

import pytest

from domain.errors import NetworkError
from exchange.ccxt_adapter.markets import MarketCache, MarketList


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Loader:
    def __init__(self) -> None:
        self.loads = 0
        self.fail = False

    def __call__(self) -> MarketList:
        if self.fail:
            raise NetworkError("venue down")
        self.loads += 1
        return [{"symbol": "BTC/USDT", "load": self.loads}]


def test_markets_expire_after_the_ttl() -> None:
    clock, load = Clock(), Loader()
    cache = MarketCache(ttl=3600, min_refresh=30, clock=clock)
    first = cache.get("binance@live", load)
    clock.now = 3599
    assert cache.get("binance@live", load) is first
    clock.now = 3600
    second = cache.get("binance@live", load)
    assert load.loads == 2 and second.generation > first.generation
    assert second.markets[0]["load"] == 2


def test_the_default_ttl_is_an_hour() -> None:
    clock, load = Clock(), Loader()
    cache = MarketCache(clock=clock)
    cache.get("k", load)
    clock.now = 3599.9
    cache.get("k", load)
    clock.now = 3600
    cache.get("k", load)
    assert load.loads == 2


def test_fresh_and_stale_reload_at_most_once_per_min_refresh() -> None:
    clock, load = Clock(), Loader()
    cache = MarketCache(ttl=3600, min_refresh=30, clock=clock)
    cache.get("k", load)
    cache.mark_stale("k")
    for _ in range(5):  # a burst of refusals and fresh reads right after a load
        cache.get("k", load, fresh=True)
    assert load.loads == 1
    clock.now = 30
    cache.get("k", load)  # stale: due now
    cache.get("k", load)
    assert load.loads == 2
    clock.now = 45
    cache.get("k", load, fresh=True)
    assert load.loads == 2
    clock.now = 60
    cache.get("k", load, fresh=True)
    assert load.loads == 3
    assert cache.get("other", load).generation != cache.get("k", load).generation


def test_an_expired_load_that_fails_serves_the_old_markets_and_retries_later() -> None:
    clock, load = Clock(), Loader()
    cache = MarketCache(ttl=100, min_refresh=30, clock=clock)
    old = cache.get("k", load)
    clock.now = 100
    load.fail = True
    assert cache.get("k", load) is old
    load.fail = False
    clock.now = 110
    assert cache.get("k", load) is old  # the failed attempt counts: no retry for 30 s
    clock.now = 130
    assert cache.get("k", load).generation > old.generation


@pytest.mark.parametrize("how", ["fresh", "stale"])
def test_a_failed_load_is_raised_when_current_rules_were_asked_for(how: str) -> None:
    clock, load = Clock(), Loader()
    cache = MarketCache(ttl=3600, min_refresh=30, clock=clock)
    cache.get("k", load)
    clock.now = 30
    load.fail = True
    if how == "stale":
        cache.mark_stale("k")
    with pytest.raises(NetworkError):
        cache.get("k", load, fresh=how == "fresh")
