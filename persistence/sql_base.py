"""Shared plumbing of the SQL repository: sessions, transactions and error translation.

Reads run in a read-only transaction (plain BEGIN on SQLite, so they never wait for the write
lock); writes take it up front. Either way driver errors become domain errors (`translated`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from persistence import models as m
from persistence import sql_trading as trading
from persistence.database import READONLY
from persistence.errors import NotFound, translated
from persistence.lease_book import LeaseBook

T = TypeVar("T")
USERS, _STRATEGIES = m.USERS, m.STRATEGIES
# Every column of a strategy but its large machine snapshot (only an engine's start reads it).
STRATEGY_COLUMNS = [c for c in _STRATEGIES.c if c.name != "snapshot"]
USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("b_id"))


class SqlBase:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = sessionmaker(engine, expire_on_commit=False)
        self._read_engine = engine.execution_options(**{READONLY: True})
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False)
        # The session of an open `transaction()`, per thread: other threads keep their own.
        self._unit = threading.local()
        # strategy id -> account id. A strategy's account never changes (upsert refuses it) and
        # a deleted strategy keeps its row, so an entry never goes stale. Shared by every thread:
        # dict get/set are atomic, and two threads that both miss store the same value.
        self._accounts: dict[int, int] = {}
        # Groups of steps whose write failed and were written again step by step (see
        # `save_steps`): should stay 0; anything else is a bug worth a look.
        self.group_fallbacks = 0
        self._deployment_tag: str | None = None  # read once: a database's tag never changes
        # This process's leases when several service processes share a MySQL database
        # (persistence.leases): every write of a strategy's trading state or its reported
        # state checks them in its transaction. None: the single-process mode.
        self.fence: LeaseBook | None = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for every call made inside it from this thread.

        Multi-step writes (onboarding sync) commit whole or not at all; nesting joins the outer
        transaction. Reads inside see the uncommitted writes.
        """
        if getattr(self._unit, "session", None) is not None:
            yield
            return
        with translated("transaction"), self._writer.begin() as session:
            self._unit.session = session
            try:
                yield
            finally:
                self._unit.session = None

    @contextmanager
    def _write(self, operation: str) -> Iterator[Session]:
        joined: Session | None = getattr(self._unit, "session", None)
        if joined is not None:
            with translated(operation):
                yield joined
                joined.flush()
                # Core statements bypass the identity map: the next operation's ORM reads must
                # see the rows as they are now, not as an object loaded earlier remembers them.
                joined.expire_all()
            return
        with translated(operation), self._writer.begin() as session:
            yield session

    def _account_id(self, conn: Connection, strategy_id: int) -> int:
        """The strategy's account (NotFound if there is no such strategy), cached.

        Not cached from inside `transaction()`: a strategy created there may yet roll back and
        its id be handed to another strategy.
        """
        account_id = self._accounts.get(strategy_id)
        if account_id is None:
            account_id = trading.account_of(conn, strategy_id)
            if getattr(self._unit, "session", None) is None:
                self._accounts[strategy_id] = account_id
        return account_id

    @contextmanager
    def _read(self, operation: str) -> Iterator[Session]:
        joined: Session | None = getattr(self._unit, "session", None)
        if joined is not None:
            with translated(operation):
                yield joined
            return
        with translated(operation), self._reader.begin() as session:
            yield session

    @contextmanager
    def _rows(self, operation: str) -> Iterator[Connection]:
        """`_read` for Core statements: a read-only connection with no ORM Session built around
        it (the API's per-request reads take this path). Inside `transaction()`, the open
        session's connection, so uncommitted writes are seen."""
        joined: Session | None = getattr(self._unit, "session", None)
        if joined is not None:
            with translated(operation):
                yield joined.connection()
            return
        with translated(operation), self._read_engine.begin() as conn:
            yield conn


def get_row(session: Session, model: type[T], key: int, what: str) -> T:
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{what} {key} does not exist")
    return row


_LISTED = (
    select(*STRATEGY_COLUMNS)
    .join(USERS, USERS.c.id == _STRATEGIES.c.user_id)
    .where(USERS.c.deleted_at.is_(None), _STRATEGIES.c.deleted_at.is_(None))
    .order_by(_STRATEGIES.c.id)
)
_LISTED_OF_USER = _LISTED.where(_STRATEGIES.c.user_id == bindparam("b_user"))


def strategies_query(user_id: int | None) -> tuple[Any, dict[str, Any]]:
    """The listed strategies (not deleted, of users not deleted), by id, as Core rows without
    the large snapshot column: a statement built once, and its parameters."""
    if user_id is None:
        return _LISTED, {}
    return _LISTED_OF_USER, {"b_user": user_id}
