"""Trading writes on an open transaction: the single operations, and the checks and row shapes
that engine steps (`persistence.sql_steps`) share with them.

SQLAlchemy Core, not the ORM: an engine's step is the single writer's hot path, and the ORM's
identity map, object construction and flushes cost more than the statements themselves. The
statements run against the mapped `Table`s, so the column types still keep money exact and time
in UTC. They are built once (module level), so SQLAlchemy memoises their cache keys.

Each function assumes the caller owns the transaction, so a step can chain them and commit (or
roll back) once. Rule checks that protect money live here too: a client order id is never
reused on an account, an order only moves along its state machine, a fill is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import String, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from domain import codec
from domain.errors import DuplicateOrder, IllegalTransition
from domain.ids import parse_client_order_id
from domain.orders import Fill, Order, OrderState
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound
from persistence.records import (
    AuditEntry,
    CycleRecord,
    CycleStatus,
    JournalEntry,
    OrderIntent,
)
from persistence.sql_bulk import insert_rows
from persistence.sql_sums import exact_sum
from persistence.types import check_money

STRATEGIES, ORDERS, FILLS, CYCLES = m.STRATEGIES, m.ORDERS, m.FILLS, m.CYCLES

_S, _O, _F, _C = STRATEGIES.c, ORDERS.c, FILLS.c, CYCLES.c
LIVE_STATES = [s.value for s in OrderState if s.is_live]  # orders not known to be finished
# What `upsert_cycle` and a step's cycle update (`sql_steps`) set: every column
# `sql_rows.cycle_values` fills except the key.
CYCLE_FIELDS = tuple(c.name for c in CYCLES.c if c.name not in ("id", "strategy_id", "number"))

_ACCOUNT_OF = select(_S.account_id).where(_S.id == bindparam("b_id"))
_ORDERS_BY_COID = select(
    _O.client_order_id, _O.strategy_id, _O.state, _O.filled, _O.id, _O.cycle
).where(
    _O.account_id == bindparam("b_account"),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_ORDER_IDS = select(_O.client_order_id, _O.id, _O.cycle).where(
    _O.account_id == bindparam("b_account"),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_UPDATE_ORDER = (
    update(ORDERS)
    .where(_O.account_id == bindparam("b_account"), _O.client_order_id == bindparam("b_coid"))
    .values(
        state=bindparam("b_state"),
        filled=bindparam("b_filled"),
        cost=bindparam("b_cost"),
        # A None exchange order id keeps the stored one (one statement for the executemany).
        exchange_order_id=func.coalesce(bindparam("b_eoid", type_=String()), _O.exchange_order_id),
        updated_at=bindparam("b_now"),
    )
)
_KNOWN_TRADES = select(_F.symbol, _F.trade_id).where(
    _F.account_id == bindparam("b_account"),
    _F.trade_id.in_(bindparam("b_trades", expanding=True)),
)
_UPDATE_CYCLE = (
    update(CYCLES)
    .where(_C.strategy_id == bindparam("b_strategy"), _C.number == bindparam("b_number"))
    .values({name: bindparam(f"b_{name}") for name in CYCLE_FIELDS})
)
_INSERT_ORDERS = insert(ORDERS)
_INSERT_FILLS = insert(FILLS)
_INSERT_CYCLE = insert(CYCLES)


OrderIds = dict[str, tuple[int, int]]  # client order id -> (order id, cycle)


@dataclass(slots=True)
class _Known:
    """What a step needs to know about one order row: who owns it, where it is."""

    strategy_id: int
    state: OrderState
    filled: Decimal


def account_of(conn: Connection, strategy_id: int) -> int:
    account_id = conn.execute(_ACCOUNT_OF, {"b_id": strategy_id}).scalar()
    if account_id is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    return int(account_id)


def write_orders(
    conn: Connection,
    strategy_id: int,
    account_id: int,
    *,
    intents: Sequence[OrderIntent] = (),
    updates: Sequence[Order] = (),
    now: datetime,
) -> OrderIds:
    """Insert `intents`, then apply `updates` (which may name those intents): one SELECT first.

    Checks run in the order the operations are listed, as if each were written on its own.
    Returns the id and cycle of each stored order that SELECT found, for `insert_fills`.
    """
    coids = {i.order.client_order_id for i in intents} | {o.client_order_id for o in updates}
    known: dict[str, _Known] = {}
    found: OrderIds = {}
    if coids:
        rows = conn.execute(_ORDERS_BY_COID, {"b_account": account_id, "b_coids": list(coids)})
        for coid, owner, state, filled, order_id, cycle in rows:
            known[coid] = _Known(owner, OrderState(state), filled)
            found[coid] = (order_id, cycle)
    if intents:
        rows_in = []
        for intent in intents:
            order = intent.order
            if order.client_order_id in known:
                raise DuplicateOrder(
                    f"client order id {order.client_order_id} is already recorded on account "
                    f"{account_id}"
                )
            check_order_money(order)
            known[order.client_order_id] = _Known(strategy_id, order.state, order.filled)
            rows_in.append(order_row(strategy_id, account_id, intent, now))
        conn.execute(_INSERT_ORDERS, rows_in)
    if updates:
        params = []
        for order in updates:
            row = known.get(order.client_order_id)
            if row is None or row.strategy_id != strategy_id:
                raise NotFound(
                    f"order {order.client_order_id} of strategy {strategy_id} does not exist"
                )
            check_transition(order, row)
            check_order_money(order)
            row.state, row.filled = order.state, order.filled
            params.append(
                {
                    "b_account": account_id,
                    "b_coid": order.client_order_id,
                    "b_state": order.state.value,
                    "b_filled": order.filled,
                    "b_cost": order.cost,
                    "b_eoid": order.exchange_order_id,
                    "b_now": now,
                }
            )
        conn.execute(_UPDATE_ORDER, params)
    return found


def insert_fills(
    conn: Connection,
    strategy_id: int,
    account_id: int,
    fills: Sequence[Fill],
    *,
    now: datetime,
    orders: OrderIds | None = None,
) -> list[str]:
    """Store the fills whose (account, symbol, trade id) is new; their trade ids, in order.

    A replayed fill is a no-op, and so is a second fill with the same symbol and trade id in one
    batch. (Trade ids are per symbol on some exchanges: the same id on another symbol is new.)
    `orders` (from `write_orders` in the same transaction) spares looking those orders up again.
    """
    if not fills:
        return []
    trade_ids = list({f.trade_id for f in fills})
    known = conn.execute(_KNOWN_TRADES, {"b_account": account_id, "b_trades": trade_ids})
    seen = {(symbol, trade_id) for symbol, trade_id in known}
    new: list[Fill] = []
    for fill in fills:
        if (fill.symbol, fill.trade_id) in seen:
            continue
        seen.add((fill.symbol, fill.trade_id))
        check_fill_money(fill)
        new.append(fill)
    if not new:
        return []
    ids = dict(orders or {})
    missing = list({f.client_order_id for f in new} - ids.keys())
    if missing:
        rows = conn.execute(_ORDER_IDS, {"b_account": account_id, "b_coids": missing})
        ids.update((coid, (order_id, cycle)) for coid, order_id, cycle in rows)
    conn.execute(_INSERT_FILLS, [fill_row(strategy_id, account_id, f, ids, now) for f in new])
    return [f.trade_id for f in new]


def upsert_cycle(conn: Connection, strategy_id: int, record: CycleRecord) -> None:
    check_cycle_money(record)
    values = sql_rows.cycle_values(record)
    params = {f"b_{name}": values[name] for name in CYCLE_FIELDS}
    params.update(b_strategy=strategy_id, b_number=record.number)
    if conn.execute(_UPDATE_CYCLE, params).rowcount == 0:
        conn.execute(_INSERT_CYCLE, {"strategy_id": strategy_id, **values})
    if record.status is not CycleStatus.OPEN:
        refresh_totals(conn, [strategy_id])


_CLOSED_TOTALS = (
    select(_C.strategy_id, func.count(), exact_sum(_C.realized_profit))
    .where(_C.status == CycleStatus.CLOSED.value)
    .group_by(_C.strategy_id)
)
_SET_TOTALS = (
    update(STRATEGIES)
    .where(_S.id == bindparam("b_id"))
    .values(
        cycles_closed=bindparam("b_closed"),
        realized_profit=bindparam("b_profit", type_=_S.realized_profit.type),
    )
)


def closed_totals(
    conn: Connection, strategy_ids: Sequence[int] | None = None
) -> dict[int, tuple[int, Decimal]]:
    """(closed cycles, the sum of their profit) of each strategy that has closed one (of
    `strategy_ids`, or of all), added up in the database (`sql_sums.exact_sum`: exact on
    SQLite's text money too)."""
    query = _CLOSED_TOTALS
    if strategy_ids is not None:
        query = query.where(_C.strategy_id.in_(sorted(set(strategy_ids))))
    return {sid: (int(n), total or Decimal(0)) for sid, n, total in conn.execute(query)}


def refresh_totals(conn: Connection, strategy_ids: Sequence[int]) -> None:
    """Set the strategies' closed-cycle count and profit sum from their cycles, in the
    transaction that closed one: recounted, not incremented, so a cycle row written twice
    never counts twice."""
    found = closed_totals(conn, strategy_ids)
    totals = {sid: found.get(sid, (0, Decimal(0))) for sid in sorted(set(strategy_ids))}
    conn.execute(
        _SET_TOTALS,
        [{"b_id": sid, "b_closed": n, "b_profit": p} for sid, (n, p) in totals.items()],
    )


def insert_events(conn: Connection, entries: Sequence[JournalEntry]) -> int:
    """One executemany for the whole batch."""
    if not entries:
        return 0
    rows = [
        {
            "strategy_id": entry.strategy_id,
            "type": type(entry.event).__name__,
            "payload": codec.dumps(entry.event),
            "occurred_at": entry.occurred_at,
        }
        for entry in entries
    ]
    insert_rows(conn, m.EVENTS, rows)
    return len(rows)


def insert_audit(conn: Connection, entries: Sequence[AuditEntry]) -> int:
    if not entries:
        return 0
    rows = [audit_row(entry) for entry in entries]
    insert_rows(conn, m.AUDIT_LOG, rows)
    return len(rows)


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    """The row of an audit entry, checked up front (a step refuses a bad one before writing)."""
    if entry.at.tzinfo is None or entry.at.utcoffset() is None:
        raise ValueError(f"audit {entry.event}: timestamps must be timezone-aware (UTC)")
    return {
        "at": entry.at,
        "level": entry.level,
        "event": entry.event,
        "message": entry.message,
        "user_id": entry.user_id,
        "strategy_id": entry.strategy_id,
        "data": sql_rows.dump_json(entry.data),
    }


# --- reads of what was just written (the single operations return it) ----------------------
def order_of(conn: Connection, account_id: int, client_order_id: str) -> Order:
    row = conn.execute(
        select(ORDERS).where(_O.account_id == account_id, _O.client_order_id == client_order_id)
    ).one()
    return sql_rows.order(row)


def cycle_row(conn: Connection, strategy_id: int, number: int) -> Any:
    return conn.execute(
        select(CYCLES).where(_C.strategy_id == strategy_id, _C.number == number)
    ).one_or_none()


def order_row(
    strategy_id: int, account_id: int, intent: OrderIntent, now: datetime
) -> dict[str, Any]:
    order = intent.order
    return {
        "strategy_id": strategy_id,
        "account_id": account_id,
        "cycle": intent.cycle,
        "leg": intent.leg,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "price": order.price,
        "amount": order.amount,
        "filled": order.filled,
        "cost": order.cost,
        "state": order.state.value,
        "created_at": order.created_at or now,
        "updated_at": now,
    }


def fill_row(
    strategy_id: int,
    account_id: int,
    fill: Fill,
    orders: OrderIds,
    now: datetime,
) -> dict[str, Any]:
    order = orders.get(fill.client_order_id)
    parsed = parse_client_order_id(fill.client_order_id)
    cycle = order[1] if order is not None else (parsed[1] if parsed else None)
    return {
        "account_id": account_id,
        "strategy_id": strategy_id,
        "order_id": order[0] if order is not None else None,
        "cycle": cycle,
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "exchange_order_id": fill.exchange_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": fill.price,
        "amount": fill.amount,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "traded_at": fill.timestamp,
        "recorded_at": now,
    }


class TrackedOrder(Protocol):
    """What the transition check needs of an order as stored (or as a group has moved it)."""

    state: OrderState
    filled: Decimal


def check_transition(order: Order, row: TrackedOrder) -> None:
    if order.state != row.state and not row.state.can_become(order.state):
        raise IllegalTransition(
            f"order {order.client_order_id}: {row.state.value} -> {order.state.value} "
            "is not allowed"
        )
    if order.filled < row.filled:
        raise IllegalTransition(
            f"order {order.client_order_id}: filled cannot go down ({row.filled} -> {order.filled})"
        )


def check_order_money(order: Order) -> None:
    for name in ("amount", "price", "filled", "cost"):
        value = getattr(order, name)
        if value is not None:
            check_money(value, field=f"order {order.client_order_id} {name}")


def check_cycle_money(record: CycleRecord) -> None:
    for name in (
        "amount",
        "cost",
        "base_price",
        "average_price",
        "realized_profit",
        "carried_amount",
        "carried_cost",
        "received",
    ):
        value = getattr(record, name)
        if value is not None:
            check_money(value, field=f"cycle.{name}")


def check_fill_money(fill: Fill) -> None:
    for name in ("price", "amount", "fee"):
        check_money(getattr(fill, name), field=f"fill.{name}")
