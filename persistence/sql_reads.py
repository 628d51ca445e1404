"""Read side of the SQL repository: what engines load on start and what status pages show."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from domain.orders import Fill, Order, OrderState
from persistence import models as m
from persistence import sql_rows
from persistence import sql_trading as trading
from persistence.records import (
    AuditRecord,
    CycleRecord,
    CycleStatus,
    EngineState,
    EventRecord,
    StrategyStatus,
)
from persistence.sql_base import SqlBase, strategies_query

_LIVE_STATES = [s.value for s in OrderState if s.is_live]


class SqlReads(SqlBase):
    # --- reads ------------------------------------------------------------------------------
    def load_engine_state(self, strategy_id: int) -> EngineState:
        with self._read("load engine state") as s:
            row = trading.strategy_row(s, strategy_id)
            orders = s.scalars(
                select(m.Order)
                .where(m.Order.strategy_id == strategy_id, m.Order.state.in_(_LIVE_STATES))
                .order_by(m.Order.id)
            )
            live = tuple(sql_rows.order(o) for o in orders)
            current = s.scalar(
                select(m.Cycle)
                .where(m.Cycle.strategy_id == strategy_id)
                .order_by(m.Cycle.number.desc())
                .limit(1)
            )
            trade_ids: frozenset[str] = frozenset()
            if current is not None:
                trade_ids = frozenset(
                    s.scalars(
                        select(m.Fill.trade_id).where(
                            m.Fill.strategy_id == strategy_id, m.Fill.cycle == current.number
                        )
                    )
                )
            return EngineState(
                strategy=sql_rows.strategy(row),
                snapshot=row.snapshot,
                live_orders=live,
                current_cycle=None if current is None else sql_rows.cycle(current),
                known_trade_ids=trade_ids,
            )

    def list_status(self, *, user_id: int | None = None) -> list[StrategyStatus]:
        with self._read("list status") as s:
            return _status(s, strategies_query(user_id))

    def list_orders(self, strategy_id: int, *, cycle: int | None = None) -> list[Order]:
        with self._read("list orders") as s:
            query = select(m.Order).where(m.Order.strategy_id == strategy_id)
            if cycle is not None:
                query = query.where(m.Order.cycle == cycle)
            return [sql_rows.order(r) for r in s.scalars(query.order_by(m.Order.id))]

    def list_fills(self, strategy_id: int, *, cycle: int | None = None) -> list[Fill]:
        with self._read("list fills") as s:
            query = select(m.Fill).where(m.Fill.strategy_id == strategy_id)
            if cycle is not None:
                query = query.where(m.Fill.cycle == cycle)
            return [sql_rows.fill(r) for r in s.scalars(query.order_by(m.Fill.id))]

    def list_cycles(self, strategy_id: int) -> list[CycleRecord]:
        with self._read("list cycles") as s:
            query = select(m.Cycle).where(m.Cycle.strategy_id == strategy_id)
            return [sql_rows.cycle(r) for r in s.scalars(query.order_by(m.Cycle.number))]

    def recent_events(self, strategy_id: int, *, limit: int = 100) -> list[EventRecord]:
        with self._read("recent events") as s:
            query = (
                select(m.Event)
                .where(m.Event.strategy_id == strategy_id)
                .order_by(m.Event.id.desc())
                .limit(limit)
            )
            return [sql_rows.event(r) for r in reversed(list(s.scalars(query)))]

    def recent_audit(self, *, limit: int = 100, user_id: int | None = None) -> list[AuditRecord]:
        with self._read("recent audit") as s:
            query = select(m.AuditLog).order_by(m.AuditLog.id.desc()).limit(limit)
            if user_id is not None:
                query = query.where(m.AuditLog.user_id == user_id)
            return [sql_rows.audit(r) for r in reversed(list(s.scalars(query)))]

    def count_rows(self, table: str) -> int:
        """Row count of one table: for tests and the benchmark."""
        model = {t.__tablename__: t for t in m.Base.__subclasses__()}[table]
        with self._read("count rows") as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _status(session: Any, query: Any) -> list[StrategyStatus]:
    """Counts in SQL; profit summed in Python so SQLite's text money stays exact."""
    strategies = [sql_rows.strategy(r) for r in session.scalars(query)]
    ids = [s.id for s in strategies]
    if not ids:
        return []
    open_orders = dict(
        session.execute(
            select(m.Order.strategy_id, func.count())
            .where(m.Order.strategy_id.in_(ids), m.Order.state.in_(_LIVE_STATES))
            .group_by(m.Order.strategy_id)
        ).all()
    )
    newest = (
        select(m.Cycle.strategy_id, func.max(m.Cycle.number).label("number"))
        .where(m.Cycle.strategy_id.in_(ids))
        .group_by(m.Cycle.strategy_id)
        .subquery()
    )
    latest = {
        row.strategy_id: sql_rows.cycle(row)
        for row in session.scalars(
            select(m.Cycle).join(
                newest,
                (m.Cycle.strategy_id == newest.c.strategy_id) & (m.Cycle.number == newest.c.number),
            )
        )
    }
    completed: dict[int, int] = {}
    profit: dict[int, Decimal] = {}
    closed = session.execute(
        select(m.Cycle.strategy_id, m.Cycle.realized_profit).where(
            m.Cycle.strategy_id.in_(ids), m.Cycle.status == CycleStatus.CLOSED.value
        )
    )
    for strategy_id, realized in closed:
        completed[strategy_id] = completed.get(strategy_id, 0) + 1
        profit[strategy_id] = profit.get(strategy_id, Decimal(0)) + (realized or Decimal(0))
    return [
        StrategyStatus(
            strategy=s,
            cycles_completed=completed.get(s.id, 0),
            realized_profit=profit.get(s.id, Decimal(0)),
            open_orders=int(open_orders.get(s.id, 0)),
            current_cycle=latest[s.id].number if s.id in latest else None,
            latest_cycle=latest.get(s.id),
        )
        for s in strategies
    ]
