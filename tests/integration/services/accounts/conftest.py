"""Repositories (the fake, SQLite, MySQL), a vault and users for the account use cases."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from domain.secrets import Secret
from persistence.database import make_engine
from persistence.memory import MemoryRepository
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.accounts import AccountInput

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


@pytest.fixture(params=["memory", "sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def repo(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Every test runs against the fake and both real databases."""
    if request.param == "memory":
        yield MemoryRepository()
        return
    url = str(request.getfixturevalue(f"{request.param}_url"))
    upgrade(url)
    engine = make_engine(url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sql_repo(db_url: str) -> Iterator[SqlRepository]:
    """SQLite and MySQL only: for what only a real database can show (its dump)."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()


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
