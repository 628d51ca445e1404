"""The in-memory repository's state: plain dicts of immutable values, cheap to copy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from domain.orders import Fill, Order
from persistence.records import (
    AccountRecord,
    AuditRecord,
    CycleRecord,
    EventRecord,
    SealedCredentials,
    StrategyRecord,
    TokenRecord,
    UserRecord,
)
from persistence.records_notify import NotificationTarget
from persistence.records_signal import SignalKeyRecord, SignalRecord
from persistence.types import check_money, normalized


@dataclass(slots=True, kw_only=True)
class OrderRow:
    strategy_id: int
    cycle: int
    leg: str
    order: Order
    id: int = 0  # the row id, in insertion order like an autoincrement (history pages)


@dataclass(slots=True, kw_only=True)
class FillRow:
    strategy_id: int
    cycle: int | None
    fill: Fill
    id: int = 0  # the row id, in insertion order like an autoincrement (history pages)
    recorded_at: datetime | None = None


@dataclass(slots=True)
class State:
    users: dict[int, UserRecord] = field(default_factory=dict)
    accounts: dict[int, AccountRecord] = field(default_factory=dict)
    sealed: dict[int, SealedCredentials] = field(default_factory=dict)
    strategies: dict[int, StrategyRecord] = field(default_factory=dict)
    snapshots: dict[int, str | None] = field(default_factory=dict)
    cycles: dict[tuple[int, int], CycleRecord] = field(default_factory=dict)
    orders: dict[tuple[int, str], OrderRow] = field(default_factory=dict)
    fills: dict[tuple[int, str, str], FillRow] = field(default_factory=dict)  # account, symbol, id
    events: list[EventRecord] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    password_hashes: dict[int, str] = field(default_factory=dict)  # user id -> PHC string
    tokens: dict[int, TokenRecord] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)  # token hash -> token id
    signal_keys: dict[int, SignalKeyRecord] = field(default_factory=dict)  # by strategy id
    signal_tokens: dict[str, int] = field(default_factory=dict)  # token hash -> strategy id
    signals: dict[int, SignalRecord] = field(default_factory=dict)
    targets: dict[int, NotificationTarget] = field(default_factory=dict)  # notification targets
    next_id: int = 1

    def copy(self) -> State:
        return State(
            users=dict(self.users),
            accounts=dict(self.accounts),
            sealed=dict(self.sealed),
            strategies=dict(self.strategies),
            snapshots=dict(self.snapshots),
            cycles=dict(self.cycles),
            orders={k: replace(v) for k, v in self.orders.items()},
            fills=dict(self.fills),
            events=list(self.events),
            audit=list(self.audit),
            password_hashes=dict(self.password_hashes),
            tokens=dict(self.tokens),
            token_ids=dict(self.token_ids),
            signal_keys=dict(self.signal_keys),
            signal_tokens=dict(self.signal_tokens),
            signals=dict(self.signals),
            targets=dict(self.targets),
            next_id=self.next_id,
        )


def utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC)


def opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def money(value: Decimal, name: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"money column expects Decimal, got {type(value).__name__}")
    check_money(value, field=name)
    return normalized(value)


def opt_money(value: Decimal | None, name: str) -> Decimal | None:
    return None if value is None else money(value, name)
