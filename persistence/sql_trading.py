"""Trading writes on an open Session: shared by `save_step` and the single operations.

Each function assumes the caller owns the transaction, so a step can chain them and commit (or
roll back) once. Rule checks that protect money live here too: a client order id is never
reused on an account, an order only moves along its state machine, a fill is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from domain import codec
from domain.errors import DuplicateOrder, IllegalTransition
from domain.ids import parse_client_order_id
from domain.orders import Fill, Order, OrderState
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound
from persistence.records import AuditEntry, CycleRecord, JournalEntry, OrderIntent
from persistence.types import check_money


def strategy_row(session: Session, strategy_id: int) -> m.Strategy:
    row = session.get(m.Strategy, strategy_id)
    if row is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    return row


def insert_intent(
    session: Session, strategy: m.Strategy, intent: OrderIntent, now: datetime
) -> m.Order:
    order = intent.order
    exists = session.scalar(
        select(m.Order.id).where(
            m.Order.account_id == strategy.account_id,
            m.Order.client_order_id == order.client_order_id,
        )
    )
    if exists is not None:
        raise DuplicateOrder(
            f"client order id {order.client_order_id} is already recorded on account "
            f"{strategy.account_id}"
        )
    _check_order_money(order)
    row = m.Order(
        strategy_id=strategy.id,
        account_id=strategy.account_id,
        cycle=intent.cycle,
        leg=intent.leg,
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id,
        symbol=order.symbol,
        side=order.side.value,
        type=order.type.value,
        price=order.price,
        amount=order.amount,
        filled=order.filled,
        cost=order.cost,
        state=order.state.value,
        created_at=order.created_at or now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update_order(session: Session, strategy: m.Strategy, order: Order, now: datetime) -> m.Order:
    row = session.scalar(
        select(m.Order).where(
            m.Order.account_id == strategy.account_id,
            m.Order.client_order_id == order.client_order_id,
        )
    )
    if row is None or row.strategy_id != strategy.id:
        raise NotFound(f"order {order.client_order_id} of strategy {strategy.id} does not exist")
    current = OrderState(row.state)
    if order.state != current and not current.can_become(order.state):
        raise IllegalTransition(
            f"order {order.client_order_id}: {current.value} -> {order.state.value} is not allowed"
        )
    if order.filled < row.filled:
        raise IllegalTransition(
            f"order {order.client_order_id}: filled cannot go down ({row.filled} -> {order.filled})"
        )
    _check_order_money(order)
    row.state = order.state.value
    row.filled = order.filled
    row.cost = order.cost
    if order.exchange_order_id is not None:
        row.exchange_order_id = order.exchange_order_id
    row.updated_at = now
    session.flush()
    return row


def insert_fill(session: Session, strategy: m.Strategy, fill: Fill, now: datetime) -> bool:
    """Store a fill unless (account, trade id) is already known; True when it was new."""
    known = session.scalar(
        select(m.Fill.id).where(
            m.Fill.account_id == strategy.account_id, m.Fill.trade_id == fill.trade_id
        )
    )
    if known is not None:
        return False
    for name in ("price", "amount", "fee"):
        check_money(getattr(fill, name), field=f"fill.{name}")
    order = session.scalar(
        select(m.Order).where(
            m.Order.account_id == strategy.account_id,
            m.Order.client_order_id == fill.client_order_id,
        )
    )
    parsed = parse_client_order_id(fill.client_order_id)
    cycle = order.cycle if order is not None else (parsed[1] if parsed else None)
    session.add(
        m.Fill(
            account_id=strategy.account_id,
            strategy_id=strategy.id,
            order_id=order.id if order is not None else None,
            cycle=cycle,
            trade_id=fill.trade_id,
            client_order_id=fill.client_order_id,
            exchange_order_id=fill.exchange_order_id,
            symbol=fill.symbol,
            side=fill.side.value,
            price=fill.price,
            amount=fill.amount,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            traded_at=fill.timestamp,
            recorded_at=now,
        )
    )
    session.flush()
    return True


def upsert_cycle(session: Session, strategy_id: int, record: CycleRecord) -> m.Cycle:
    for name in ("amount", "cost", "base_price", "average_price", "realized_profit"):
        value = getattr(record, name)
        if value is not None:
            check_money(value, field=f"cycle.{name}")
    row = session.scalar(
        select(m.Cycle).where(m.Cycle.strategy_id == strategy_id, m.Cycle.number == record.number)
    )
    values = sql_rows.cycle_values(record)
    if row is None:
        row = m.Cycle(strategy_id=strategy_id, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.flush()
    return row


def insert_events(session: Session, entries: Sequence[JournalEntry]) -> int:
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
    session.execute(insert(m.EVENTS), rows)
    return len(rows)


def insert_audit(session: Session, entries: Sequence[AuditEntry]) -> int:
    if not entries:
        return 0
    rows = [
        {
            "at": entry.at,
            "level": entry.level,
            "event": entry.event,
            "message": entry.message,
            "user_id": entry.user_id,
            "strategy_id": entry.strategy_id,
            "data": sql_rows.dump_json(entry.data),
        }
        for entry in entries
    ]
    session.execute(insert(m.AUDIT_LOG), rows)
    return len(rows)


def _check_order_money(order: Order) -> None:
    for name in ("amount", "price", "filled", "cost"):
        value = getattr(order, name)
        if value is not None:
            check_money(value, field=f"order {order.client_order_id} {name}")
