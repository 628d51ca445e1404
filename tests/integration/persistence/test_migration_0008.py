"""Migration 0008 (issue 13: users.disabled_at) on a database that already holds users, and back
down again, on SQLite and MySQL."""

from __future__ import annotations

from sqlalchemy import text

from persistence.database import make_engine
from persistence.migrate import downgrade, upgrade
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, at

NOW = T0.replace(tzinfo=None).isoformat(sep=" ")


def _execute(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), {"t": NOW})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _repo_do(url: str, user_id: int) -> tuple[bool, bool]:
    """(disabled as read, disabled after set_user_disabled), through the repository."""
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        before = repo.get_user(user_id).disabled
        return before, repo.set_user_disabled(user_id, True, now=at(1)).disabled
    finally:
        engine.dispose()


def test_existing_users_come_out_of_0008_enabled_and_a_downgrade_keeps_them(db_url: str) -> None:
    assert upgrade(db_url, "0007") == "0007"
    _execute(db_url, "INSERT INTO users (id, name, created_at) VALUES (1, 'alice', :t)")

    assert upgrade(db_url, "0008") == "0008"

    assert _execute(db_url, "SELECT name, disabled_at FROM users") == [("alice", None)]
    assert _repo_do(db_url, 1) == (False, True)
    assert downgrade(db_url, "0007") == "0007"
    assert _execute(db_url, "SELECT id, name FROM users") == [(1, "alice")]
    assert upgrade(db_url, "0008") == "0008"  # and up again: the flag went with the column
    assert _execute(db_url, "SELECT disabled_at FROM users") == [(None,)]
