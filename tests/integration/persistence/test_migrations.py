"""Migrations: an empty database upgrades to head, and models and migrations agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, String, inspect

from persistence.database import make_engine
from persistence.errors import SchemaOutOfDate
from persistence.migrate import check_at_head, current_revision, head_revision, is_at_head, upgrade
from persistence.models import Base


def _diff(url: str, metadata: MetaData) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_an_empty_database_upgrades_to_head(db_url: str) -> None:
    assert current_revision(db_url) is None
    assert not is_at_head(db_url)
    with pytest.raises(SchemaOutOfDate, match="martingale db upgrade"):
        check_at_head(db_url)
    assert upgrade(db_url) == head_revision()
    assert is_at_head(db_url)
    check_at_head(db_url)
    assert upgrade(db_url) == head_revision()  # running it again is harmless
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {
        "users",
        "accounts",
        "strategies",
        "cycles",
        "orders",
        "fills",
        "events",
        "audit_log",
    } <= tables


def test_models_and_migrations_agree(db_url: str) -> None:
    upgrade(db_url)
    assert _diff(db_url, Base.metadata) == []


def test_the_comparison_would_catch_a_model_change(db_url: str) -> None:
    upgrade(db_url)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["users"].c.name.type = String(65)
    diff = _diff(db_url, changed)
    assert any("modify_type" in str(d) for d in diff)


def test_upgrade_creates_the_sqlite_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "m.sqlite"
    upgrade(f"sqlite:///{path}")
    assert path.exists()
    assert is_at_head(f"sqlite:///{path}")
