"""Fixtures for the ccxt adapter: a fake binance on 127.0.0.1 and adapters pointed at it.

Each adapter gets its own rate-limit, circuit-breaker and market registries so tests do not
share state through the process-wide ones, and a recording sleep so retries cost no time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from domain.secrets import Secret
from exchange.ccxt_adapter import CcxtConfig, CcxtExchange
from exchange.ccxt_adapter.markets import MarketCache
from exchange.resilience.account import AccountGuardRegistry
from exchange.resilience.circuit import CircuitBreakerRegistry
from exchange.resilience.rate_limit import RateLimit, RateLimiterRegistry
from exchange.resilience.retry import ReadRetryPolicy
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue

API_KEY = "test-api-key-0123456789"
API_SECRET = "test-secret-abcdefghijklmnop"
CLIENT_TIMEOUT_MS = 800
STALL_S = 1.3  # past the client timeout, so the client gives up first


@dataclass
class SleepLog:
    slept: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def venue() -> Venue:
    v = Venue()
    v.add_symbol(FakeSymbol("BTC", "USDT", Decimal("30000")))
    v.add_symbol(
        FakeSymbol(
            "ETH",
            "BTC",
            Decimal("0.05"),
            tick=Decimal("0.00001"),
            step=Decimal("0.0001"),
            min_qty=Decimal("0.0001"),
            min_notional=Decimal("0.0001"),
        )
    )
    v.deposit("USDT", Decimal("10000"))
    v.deposit("BTC", Decimal("1"))
    return v


@pytest.fixture
def fake(venue: Venue) -> Iterator[FakeBinance]:
    server = FakeBinance(venue, api_key=API_KEY, secret=API_SECRET)
    server.base_url = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def sleep_log() -> SleepLog:
    return SleepLog()


@pytest.fixture
def make_adapter(fake: FakeBinance, sleep_log: SleepLog) -> Iterator[Callable[..., CcxtExchange]]:
    made: list[CcxtExchange] = []
    circuits = CircuitBreakerRegistry()
    markets = MarketCache()
    limiters = RateLimiterRegistry()
    accounts = AccountGuardRegistry()

    def make(**overrides: Any) -> CcxtExchange:
        retry = overrides.pop(
            "retry", ReadRetryPolicy(sleep=sleep_log, rng=random.Random(7), max_attempts=3)
        )
        settings: dict[str, Any] = {
            "exchange_id": "binance",
            "api_key": Secret(API_KEY),
            "secret": Secret(API_SECRET),
            "base_url": fake.base_url,  # type: ignore[attr-defined]
            "timeout_ms": CLIENT_TIMEOUT_MS,
            "rate_limit": RateLimit(rate=10_000, capacity=10_000),
            "breaker_threshold": 3,
        }
        chosen_limiters = overrides.pop("limiters", limiters)
        chosen_markets = overrides.pop("markets", markets)
        chosen_accounts = overrides.pop("accounts", accounts)
        chosen_circuits = overrides.pop("circuits", circuits)
        settings.update(overrides)
        adapter = CcxtExchange(
            CcxtConfig(**settings),
            retry=retry,
            limiters=chosen_limiters,
            circuits=chosen_circuits,
            markets=chosen_markets,
            accounts=chosen_accounts,
            sleep=sleep_log,
        )
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()
