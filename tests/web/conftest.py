"""Two users with one of everything each, and an API client for either of them.

The app runs on a real SqlRepository (SQLite and MySQL through `db_url`), as `martingale run`
serves it; only the exchange is absent (balances and key reports use a fake client).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from domain.market import Balance, MarketRules
from domain.notifications import DEFAULT_EVENTS
from domain.secrets import Secret
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.notify_targets import store_target
from persistence.records import (
    AccountRecord,
    AuditEntry,
    CycleStatus,
    DesiredState,
    JournalEntry,
)
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.auth import issue_token, set_password
from tests.integration.persistence.helpers import TestEvent, at, fill_of, intent, open_cycle
from web.app import create_app
from web.context import WebContext

PASSWORD = "correct horse battery staple"
SEED_VAULT = Vault(parse_keyring(generate_key(1), source="seed"))
# Seeding hashes three passwords per test: cheap parameters keep the matrix fast. A login
# verifies with the parameters stored in the hash (and then rehashes with the real ones).
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PARAMS = {
    "base_order": Decimal("0.002"),
    "safety_order": Decimal("0.004"),
    "max_safety_orders": 3,
    "price_deviation": Decimal("1.5"),
    "take_profit": Decimal("1.5"),
}


@dataclass
class Seeded:
    """One user's ids and credentials."""

    name: str
    user_id: int
    account_id: int
    account_name: str
    strategy_id: int
    strategy_name: str
    token_id: int
    token: str = field(repr=False)


class FakeExchange:
    def fetch_balances(self) -> dict[str, Balance]:
        return {"BTC": Balance(currency="BTC", free=Decimal("1.5"), used=Decimal("0.25"))}

    def key_report(self) -> None:
        return None

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        return rules_for(None, symbol)  # type: ignore[arg-type]

    def close(self) -> None:
        return None


def rules_for(_account: AccountRecord | None, symbol: str) -> MarketRules:
    return MarketRules(
        symbol=symbol,
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.0001"),
        min_notional=Decimal("0.0001"),
    )


def seed_user(repo: SqlRepository, name: str, *, role: str = "user") -> Seeded:
    user = repo.upsert_user(name, now=at(0), email=f"{name}@example.com")
    if role != "user":
        repo.set_user_role(user.id, role, now=at(0))
    set_password(repo, user.id, PASSWORD, now=at(0), hasher=CHEAP)
    account = repo.upsert_account(user.id, f"{name}-main", exchange="paper", now=at(0))
    strategy = repo.upsert_strategy(
        user.id,
        f"{name}-eth",
        account_id=account.id,
        symbol="ETH/BTC",
        params=PARAMS,
        desired_state=DesiredState.RUNNING,
        now=at(0),
    )
    sid = strategy.id
    repo.upsert_cycle(sid, open_cycle(1))
    order = repo.record_order_intent(sid, intent(sid, 1, "b"), now=at(1))
    repo.apply_fill(sid, fill_of(order, f"{name}-t1", "0.05"), now=at(2))
    repo.append_events(
        [
            JournalEntry(
                strategy_id=sid, event=TestEvent(name=name, price=Decimal(1)), occurred_at=at(3)
            )
        ]
    )
    repo.append_audit(
        [
            AuditEntry(
                at=at(3),
                level="info",
                event="test",
                message=f"{name} log",
                user_id=user.id,
                strategy_id=sid,
            )
        ]
    )
    repo.close_cycle(
        sid, 1, realized_profit=Decimal("0.0001"), now=at(4), status=CycleStatus.CLOSED
    )
    # A notification target; its URL points at the discard port, nobody listens there.
    store_target(
        repo,
        SEED_VAULT,
        user.id,
        f"{name}-hook",
        Secret(f"json://127.0.0.1:9/{name}"),
        events=DEFAULT_EVENTS,
        enabled=True,
        now=at(0),
    )
    issued = issue_token(repo, user.id, name=f"{name}-token", now=datetime.now(UTC))
    return Seeded(
        name=name,
        user_id=user.id,
        account_id=account.id,
        account_name=account.name,
        strategy_id=sid,
        strategy_name=strategy.name,
        token_id=issued.record.id,
        token=issued.secret,
    )


@dataclass
class World:
    repo: SqlRepository
    ctx: WebContext
    client: TestClient
    alice: Seeded
    bob: Seeded
    admin: Seeded

    def as_user(self, who: Seeded) -> dict[str, str]:
        return {"Authorization": f"Bearer {who.token}"}

    def call(self, who: Seeded | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = self.as_user(who) if who is not None else {}
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    upgrade(db_url)
    engine = make_engine(db_url)
    repo = SqlRepository(engine)
    try:
        alice = seed_user(repo, "alice")
        bob = seed_user(repo, "bob")
        admin = seed_user(repo, "root", role="admin")
        ctx = WebContext(
            repo=repo,
            vault=SEED_VAULT,  # opens the seeded notification targets
            exchange_for=lambda _account_id: FakeExchange(),  # type: ignore[arg-type,return-value]
            rules_for=rules_for,
            allowed_hosts=frozenset({"testnet.binance.vision"}),
            secure_cookies=False,
        )
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            yield World(repo=repo, ctx=ctx, client=client, alice=alice, bob=bob, admin=admin)
    finally:
        engine.dispose()


def later(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()
