"""How an engine actor waits: on the venue (a known wait for the heartbeat check), on the
repository (the same), and before it retries after a temporary failure. The two wrappers also
count what passes through them (orders placed and refused, fills committed) for the service's
metrics (`actors.telemetry`): every order and fill goes through them, and nothing else does."""

from __future__ import annotations

import random
from typing import Any

from actors.admission import Liveness
from actors.boot_loads import SiblingLoads
from actors.repository import RepoClient
from actors.telemetry import Telemetry
from domain.errors import DuplicateOrder, OrderError
from exchange.port import Exchange
from persistence.records import EngineState, StepResult, StrategyRecord


def retry_delay(
    exc: BaseException | None, failures: int, *, base: float, cap: float, rng: random.Random
) -> float:
    """Seconds before the start path runs again after a temporary failure.

    When the venue said how long to wait (Retry-After of a 429/418, an open circuit breaker's
    next probe), exactly that plus a little jitter, so thousands of engines behind one breaker
    do not all arrive in the same millisecond: a growing backoff of our own on top only keeps
    a strategy down after its venue is back (a 10 s outage took 50 s to recover from). Else
    exponential backoff with full jitter, capped.
    """
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, int | float) and hint >= 0:
        return float(hint) + rng.uniform(0, min(1.0, 0.05 + 0.1 * float(hint)))
    ceiling = min(cap, base * 2 ** min(failures, 10))
    return rng.uniform(0, ceiling)


class WatchedExchange:
    """The engine's exchange, marking each call as a known wait for the heartbeat check: an
    engine waiting on a slow venue is not stuck, and must not be replaced while its create is
    in flight (its successor could place the order again)."""

    def __init__(
        self,
        inner: Exchange,
        liveness: Liveness,
        *,
        telemetry: Telemetry | None = None,
        venue: str = "",
    ) -> None:
        self._inner = inner
        self._liveness = liveness
        self._telemetry = telemetry
        self._venue = venue

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        liveness = self._liveness

        def call(*args: Any, **kwargs: Any) -> Any:
            with liveness.waiting("exchange"):
                return attr(*args, **kwargs)

        return call

    def create_order(self, **order: Any) -> Any:
        """Placed, or refused by the venue (an order error; a duplicate is an order placed
        before, not a refusal). Unknown outcomes and outages are counted as errors by the
        engine actor, which sees them."""
        with self._liveness.waiting("exchange"):
            try:
                placed = self._inner.create_order(**order)
            except OrderError as exc:
                if self._telemetry is not None and not isinstance(exc, DuplicateOrder):
                    self._telemetry.orders_rejected.inc(self._venue, _side(order))
                    self._telemetry.error("engine", exc)
                raise
        if self._telemetry is not None:
            self._telemetry.orders_placed.inc(self._venue, _side(order))
        return placed


class WatchedStore:
    """The engine's store, marking each call as a known wait for the heartbeat check."""

    def __init__(
        self,
        repo: RepoClient,
        liveness: Liveness,
        *,
        telemetry: Telemetry | None = None,
        venue: str = "",
        loads: SiblingLoads | None = None,
    ) -> None:
        """`loads`: the states read for this engine's siblings, where its first start finds
        its own (`actors.boot_loads`)."""
        self._repo = repo
        self._liveness = liveness
        self._telemetry = telemetry
        self._venue = venue
        self._loads = loads

    def load_engine_state(self, strategy_id: int) -> EngineState:
        with self._liveness.waiting("database"):
            if self._loads is not None:
                state = self._loads.take(strategy_id)
                if state is not None:
                    return state
            return self._repo.load_engine_state(strategy_id)  # type: ignore[no-any-return]

    def save_step(self, strategy_id: int, **kwargs: Any) -> StepResult:
        with self._liveness.waiting("database"):
            result = self._repo.save_step(strategy_id, **kwargs)
        if self._telemetry is not None:
            for fill in kwargs.get("fills") or ():
                self._telemetry.fills.inc(self._venue, str(fill.side.value))
        return result

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        with self._liveness.waiting("database"):
            return self._repo.call("get_strategy", strategy_id)  # type: ignore[no-any-return]


def _side(order: dict[str, Any]) -> str:
    side = order.get("side")
    return str(getattr(side, "value", side))


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
