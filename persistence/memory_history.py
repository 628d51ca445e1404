"""In-memory repository, history side: the same pages, closed cycles and soft delete as
`persistence.sql_history`, over the fake's dicts (row ids come from its one id counter, so they
grow in insertion order like an autoincrement)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext

from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.memory_accounts import MemoryAccounts
from persistence.memory_state import utc
from persistence.records import AuditRecord, CycleRecord, CycleStatus, EventRecord
from persistence.records_history import (
    DailyProfit,
    FillRecord,
    OrderRecord,
    deleted_name,
    deletion_refused,
)
from persistence.types import normalized


def _before(row_id: int, before: int | None) -> bool:
    return before is None or row_id < before


class MemoryHistory(MemoryAccounts):
    # --- history (REST API read models) ---------------------------------------------------
    def page_orders(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[OrderRecord]:
        with self._lock:
            rows = [
                r
                for r in self._s.orders.values()
                if r.strategy_id == strategy_id and _before(r.id, before_id)
            ]
        rows.sort(key=lambda r: r.id, reverse=True)
        return [
            OrderRecord(
                id=r.id,
                cycle=r.cycle,
                leg=r.leg,
                order=r.order,
                created_at=r.order.created_at,
                updated_at=r.order.updated_at,
            )
            for r in rows[:limit]
        ]

    def page_fills(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[FillRecord]:
        with self._lock:
            rows = [
                r
                for r in self._s.fills.values()
                if r.strategy_id == strategy_id and _before(r.id, before_id)
            ]
        rows.sort(key=lambda r: r.id, reverse=True)
        return [FillRecord(id=r.id, fill=r.fill, created_at=r.recorded_at) for r in rows[:limit]]

    def page_events(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[EventRecord]:
        with self._lock:
            rows = [
                e
                for e in self._s.events
                if e.strategy_id == strategy_id and _before(e.id, before_id)
            ]
        return sorted(rows, key=lambda e: e.id, reverse=True)[:limit]

    def page_audit(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """Rows of the strategy written with its owner's user_id (see `SqlHistory`)."""
        with self._lock:
            strategy = self._s.strategies.get(strategy_id)
            if strategy is None:
                return []
            rows = [
                a
                for a in self._s.audit
                if a.entry.strategy_id == strategy_id
                and a.entry.user_id == strategy.user_id
                and _before(a.id, before_id)
            ]
        return sorted(rows, key=lambda a: a.id, reverse=True)[:limit]

    def page_cycles(
        self, strategy_id: int, *, before_number: int | None, limit: int
    ) -> list[CycleRecord]:
        with self._lock:
            rows = [
                c
                for (sid, number), c in self._s.cycles.items()
                if sid == strategy_id and _before(number, before_number)
            ]
        return sorted(rows, key=lambda c: c.number, reverse=True)[:limit]

    def profit_by_day(self, user_id: int, *, since: datetime | None = None) -> list[DailyProfit]:
        groups: dict[tuple[str, date], tuple[Decimal, int]] = {}
        with self._lock, localcontext() as wide:
            wide.prec = 80  # exact, as the databases sum
            for (sid, _), cycle in self._s.cycles.items():
                strategy = self._s.strategies[sid]
                if (
                    strategy.user_id != user_id
                    or cycle.status is not CycleStatus.CLOSED
                    or cycle.realized_profit is None
                    or cycle.closed_at is None
                    or (since is not None and cycle.closed_at < since)
                ):
                    continue
                key = (strategy.symbol, cycle.closed_at.astimezone(UTC).date())
                total, count = groups.get(key, (Decimal(0), 0))
                groups[key] = (total + cycle.realized_profit, count + 1)
        return [
            DailyProfit(
                symbol=symbol, day=day, realized_profit=normalized(total), cycles_closed=count
            )
            for (symbol, day), (total, count) in sorted(groups.items())
        ]

    def delete_strategy(self, strategy_id: int, *, now: datetime) -> None:
        with self._tx() as s:
            strategy = self.get_strategy(strategy_id)
            if strategy.deleted_at is not None:
                raise NotFound(f"strategy {strategy_id} does not exist")
            reason = deletion_refused(strategy.name, strategy.desired_state, strategy.actual_state)
            if reason is not None:
                raise ValidationError(reason, field="state")
            s.strategies[strategy_id] = replace(
                strategy,
                name=deleted_name(strategy.name, strategy_id),
                deleted_at=utc(now),
                updated_at=utc(now),
            )
