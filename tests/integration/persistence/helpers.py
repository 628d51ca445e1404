"""Small builders shared by the persistence tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from domain import codec
from domain.ids import client_order_id
from domain.orders import Fill, Order, OrderType, Side
from persistence.database import make_engine
from persistence.records import CycleRecord, CycleStatus, DesiredState, OrderIntent

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@codec.register
@dataclass(frozen=True, slots=True, kw_only=True)
class TestEvent:
    """A journal payload: any codec-registered dataclass will do."""

    __test__ = False
    name: str
    price: Decimal


def onboard(repo: Any, user: str = "alice", strategy: str = "eth") -> tuple[int, int, int]:
    """(user id, account id, strategy id) of a fresh user with one account and strategy."""
    u = repo.upsert_user(user, now=T0)
    a = repo.upsert_account(u.id, "main", exchange="paper", now=T0)
    s = repo.upsert_strategy(
        u.id,
        strategy,
        account_id=a.id,
        symbol="ETH/USDT",
        params={"base_order": Decimal("10.5"), "take_profit": Decimal("1.5"), "max_safety": 5},
        desired_state=DesiredState.RUNNING,
        now=T0,
    )
    return u.id, a.id, s.id


def another_strategy(
    repo: Any,
    user_id: int,
    account_id: int,
    name: str,
    *,
    desired: DesiredState = DesiredState.RUNNING,
    params: dict[str, Any] | None = None,
) -> int:
    """The id of one more strategy of `user_id` on `account_id` (ETH/USDT)."""
    return int(
        repo.upsert_strategy(
            user_id,
            name,
            account_id=account_id,
            symbol="ETH/USDT",
            params=params or {},
            desired_state=desired,
            now=T0,
        ).id
    )


def intent(
    strategy_id: int, cycle: int, leg: str, price: str = "100", amount: str = "0.1"
) -> OrderIntent:
    order = Order(
        client_order_id=client_order_id(strategy_id, cycle, leg),
        symbol="ETH/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(amount),
        price=Decimal(price),
    )
    return OrderIntent(cycle=cycle, leg=leg, order=order)


def fill_of(
    order: Order, trade_id: str, amount: str, price: str = "100", fee: str = "0.0001"
) -> Fill:
    return Fill(
        trade_id=trade_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal(fee),
        fee_currency="ETH",
        timestamp=at(5),
    )


def open_cycle(number: int = 1, **changes: Any) -> CycleRecord:
    values: dict[str, Any] = {
        "number": number,
        "status": CycleStatus.OPEN,
        "opened_at": T0,
        "base_price": Decimal("100"),
    }
    values.update(changes)
    return CycleRecord(**values)


RAW_NOW = T0.replace(tzinfo=None).isoformat(sep=" ")  # T0 as a raw row stores it


def seed_owner(
    conn: Connection,
    *,
    exchange: str = "binance",
    strategies: Sequence[tuple[int, str]] = ((1, "eth"),),
) -> None:
    """User 1 (alice), its account 1 (main) and `strategies` ((id, name), on ETH/USDT), as raw
    rows every schema since 0003 takes: what a migration test finds in an older database."""
    conn.execute(
        text("INSERT INTO users (id, name, created_at) VALUES (1, 'alice', :t)"), {"t": RAW_NOW}
    )
    conn.execute(
        text(
            "INSERT INTO accounts (id, user_id, name, exchange, created_at) "
            "VALUES (1, 1, 'main', :exchange, :t)"
        ),
        {"t": RAW_NOW, "exchange": exchange},
    )
    for sid, name in strategies:
        conn.execute(
            text(
                "INSERT INTO strategies (id, user_id, account_id, name, symbol, params, "
                "desired_state, actual_state, restart_count, version, created_at, updated_at) "
                "VALUES (:sid, 1, 1, :name, 'ETH/USDT', '{}', 'running', 'stopped', 0, 3, :t, :t)"
            ),
            {"t": RAW_NOW, "sid": sid, "name": name},
        )


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """One transaction on a database of its own engine (disposed after): raw rows for a
    migration test."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()
