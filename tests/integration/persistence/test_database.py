"""Engines and the error boundary: no driver error crosses it, a dead DB is temporary."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from domain.errors import DatabaseUnavailable
from persistence.database import make_engine
from persistence.errors import PersistenceError
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    finally:
        engine.dispose()


def test_an_unreachable_mysql_is_database_unavailable_without_the_password() -> None:
    engine = make_engine("mysql+pymysql://root:pw-hunter2@127.0.0.1:1/nothing")
    try:
        with pytest.raises(DatabaseUnavailable, match="list users") as info:
            SqlRepository(engine).list_users()
    finally:
        engine.dispose()
    assert "hunter2" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_database_without_schema_gives_a_persistence_error(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with pytest.raises(PersistenceError, match="upsert user"):
            SqlRepository(engine).upsert_user("x", now=T0)
    finally:
        engine.dispose()


def test_a_bad_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="database URL is not valid") as info:
        make_engine("this is not a url pw-hunter2")
    assert "hunter2" not in str(info.value)
