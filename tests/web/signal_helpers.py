"""A world for the webhook tests: the conftest's users, a vault, a fixed clock, and alice's
strategy waiting for a signal with a signal URL made through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.signal_limit import SignalLimiter
from tests.web.conftest import PARAMS, Seeded, rules_for, seed_user
from web.app import create_app
from web.context import WebContext

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
MAX_LAG = 60
SIGNAL_PARAMS = {**PARAMS, "start_condition": {"type": "signal", "max_lag": str(MAX_LAG)}}


@dataclass
class SignalWorld:
    repo: SqlRepository
    ctx: WebContext
    client: TestClient
    alice: Seeded
    bob: Seeded
    strategy_id: int  # alice's strategy that starts on a signal
    url: str = field(repr=False)  # its signal URL's path
    secret: str = field(repr=False)

    def owner(self, who: Seeded) -> dict[str, str]:
        return {"Authorization": f"Bearer {who.token}"}

    def post(
        self, payload: Any, *, url: str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.post(url or self.url, content=body, headers=headers or {})

    def signed(self, payload: dict[str, Any], *, secret: str | None = None) -> Any:
        body = json.dumps(payload).encode()
        key = (secret or self.secret).encode()
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        return self.post(body, headers={"X-Signature": f"sha256={digest}"})


def stamp(seconds: float = 0) -> str:
    """TradingView's {{timenow}} form, `seconds` after NOW."""
    return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def path_of(url: str) -> str:
    return url[url.index("/api/v1/") :]


@pytest.fixture
def sw(db_url: str) -> Iterator[SignalWorld]:
    upgrade(db_url)
    engine = make_engine(db_url)
    repo = SqlRepository(engine)
    try:
        alice = seed_user(repo, "alice")
        bob = seed_user(repo, "bob")
        waiting = repo.upsert_strategy(
            alice.user_id,
            "alice-signal",
            account_id=alice.account_id,
            symbol="ETH/BTC",
            params=SIGNAL_PARAMS,
            desired_state=DesiredState.RUNNING,
            now=NOW,
        )
        ctx = WebContext(
            repo=repo,
            vault=Vault(parse_keyring(generate_key(), source="test key")),
            rules_for=rules_for,
            secure_cookies=False,
            clock=lambda: NOW,
            signal_limiter=SignalLimiter(limit=1000),
        )
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            made = client.post(
                f"/api/v1/strategies/{waiting.id}/signal-key",
                headers={"Authorization": f"Bearer {alice.token}"},
            )
            assert made.status_code == 201, made.text
            yield SignalWorld(
                repo=repo,
                ctx=ctx,
                client=client,
                alice=alice,
                bob=bob,
                strategy_id=waiting.id,
                url=path_of(made.json()["url"]),
                secret=made.json()["secret"],
            )
    finally:
        engine.dispose()
