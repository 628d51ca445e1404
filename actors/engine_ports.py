"""What the engine asks of the world: its store (the repository actor), its host (the engine
actor: timers, watched levels, reporting), and the small types they exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.errors import ExchangeUnavailable
from domain.orders import Fill, Order
from persistence.records import (
    AuditEntry,
    CycleRecord,
    EngineState,
    OrderIntent,
    StepResult,
    StrategyRecord,
)


class Store(Protocol):
    """What the engine needs from the repository (the RepositoryActor's proxy in production)."""

    def load_engine_state(self, strategy_id: int) -> EngineState: ...

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        """The strategy's row (its parameters as stored now), without the snapshot."""
        ...

    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int,
        new_orders: list[OrderIntent],
        order_updates: list[Order],
        fills: list[Fill],
        cycle: CycleRecord | None,
        events: list[object],
        audits: list[AuditEntry],
    ) -> StepResult: ...


class Host(Protocol):
    """What the engine asks of its actor: timers, price watching and reporting upward."""

    def schedule(self, at: datetime, what: str) -> None:
        """Wake the engine with `what` at `at` (market time); a "start" look replaces the
        one armed before."""
        ...

    def unschedule(self, what: str) -> None:
        """Drop the armed "start" look (the strategy waits for something else now)."""
        ...

    def watch(self, below: Decimal | None, above: Decimal | None) -> None: ...
    def report(self, kind: str, detail: str | None = None, *, stored: bool = False) -> None:
        """Log what happened and add it to the audit trail (`stored`: the audit row was
        already committed with the step, see `audit_entry`)."""
        ...

    def audit_entry(self, kind: str, detail: str) -> AuditEntry:
        """The audit row of `kind` for this strategy, to commit with a step."""
        ...

    def warn(self, kind: str, message: str) -> None:
        """Something the user must know happened outside the service (an order canceled by
        hand, a sell refused for funds): log it, audit it, show it as the strategy's error."""
        ...

    def guard(self, *, exchange: bool = True) -> None:
        """Raise if this engine may not write any more: to the exchange (`exchange=True`) or,
        with `exchange=False`, to the database (a replaced instance may do neither; a stopping
        service still records what the exchange already did, but sends nothing new)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Watch:
    """Prices at which a tick can matter: at or below `below`, at or above `above`."""

    below: Decimal | None
    above: Decimal | None


class FillsNotVisible(ExchangeUnavailable):
    """The exchange reports more filled than the trades it lists: it is lagging; sync later."""
