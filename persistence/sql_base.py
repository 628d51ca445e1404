"""Shared plumbing of the SQL repository: sessions, transactions and error translation.

Reads run in a read-only transaction (plain BEGIN on SQLite, so they never wait for the write
lock); writes take it up front. Either way driver errors become domain errors (`translated`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence import models as m
from persistence.database import READONLY
from persistence.errors import NotFound, translated

T = TypeVar("T")


class SqlBase:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._reader = sessionmaker(
            engine.execution_options(**{READONLY: True}), expire_on_commit=False
        )

    @contextmanager
    def _write(self, operation: str) -> Iterator[Session]:
        with translated(operation), self._writer.begin() as session:
            yield session

    @contextmanager
    def _read(self, operation: str) -> Iterator[Session]:
        with translated(operation), self._reader.begin() as session:
            yield session


def get_row(session: Session, model: type[T], key: int, what: str) -> T:
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key} does not exist")
    return row


def strategies_query(user_id: int | None) -> Any:
    query = (
        select(m.Strategy)
        .join(m.User, m.User.id == m.Strategy.user_id)
        .where(m.User.deleted_at.is_(None))
        .order_by(m.Strategy.id)
    )
    if user_id is not None:
        query = query.where(m.Strategy.user_id == user_id)
    return query
