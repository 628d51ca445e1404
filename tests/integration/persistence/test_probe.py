"""The health check's database probe: a fresh connection each look, never a created file, and
messages without the URL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from domain.errors import DatabaseUnavailable
from persistence.errors import PersistenceError
from persistence.migrate import upgrade
from persistence.probe import DatabaseProbe


def test_the_probe_answers_on_a_migrated_database(db_url: str) -> None:
    upgrade(db_url)
    probe = DatabaseProbe(db_url)
    try:
        probe.check()
        probe.check()  # a second look, on a connection of its own
    finally:
        probe.close()


def test_a_database_without_the_schema_fails_the_probe(db_url: str) -> None:
    if db_url.startswith("sqlite"):  # an existing database file that holds no tables
        sqlite3.connect(db_url.removeprefix("sqlite:///")).close()
    probe = DatabaseProbe(db_url)
    with pytest.raises(PersistenceError, match="health check"):
        probe.check()


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite"
    probe = DatabaseProbe(f"sqlite:///{path}")

    with pytest.raises(DatabaseUnavailable) as raised:
        probe.check()

    assert not path.exists()
    assert str(tmp_path) not in str(raised.value)


def test_the_probe_sees_a_file_replaced_under_a_pooled_connection(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    upgrade(f"sqlite:///{path}")
    probe = DatabaseProbe(f"sqlite:///{path}")
    probe.check()

    path.rename(tmp_path / "elsewhere.sqlite")
    path.mkdir()  # what stood there can no longer be opened

    with pytest.raises(DatabaseUnavailable, match="health check"):
        probe.check()
