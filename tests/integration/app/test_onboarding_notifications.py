"""Notification targets through a config file's sync (issue 16), on SQLite and MySQL: stored
sealed, unchanged on a second run, following the file's events, kept when the source is
absent, deleted when the file drops them (the API's stay), and refused in plaintext."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.loader import ConfigError, load_config
from domain.notifications import DEFAULT_EVENTS, NotifyEvent
from domain.secrets import Secret
from persistence.notify_targets import open_target, store_target
from persistence.sql_repository import SqlRepository
from persistence.vault import generate_key
from services.onboarding import sync_config, vault_for
from tests.integration.app.conftest import config_text

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
KEY = generate_key()
URL = "tgram://555666777:AAFconfigSyncedBotToken/-1009"
ENV = {"MARTINGALE_MASTER_KEY": KEY, "ALICE_TG": URL}


def _user(targets: str) -> str:
    return f"""
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {{BTC: 1}}
    notifications:{targets}
"""


TG = """
      - name: tg
        url_env: ALICE_TG
"""


def _sync(
    repo: SqlRepository,
    write: Callable[[str], Path],
    url: str,
    targets: str,
    env: dict[str, str],
    at: datetime,
) -> Any:
    config = load_config(write(config_text(url, _user(targets))))
    return sync_config(config, repo, vault_for(config, env=env), now=at, env=env)


def test_a_target_is_stored_sealed_and_a_second_sync_writes_nothing(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    first = _sync(sql_repo, write_config, db_url, TG, ENV, T0)
    assert first.as_dict()["notifications"]["created"] == 1
    alice = sql_repo.find_user("alice")
    assert alice is not None
    [target] = sql_repo.list_notification_targets(user_id=alice.id)
    assert (target.name, target.scheme, target.events, target.source) == (
        "tg",
        "tgram",
        DEFAULT_EVENTS,
        "config",
    )
    config = load_config(write_config(config_text(db_url, _user(TG))))
    vault = vault_for(config, env=ENV)
    assert vault is not None
    assert open_target(vault, target).reveal() == URL
    assert "AAFconfig" not in target.sealed.ciphertext

    second = _sync(sql_repo, write_config, db_url, TG, ENV, T0 + timedelta(hours=1))
    assert second.as_dict()["notifications"]["unchanged"] == 1
    assert sql_repo.list_notification_targets(user_id=alice.id) == [target]  # not rewritten


def test_events_and_enabled_follow_the_file_and_an_absent_source_keeps_the_url(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    _sync(sql_repo, write_config, db_url, TG, ENV, T0)
    changed = TG + "        events: [stop_loss, safety_filled]\n        enabled: false\n"
    no_url = {"MARTINGALE_MASTER_KEY": KEY}  # ALICE_TG unset: the stored URL stays

    report = _sync(sql_repo, write_config, db_url, changed, no_url, T0 + timedelta(hours=1))

    assert report.as_dict()["notifications"]["updated"] == 1
    [target] = sql_repo.list_notification_targets()
    assert target.events == {NotifyEvent.STOP_LOSS, NotifyEvent.SAFETY_FILLED}
    assert target.enabled is False
    config = load_config(write_config(config_text(db_url, _user(changed))))
    vault = vault_for(config, env=no_url)
    assert vault is not None and open_target(vault, target).reveal() == URL


def test_a_new_target_without_its_url_is_refused_naming_the_entry(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    with pytest.raises(ConfigError, match=r"notifications\[0\]\.url_env.*ALICE_TG"):
        _sync(sql_repo, write_config, db_url, TG, {"MARTINGALE_MASTER_KEY": KEY}, T0)
    assert sql_repo.list_notification_targets() == []


def test_targets_the_file_drops_are_deleted_but_the_apis_stay(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    _sync(sql_repo, write_config, db_url, TG, ENV, T0)
    alice = sql_repo.find_user("alice")
    assert alice is not None
    config = load_config(write_config(config_text(db_url, _user(TG))))
    vault = vault_for(config, env=ENV)
    assert vault is not None
    store_target(
        sql_repo,
        vault,
        alice.id,
        "api-made",
        Secret("json://127.0.0.1:9/x"),
        events=DEFAULT_EVENTS,
        enabled=True,
        now=T0,
    )

    report = _sync(sql_repo, write_config, db_url, " []\n", ENV, T0 + timedelta(hours=1))

    assert report.as_dict()["notifications"]["stopped"] == 1
    assert [t.name for t in sql_repo.list_notification_targets()] == ["api-made"]


def test_a_url_written_in_the_file_is_refused_without_repeating_it(
    db_url: str, write_config: Callable[[str], Path]
) -> None:
    text = config_text(db_url, _user(f"\n      - name: tg\n        url: {URL}\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(text))
    assert "plaintext secret 'url'" in str(caught.value)
    assert "AAFconfig" not in str(caught.value)


def test_targets_need_the_master_key(db_url: str, write_config: Callable[[str], Path]) -> None:
    config = load_config(write_config(config_text(db_url, _user(TG))))
    with pytest.raises(ConfigError, match=r"notifications\[0\].*master key"):
        vault_for(config, env={})
