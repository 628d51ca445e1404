"""Database rows -> domain values. The only place that knows both shapes.

A mapper reads columns as attributes, so it takes an ORM object or a Core `Row` of the same
table alike (the hot paths use Core).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Row

from domain import codec
from domain.events import StopMode
from domain.orders import Fill, Order, OrderState, OrderType, Side
from persistence import models as m
from persistence.records import (
    AccountRecord,
    ActualState,
    AuditEntry,
    AuditRecord,
    CycleRecord,
    CycleStatus,
    DesiredState,
    EventRecord,
    SealedCredentials,
    StrategyRecord,
    TokenRecord,
    UserRecord,
)
from persistence.types import normalized


def _t(value: datetime | None) -> Any:
    """Rows just written still hold the caller's datetime: hand out UTC, as a reload would."""
    return None if value is None else value.astimezone(UTC)


def _d(value: Decimal | None) -> Any:
    """Rows just written still hold the caller's Decimal: normalise it as a reload would."""
    return None if value is None else normalized(value)


def dump_json(value: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys, Decimals as strings) so equal params give equal text."""
    return json.dumps(codec.encode(dict(value)), sort_keys=True, separators=(",", ":"))


def user(row: m.User | Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        name=row.name,
        created_at=_t(row.created_at),
        deleted_at=_t(row.deleted_at),
        email=row.email,
        role=row.role,
        has_password=row.password_hash is not None,
        source=row.source,
        disabled_at=_t(row.disabled_at),
    )


def token(row: m.ApiToken | Row[Any]) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        name=row.name,
        prefix=row.prefix,
        created_at=_t(row.created_at),
        expires_at=_t(row.expires_at),
        last_used_at=_t(row.last_used_at),
        revoked_at=_t(row.revoked_at),
    )


def account(row: m.Account | Row[Any]) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        exchange=row.exchange,
        created_at=_t(row.created_at),
        credentials_fingerprint=row.credentials_fingerprint,
        credentials_key_version=row.credentials_key_version,
        credentials_created_at=_t(row.credentials_created_at),
        credentials_rotated_at=_t(row.credentials_rotated_at),
        sandbox=bool(row.sandbox),
        base_url=row.base_url,
    )


def sealed(row: m.Account) -> SealedCredentials | None:
    if row.credentials_ciphertext is None:
        return None
    return SealedCredentials(
        ciphertext=row.credentials_ciphertext,
        key_version=row.credentials_key_version or 0,
        fingerprint=row.credentials_fingerprint or "",
    )


def strategy(row: m.Strategy | Row[Any]) -> StrategyRecord:
    return StrategyRecord(
        id=row.id,
        user_id=row.user_id,
        account_id=row.account_id,
        name=row.name,
        symbol=row.symbol,
        params=json.loads(row.params),
        desired_state=DesiredState(row.desired_state),
        actual_state=ActualState(row.actual_state),
        restart_count=row.restart_count,
        version=row.version,
        created_at=_t(row.created_at),
        updated_at=_t(row.updated_at),
        last_error=row.last_error,
        last_heartbeat=_t(row.last_heartbeat),
        stop_mode=StopMode(row.stop_mode) if row.stop_mode else None,
        config_state=row.config_state,
        command_seq=row.command_seq or 0,
        deleted_at=_t(row.deleted_at),
    )


def cycle(row: m.Cycle | Row[Any]) -> CycleRecord:
    return CycleRecord(
        number=row.number,
        status=CycleStatus(row.status),
        opened_at=_t(row.opened_at),
        amount=_d(row.amount),
        cost=_d(row.cost),
        base_price=_d(row.base_price),
        average_price=_d(row.average_price),
        realized_profit=_d(row.realized_profit),
        safety_orders_filled=row.safety_orders_filled,
        closed_at=_t(row.closed_at),
        carried_amount=_d(row.carried_amount),
        carried_cost=_d(row.carried_cost),
        received=_d(row.received),
    )


def cycle_values(record: CycleRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "status": record.status.value,
        "opened_at": record.opened_at,
        "amount": record.amount,
        "cost": record.cost,
        "base_price": record.base_price,
        "average_price": record.average_price,
        "realized_profit": record.realized_profit,
        "safety_orders_filled": record.safety_orders_filled,
        "closed_at": record.closed_at,
        "carried_amount": record.carried_amount,
        "carried_cost": record.carried_cost,
        "received": record.received,
    }


def order(row: m.Order | Row[Any]) -> Order:
    return Order(
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=Side(row.side),
        type=OrderType(row.type),
        amount=_d(row.amount),
        price=_d(row.price),
        filled=_d(row.filled),
        cost=_d(row.cost),
        state=OrderState(row.state),
        exchange_order_id=row.exchange_order_id,
        created_at=_t(row.created_at),
        updated_at=_t(row.updated_at),
    )


def fill(row: m.Fill | Row[Any]) -> Fill:
    return Fill(
        trade_id=row.trade_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=Side(row.side),
        price=_d(row.price),
        amount=_d(row.amount),
        fee=_d(row.fee),
        fee_currency=row.fee_currency,
        exchange_order_id=row.exchange_order_id,
        timestamp=_t(row.traded_at),
    )


def event(row: m.Event | Row[Any]) -> EventRecord:
    return EventRecord(
        id=row.id,
        strategy_id=row.strategy_id,
        type=row.type,
        payload=row.payload,
        occurred_at=_t(row.occurred_at),
    )


def audit(row: m.AuditLog | Row[Any]) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        entry=AuditEntry(
            at=_t(row.at),
            level=row.level,
            event=row.event,
            message=row.message,
            user_id=row.user_id,
            strategy_id=row.strategy_id,
            data=json.loads(row.data),
        ),
    )
