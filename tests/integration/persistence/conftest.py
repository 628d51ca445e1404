"""Repositories for the contract suite: the in-memory fake, SQLite and MySQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from persistence.database import make_engine
from persistence.memory import MemoryRepository
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository


@pytest.fixture(params=["memory", "sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def repo(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Every contract test runs against the fake and both real databases."""
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
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()
