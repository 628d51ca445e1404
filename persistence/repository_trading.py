"""The repository's strategies and what their engines write: the desired and actual states,
orders, fills, cycles, events and audit rows (see `persistence.repository` for the contract
every method keeps: versions, idempotent fills, the order state machine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.events import StopMode
from domain.orders import Fill, Order
from persistence.records import (
    ActualState,
    AuditEntry,
    CycleRecord,
    CycleStatus,
    DesiredState,
    DesiredStateRecord,
    JournalEntry,
    OrderIntent,
    StateReport,
    StepOutcome,
    StepResult,
    StepWrite,
    StrategyRecord,
)


class TradingRepository(Protocol):
    """What the engines, the supervisor and the strategy commands write: one transaction per
    call (or per batch of steps)."""

    # --- strategies -------------------------------------------------------------------------
    def upsert_strategy(
        self,
        user_id: int,
        name: str,
        *,
        account_id: int,
        symbol: str,
        params: Mapping[str, Any],
        desired_state: DesiredState,
        now: datetime,
        config_state: str | None = None,
    ) -> StrategyRecord:
        """`config_state` is stored as given: the `state:` the config file applied (None: none).

        Nothing is written when params, desired state and config state are all unchanged.
        """
        ...

    def get_strategy(self, strategy_id: int) -> StrategyRecord: ...
    def list_strategies(self, *, user_id: int | None = None) -> list[StrategyRecord]: ...
    def list_desired_states(
        self, *, changed_since: datetime | None = None
    ) -> list[DesiredStateRecord]:
        """Desired state, stop mode, command count and start condition of every strategy not
        deleted, by id; with `changed_since`, only strategies whose row changed at or after it
        (`updated_at`).
        A deleted strategy is left out, so the poll never runs it again. A deleted user's
        strategies are listed, with `user_deleted`: the stop its deletion asked for must reach a
        service that runs them.

        Cheap (six short columns, the start condition read out of the params' JSON): what the
        root supervisor polls every couple of seconds.
        """
        ...

    def set_desired_state(
        self,
        strategy_id: int,
        state: DesiredState,
        *,
        now: datetime,
        stop_mode: StopMode | None = None,
    ) -> None:
        """`stop_mode` says how a STOPPED strategy stops (kept only with STOPPED). Every call
        bumps the strategy's `command_seq`, even one that repeats the desired state: each
        command is a change the supervisor's poll sees."""
        ...

    def set_actual_state(
        self,
        strategy_id: int,
        state: ActualState,
        *,
        now: datetime,
        last_error: str | None = None,
    ) -> None:
        """Record the engine's state; `last_error` replaces the stored one (None clears it)."""
        ...

    def set_actual_states(self, states: Mapping[int, StateReport]) -> set[int]:
        """Many strategies' states in one transaction, as `set_actual_state` each; those whose
        user's lease this process no longer holds (several processes) are left out, and
        returned."""
        ...

    def increment_restart_count(self, strategy_id: int, *, now: datetime) -> int: ...
    def record_heartbeats(self, beats: Mapping[int, datetime]) -> None: ...

    # --- trading --------------------------------------------------------------------------
    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int | None = None,
        new_orders: Sequence[OrderIntent] = (),
        order_updates: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        cycle: CycleRecord | None = None,
        events: Sequence[object] = (),
        audits: Sequence[AuditEntry] = (),
    ) -> StepResult:
        """One engine step in one transaction; `audits` are committed with it or not at all
        (e.g. `cycle_closed` with the close: a crash cannot keep one without the other)."""
        ...

    def save_steps(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        """Many steps (of one or several strategies) in one transaction; one outcome per step.

        Each step is checked as `save_step` would check it, in order, against what the steps
        before it in the batch wrote (two steps of one strategy chain their versions). A step
        that `save_step` would refuse gets that error in its slot and writes nothing; the others
        are committed together. `DatabaseUnavailable` raises for the whole batch (nothing
        written).
        """
        ...

    def record_order_intent(
        self, strategy_id: int, intent: OrderIntent, *, now: datetime
    ) -> Order: ...
    def update_order(self, strategy_id: int, order: Order, *, now: datetime) -> Order: ...
    def apply_fill(self, strategy_id: int, fill: Fill, *, now: datetime) -> bool: ...
    def upsert_cycle(self, strategy_id: int, cycle: CycleRecord) -> CycleRecord: ...
    def close_cycle(
        self,
        strategy_id: int,
        number: int,
        *,
        realized_profit: Decimal,
        now: datetime,
        status: CycleStatus = CycleStatus.CLOSED,
    ) -> CycleRecord: ...
    def append_events(self, entries: Sequence[JournalEntry]) -> int: ...
    def append_audit(self, entries: Sequence[AuditEntry]) -> int: ...
