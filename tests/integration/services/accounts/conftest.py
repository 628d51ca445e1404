"""Repositories (the fake, SQLite, MySQL), a vault and users for the account use cases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from domain.secrets import Secret
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.accounts import AccountInput
from tests.integration.persistence.conftest import repo, sql_repo

__all__ = ["repo", "sql_repo"]  # the fake, SQLite and MySQL repositories of the contract tests

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALLOWED = frozenset({"testnet.binance.vision", "Proxy.Example.com:8443"})
# Distinct enough that finding one anywhere can only mean it leaked.
API_KEY = "apikey-7Qm2Vx9Lr4Tz8Kp1"
SECRET = "secret-Hs5Nw3Jd6Yc0Fb2Ge"
PASSPHRASE = "pass-Ua8Ro1Ei4Xy7"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def live(name: str = "main", **overrides: Any) -> AccountInput:
    values: dict[str, Any] = {
        "name": name,
        "exchange": "binance",
        "api_key": Secret(API_KEY),
        "secret": Secret(SECRET),
        **overrides,
    }
    return AccountInput(**values)


class FakeOpener:
    """The paper venue as `create_account` sees it (`open_paper`): records each account it was
    asked to open; `failure`, when set, is raised instead."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, dict[str, Decimal], Decimal]] = []
        self.failure: Exception | None = None

    def __call__(self, key: str, balances: Mapping[str, Decimal], fee_rate: Decimal) -> None:
        if self.failure is not None:
            raise self.failure
        self.opened.append((key, dict(balances), fee_rate))


def make_vault() -> Vault:
    return Vault(parse_keyring(generate_key(1), source="test"))


@pytest.fixture
def opener() -> FakeOpener:
    return FakeOpener()


@pytest.fixture
def vault() -> Vault:
    return make_vault()


@pytest.fixture
def alice(repo: Any) -> int:
    return int(repo.upsert_user("alice", now=T0).id)


@pytest.fixture
def bob(repo: Any) -> int:
    return int(repo.upsert_user("bob", now=T0).id)


def dump_tables(repo: SqlRepository) -> str:
    """Every row of every table, as text: what a backup or a stolen database would hold."""
    metadata = MetaData()
    metadata.reflect(repo._engine)
    lines = []
    with repo._engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)
