"""Migration 0011 (issue 16: notification targets) on a database that already holds users, on
SQLite and MySQL: the table works through the repository (unique per user and name, bound to
its user), and goes away on a downgrade, and comes back on the next upgrade."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from domain.notifications import DEFAULT_EVENTS, NotifyEvent
from domain.secrets import Secret
from persistence.database import make_engine
from persistence.migrate import downgrade, upgrade
from persistence.notify_targets import open_target, store_target
from persistence.records_notify import SealedUrl
from persistence.sql_repository import SqlRepository
from persistence.vault import Keyring, MasterKey, Vault
from tests.integration.persistence.helpers import T0, transaction

NOW = T0.replace(tzinfo=None).isoformat(sep=" ")
VAULT = Vault(Keyring(current=MasterKey(1, os.urandom(32))))
URL = "tgram://987654321:AAFakeBotTokenForMigration/1234"


def _tables(url: str) -> set[str]:
    with transaction(url) as conn:
        return set(inspect(conn).get_table_names())


def test_0011_adds_the_targets_table_to_a_database_with_users_and_drops_it_again(
    db_url: str,
) -> None:
    assert upgrade(db_url, "0010") == "0010"
    with transaction(db_url) as conn:
        conn.execute(
            text("INSERT INTO users (id, name, created_at) VALUES (1, 'alice', :t)"), {"t": NOW}
        )
    assert "notification_targets" not in _tables(db_url)

    assert upgrade(db_url, "0011") == "0011"

    engine = make_engine(db_url)
    try:
        repo = SqlRepository(engine)
        saved = store_target(
            repo, VAULT, 1, "tg", Secret(URL), events=DEFAULT_EVENTS, enabled=True, now=T0
        )
        [listed] = repo.list_notification_targets(user_id=1)
        assert listed == saved
        assert listed.events == DEFAULT_EVENTS and listed.enabled and listed.scheme == "tgram"
        assert open_target(VAULT, listed).reveal() == URL
        # (user, name) is unique in the table itself
        with pytest.raises(IntegrityError), transaction(db_url) as conn:
            conn.execute(
                text(
                    "INSERT INTO notification_targets (user_id, name, scheme, "
                    "url_ciphertext, url_key_version, events, created_at, updated_at) "
                    "VALUES (1, 'tg', 'x', 'c', 1, 'stop_loss', :t, :t)"
                ),
                {"t": NOW},
            )
        with transaction(db_url) as conn:  # the defaults of the columns a raw insert leaves
            conn.execute(
                text(
                    "INSERT INTO notification_targets (user_id, name, scheme, url_ciphertext, "
                    "url_key_version, events, created_at, updated_at) "
                    "VALUES (1, 'raw', 'json', 'c', 1, 'stop_loss', :t, :t)"
                ),
                {"t": NOW},
            )
        raw = next(t for t in repo.list_notification_targets(user_id=1) if t.name == "raw")
        assert (raw.enabled, raw.source, raw.events) == (
            True,
            "api",
            frozenset({NotifyEvent.STOP_LOSS}),
        )
        assert raw.sealed == SealedUrl(ciphertext="c", key_version=1)
    finally:
        engine.dispose()

    assert downgrade(db_url, "0010") == "0010"
    assert "notification_targets" not in _tables(db_url)
    assert upgrade(db_url, "0011") == "0011"
    assert "notification_targets" in _tables(db_url)
