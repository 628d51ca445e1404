"""Read side of the in-memory repository (see `persistence.memory`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from domain.orders import Fill, Order
from persistence.errors import NotFound
from persistence.memory_state import State
from persistence.records import (
    AuditRecord,
    CycleRecord,
    CycleStatus,
    DesiredStateRecord,
    EngineState,
    EventRecord,
    StrategyRecord,
    StrategyStatus,
)
from persistence.types import normalized


class MemoryReads:
    _s: State
    _lock: threading.RLock
    _tag: str

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        if strategy_id not in self._s.strategies:
            raise NotFound(f"strategy {strategy_id} does not exist")
        return self._s.strategies[strategy_id]

    def list_strategies(self, *, user_id: int | None = None) -> list[StrategyRecord]:
        return [
            x
            for x in sorted(self._s.strategies.values(), key=lambda x: x.id)
            if not self._s.users[x.user_id].deleted
            and x.deleted_at is None
            and user_id in (None, x.user_id)
        ]

    def list_desired_states(
        self, *, changed_since: datetime | None = None
    ) -> list[DesiredStateRecord]:
        with self._lock:
            return [
                DesiredStateRecord(
                    strategy_id=x.id,
                    user_id=x.user_id,
                    desired_state=x.desired_state,
                    stop_mode=x.stop_mode,
                    command_seq=x.command_seq,
                    user_deleted=self._s.users[x.user_id].deleted,
                    start_condition=_text(x.params.get("start_condition")),
                )
                for x in sorted(self._s.strategies.values(), key=lambda x: x.id)
                if x.deleted_at is None and (changed_since is None or x.updated_at >= changed_since)
            ]

    def load_engine_state(self, strategy_id: int) -> EngineState:
        with self._lock:
            strategy = self.get_strategy(strategy_id)
            cycles = self.list_cycles(strategy_id)
            current = cycles[-1] if cycles else None
            live = tuple(o for o in self.list_orders(strategy_id) if o.state.is_live)
            known = frozenset(
                row.fill.trade_id
                for row in self._s.fills.values()
                if current is not None
                and row.strategy_id == strategy_id
                and row.cycle == current.number
            )
            return EngineState(
                strategy=strategy,
                snapshot=self._s.snapshots.get(strategy_id),
                live_orders=live,
                current_cycle=current,
                known_trade_ids=known,
                deployment_tag=self._tag,
            )

    def load_engine_states(self, strategy_ids: Sequence[int]) -> dict[int, EngineState]:
        with self._lock:
            return {
                sid: self.load_engine_state(sid)
                for sid in sorted(set(strategy_ids))
                if sid in self._s.strategies
            }

    def _take_profit(self, strategy_id: int) -> Decimal | None:
        """The newest live take-profit's price (rows are kept in insertion order)."""
        found = None
        for row in self._s.orders.values():
            if (
                row.strategy_id == strategy_id
                and row.leg.startswith("t")
                and row.order.state.is_live
            ):
                found = row.order.price
        return found

    def list_status(self, *, user_id: int | None = None) -> list[StrategyStatus]:
        with self._lock:
            out = []
            for strategy in self.list_strategies(user_id=user_id):
                cycles = self.list_cycles(strategy.id)
                closed = [c for c in cycles if c.status is CycleStatus.CLOSED]
                out.append(
                    StrategyStatus(
                        strategy=strategy,
                        cycles_completed=len(closed),
                        realized_profit=_exact_sum(c.realized_profit for c in closed),
                        open_orders=sum(
                            1 for o in self.list_orders(strategy.id) if o.state.is_live
                        ),
                        current_cycle=cycles[-1].number if cycles else None,
                        latest_cycle=cycles[-1] if cycles else None,
                        take_profit=self._take_profit(strategy.id),
                    )
                )
            return out

    def list_orders(self, strategy_id: int, *, cycle: int | None = None) -> list[Order]:
        return [
            row.order
            for row in self._s.orders.values()
            if row.strategy_id == strategy_id and cycle in (None, row.cycle)
        ]

    def list_fills(self, strategy_id: int, *, cycle: int | None = None) -> list[Fill]:
        return [
            row.fill
            for row in self._s.fills.values()
            if row.strategy_id == strategy_id and cycle in (None, row.cycle)
        ]

    def list_cycles(self, strategy_id: int) -> list[CycleRecord]:
        return [c for (sid, _), c in sorted(self._s.cycles.items()) if sid == strategy_id]

    def recent_events(self, strategy_id: int, *, limit: int = 100) -> list[EventRecord]:
        return [e for e in self._s.events if e.strategy_id == strategy_id][-limit:]

    def recent_audit(self, *, limit: int = 100, user_id: int | None = None) -> list[AuditRecord]:
        return [a for a in self._s.audit if user_id in (None, a.entry.user_id)][-limit:]


def _exact_sum(values: Iterable[Decimal | None]) -> Decimal:
    """As the databases add money (`sql_sums.exact_sum`): exact, never rounded to 28 digits."""
    with localcontext() as wide:
        wide.prec = 80
        return normalized(sum((v for v in values if v is not None), Decimal(0)))


def _text(value: Any) -> str | None:
    """A stored parameter as the SQL repository's JSON path read gives it."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
