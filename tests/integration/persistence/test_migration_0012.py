"""Migration 0012 (webhook signals: signal_keys, signals) on a database that already holds a
strategy, on SQLite and MySQL: the repository stores and reads both tables, a replay is refused
by the schema itself, and the tables go away on a downgrade (and come back empty)."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from persistence.database import make_engine
from persistence.errors import DuplicateSignal
from persistence.migrate import alembic_config, downgrade, upgrade
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import at, seed_owner, transaction

# The revision 0012 follows (0011).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0012").down_revision


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0012_adds_the_signal_tables_to_a_database_with_strategies(db_url: str) -> None:
    assert isinstance(BEFORE, str)
    assert upgrade(db_url, BEFORE) == BEFORE
    with transaction(db_url) as conn:
        seed_owner(conn, exchange="paper", strategies=((1, "s1"),))
    assert {"signal_keys", "signals"}.isdisjoint(_tables(db_url))

    assert upgrade(db_url, "0012") == "0012"

    engine = make_engine(db_url)
    try:
        repo = SqlRepository(engine)
        made = repo.save_signal_key(
            1, token_hash="a" * 64, secret_ciphertext="mg1:1:x", key_version=1, now=at(0)
        )
        assert repo.find_signal_key("a" * 64) == made
        signal = repo.record_signal(1, nonce="n" * 64, signal_at=at(1), now=at(2))
        with pytest.raises(DuplicateSignal):
            repo.record_signal(1, nonce="n" * 64, signal_at=at(1), now=at(3))
        assert repo.unconsumed_signals([1]) == [signal]
    finally:
        engine.dispose()

    assert downgrade(db_url, BEFORE) == BEFORE
    assert {"signal_keys", "signals"}.isdisjoint(_tables(db_url))
    assert upgrade(db_url, "0012") == "0012"  # and up again, empty
    engine = make_engine(db_url)
    try:
        assert SqlRepository(engine).unconsumed_signals([1]) == []
    finally:
        engine.dispose()
