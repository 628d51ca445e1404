"""The repository's reads: an engine's state on start, the status pages, the metrics counts
and the REST API's history pages, plus the strategy soft delete the history pages go with
(see `persistence.repository` for the contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.orders import Fill, Order
from persistence.records import (
    ActualState,
    AuditRecord,
    CycleRecord,
    EngineState,
    EventRecord,
    StrategyStatus,
)
from persistence.records_history import DailyProfit, FillRecord, OrderRecord


class ReadsRepository(Protocol):
    """What the service, the CLI and the REST API read back; nothing here writes, but
    `delete_strategy`."""

    # --- reads ----------------------------------------------------------------------------
    def load_engine_state(self, strategy_id: int) -> EngineState: ...
    def load_engine_states(self, strategy_ids: Sequence[int]) -> dict[int, EngineState]:
        """`load_engine_state` of many strategies at once; one that does not exist is left
        out."""
        ...

    def list_status(self, *, user_id: int | None = None) -> list[StrategyStatus]: ...
    def list_orders(self, strategy_id: int, *, cycle: int | None = None) -> list[Order]: ...
    def list_fills(self, strategy_id: int, *, cycle: int | None = None) -> list[Fill]: ...
    def list_cycles(self, strategy_id: int) -> list[CycleRecord]: ...
    def recent_events(self, strategy_id: int, *, limit: int = 100) -> list[EventRecord]: ...
    def recent_audit(
        self, *, limit: int = 100, user_id: int | None = None
    ) -> list[AuditRecord]: ...

    # --- observability (the service's /metrics) ---------------------------------------------
    def count_strategies_by_state(self) -> dict[ActualState, int]:
        """How many strategies are in each actual state, every state present (0 when none);
        the strategies `list_strategies()` returns (not deleted, of users not deleted)."""
        ...

    # --- history: the REST API's pages and profit summary, and the soft delete ------------
    # Pages are newest first and keyset on the row id (cycles: on their number): rows with an
    # id below `before_id` (all when None), at most `limit`. A strategy with no rows, or no
    # such strategy, gives []. Owner checks are the caller's (services.history).
    def page_orders(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[OrderRecord]: ...
    def page_fills(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[FillRecord]: ...
    def page_events(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[EventRecord]: ...
    def page_audit(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """The strategy's audit rows: those with its id and its owner's user_id (the engine
        writes both)."""
        ...

    def page_cycles(
        self, strategy_id: int, *, before_number: int | None, limit: int
    ) -> list[CycleRecord]: ...
    def profit_by_day(self, user_id: int, *, since: datetime | None = None) -> list[DailyProfit]:
        """Realized profit per (symbol, UTC day) of the user's cycles closed with a realized
        profit, at or after `since` (deleted strategies count: the profit was made). Summed in
        the database, exactly (one row per group, not per cycle); by symbol, then day."""
        ...

    def delete_strategy(self, strategy_id: int, *, now: datetime) -> None:
        """Soft delete: sets deleted_at and renames the strategy (`records_history.deleted_name`)
        so its name can be used again; orders, fills, cycles, events and audit rows stay. Only a
        stopped strategy (desired STOPPED, actual STOPPED/FINISHED/FAULTED): else
        ValidationError(field="state"), nothing written. NotFound if missing or deleted."""
        ...
