"""Read side of the SQL repository: what engines load on start and what status pages show.

The hot reads (an engine's start, the root supervisor's poll of desired states) are SQLAlchemy
Core statements built once; the status pages still go through the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, tuple_
from sqlalchemy.engine import Connection

from domain.events import StopMode
from domain.orders import Fill, Order
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound, SchemaOutOfDate
from persistence.records import (
    AuditRecord,
    CycleRecord,
    DesiredState,
    DesiredStateRecord,
    EngineState,
    EventRecord,
    StrategyStatus,
)
from persistence.sql_base import STRATEGY_COLUMNS, USERS, SqlBase
from persistence.sql_status import status_rows
from persistence.sql_trading import CYCLES, FILLS, LIVE_STATES, ORDERS, STRATEGIES

DEPLOYMENT = cast(Table, m.Deployment.__table__)


_STRATEGY = select(*STRATEGY_COLUMNS).where(STRATEGIES.c.id == bindparam("b_id"))
# What an engine's start reads (`load_engine_states`), for many strategies at once: a user's
# engines boot together, and four statements for ten of them cost about what four cost for one.
_STRATEGIES_WITH_SNAPSHOT = select(STRATEGIES).where(
    STRATEGIES.c.id.in_(bindparam("b_ids", expanding=True))
)
_LIVE_ORDERS_OF = (
    select(ORDERS)
    .where(
        ORDERS.c.strategy_id.in_(bindparam("b_ids", expanding=True)),
        ORDERS.c.state.in_(LIVE_STATES),
    )
    .order_by(ORDERS.c.id)
)
_NEWEST = (
    select(CYCLES.c.strategy_id, func.max(CYCLES.c.number).label("number"))
    .where(CYCLES.c.strategy_id.in_(bindparam("b_ids", expanding=True)))
    .group_by(CYCLES.c.strategy_id)
    .subquery()
)
_NEWEST_CYCLES = select(CYCLES).join(
    _NEWEST,
    (CYCLES.c.strategy_id == _NEWEST.c.strategy_id) & (CYCLES.c.number == _NEWEST.c.number),
)
_DEPLOYMENT_TAG = select(DEPLOYMENT.c.tag).order_by(DEPLOYMENT.c.id).limit(1)
_DESIRED_STATES = (
    select(
        STRATEGIES.c.id,
        STRATEGIES.c.user_id,
        STRATEGIES.c.desired_state,
        STRATEGIES.c.stop_mode,
        STRATEGIES.c.command_seq,
        USERS.c.deleted_at,
        # One short text of the params' JSON, not the whole column (SQLite and MySQL alike).
        func.json_extract(STRATEGIES.c.params, "$.start_condition"),
    )
    .join(USERS, USERS.c.id == STRATEGIES.c.user_id)
    .where(STRATEGIES.c.deleted_at.is_(None))
    .order_by(STRATEGIES.c.id)
)


def strategy_row(conn: Connection, strategy_id: int) -> Any:
    """The strategy's row (a Core row), without its large snapshot."""
    row = conn.execute(_STRATEGY, {"b_id": strategy_id}).one_or_none()
    if row is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    return row


class SqlReads(SqlBase):
    # --- reads ------------------------------------------------------------------------------
    def deployment_tag(self) -> str:
        """This database's tag (migration 0004 made it; it never changes, so read it once)."""
        if self._deployment_tag is None:
            with self._read("read the deployment tag") as s:
                self._deployment_tag = _deployment_tag(s.connection())
        return self._deployment_tag

    def load_engine_state(self, strategy_id: int) -> EngineState:
        state = self.load_engine_states([strategy_id]).get(strategy_id)
        if state is None:
            raise NotFound(f"strategy {strategy_id} does not exist")
        return state

    def load_engine_states(self, strategy_ids: Sequence[int]) -> dict[int, EngineState]:
        """`load_engine_state` of many strategies in four statements, read in one transaction;
        a strategy that does not exist is left out."""
        ids = sorted(set(strategy_ids))
        if not ids:
            return {}
        with self._read("load engine states") as s:
            conn = s.connection()
            key = {"b_ids": ids}
            rows = {row.id: row for row in conn.execute(_STRATEGIES_WITH_SNAPSHOT, key)}
            live: dict[int, list[Order]] = {sid: [] for sid in rows}
            for o in conn.execute(_LIVE_ORDERS_OF, key):
                live[o.strategy_id].append(sql_rows.order(o))
            current = {c.strategy_id: c for c in conn.execute(_NEWEST_CYCLES, key)}
            trade_ids: dict[int, set[str]] = {sid: set() for sid in current}
            if current:
                pairs = sorted((sid, c.number) for sid, c in current.items())
                query = select(FILLS.c.strategy_id, FILLS.c.trade_id).where(
                    tuple_(FILLS.c.strategy_id, FILLS.c.cycle).in_(pairs)
                )
                for sid, trade_id in conn.execute(query):
                    trade_ids[sid].add(trade_id)
            if self._deployment_tag is None:
                self._deployment_tag = _deployment_tag(conn)
            return {
                sid: EngineState(
                    strategy=sql_rows.strategy(row),
                    snapshot=row.snapshot,
                    live_orders=tuple(live[sid]),
                    current_cycle=None if sid not in current else sql_rows.cycle(current[sid]),
                    known_trade_ids=frozenset(trade_ids.get(sid, ())),
                    deployment_tag=self._deployment_tag,
                )
                for sid, row in rows.items()
            }

    def list_desired_states(
        self, *, changed_since: datetime | None = None
    ) -> list[DesiredStateRecord]:
        query = _DESIRED_STATES
        if changed_since is not None:
            query = query.where(STRATEGIES.c.updated_at >= changed_since)
        with self._read("list desired states") as s:
            return [
                DesiredStateRecord(
                    strategy_id=sid,
                    user_id=uid,
                    desired_state=DesiredState(desired),
                    stop_mode=StopMode(mode) if mode else None,
                    command_seq=seq or 0,
                    user_deleted=gone is not None,
                    start_condition=None if start is None else str(start),
                )
                for sid, uid, desired, mode, seq, gone, start in s.connection().execute(query)
            ]

    def list_status(self, *, user_id: int | None = None) -> list[StrategyStatus]:
        with self._rows("list status") as conn:
            return status_rows(conn, user_id)

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


def _deployment_tag(conn: Connection) -> str:
    tag = conn.execute(_DEPLOYMENT_TAG).scalar()
    if tag is None:
        raise SchemaOutOfDate(
            "the database has no deployment tag (table deployment is empty); run "
            "`martingale db upgrade --db <url>` (the same URL the service uses)"
        )
    return str(tag)
