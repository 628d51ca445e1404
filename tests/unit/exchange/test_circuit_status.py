"""What the health check reads of a circuit breaker, and where a ccxt client exposes it."""

from __future__ import annotations

from exchange.ccxt_adapter.adapter import CcxtExchange
from exchange.ccxt_adapter.client import CcxtConfig
from exchange.resilience.circuit import CircuitBreaker, CircuitBreakerRegistry, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_status_shows_the_state_the_failures_and_the_last_cause() -> None:
    clock = Clock()
    breaker = CircuitBreaker("binance@live", failure_threshold=2, reset_after=5, clock=clock)
    assert (breaker.status().state, breaker.status().failures) == (CircuitState.CLOSED, 0)
    assert breaker.status().cause is None

    breaker.record_failure("NetworkError: fetch_ticker timed out")
    breaker.record_failure("ExchangeUnavailable: 503")
    status = breaker.status()
    assert (status.state, status.failures, status.cause) == (
        CircuitState.OPEN,
        2,
        "ExchangeUnavailable: 503",
    )

    clock.now += 5
    breaker.before_call()  # the probe
    assert breaker.status().state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert (breaker.status().state, breaker.status().cause) == (CircuitState.CLOSED, None)


def test_a_ccxt_client_exposes_the_breaker_its_venue_environment_shares() -> None:
    circuits = CircuitBreakerRegistry()
    live = CcxtExchange(CcxtConfig(exchange_id="binance"), circuits=circuits)
    again = CcxtExchange(CcxtConfig(exchange_id="binance"), circuits=circuits)
    testnet = CcxtExchange(CcxtConfig(exchange_id="binance", sandbox=True), circuits=circuits)
    try:
        assert live.circuit is again.circuit
        assert live.circuit.name == "binance@live"
        assert testnet.circuit is not live.circuit
    finally:
        for client in (live, again, testnet):
            client.close()
