"""Notification targets in the database (issue 16), on the fake, SQLite and MySQL: one per
(user, name), sealed like exchange keys (a row moved to another user or name fails to open),
re-encrypted by a master key rotation, and never showing the URL."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from domain.errors import CredentialError, ValidationError
from domain.notifications import DEFAULT_EVENTS, NotifyEvent
from domain.secrets import Secret
from persistence.credentials import rotate_master
from persistence.notify_targets import open_target, store_target
from persistence.vault import MasterKey, Vault, generate_key, parse_keyring
from tests.integration.persistence.helpers import T0, at

OLD = parse_keyring(generate_key(1), source="old")
NEW = OLD.with_current(MasterKey(2, os.urandom(32)))
TOKEN = "112233445:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _url(n: int) -> Secret:
    return Secret(f"tgram://{TOKEN}{n}/-100{n}")


def _store(repo: Any, vault: Vault, user_id: int, name: str, n: int, **kw: Any) -> Any:
    kw.setdefault("events", DEFAULT_EVENTS)
    kw.setdefault("enabled", True)
    kw.setdefault("now", T0)
    return store_target(repo, vault, user_id, name, _url(n), **kw)


def test_targets_are_per_user_by_name_and_replacing_keeps_created_at(repo: Any) -> None:
    vault = Vault(OLD)
    alice = repo.upsert_user("alice", now=T0).id
    bob = repo.upsert_user("bob", now=T0).id
    first = _store(repo, vault, alice, "tg", 1)
    _store(repo, vault, bob, "tg", 2)  # the same name for another user is another target

    replaced = _store(
        repo,
        vault,
        alice,
        "tg",
        3,
        events=frozenset({NotifyEvent.STOP_LOSS}),
        enabled=False,
        now=at(60),
    )

    [mine] = repo.list_notification_targets(user_id=alice)
    assert mine == replaced
    assert (mine.id, mine.created_at, mine.updated_at) == (first.id, T0, at(60))
    assert (mine.events, mine.enabled, mine.scheme, mine.source) == (
        frozenset({NotifyEvent.STOP_LOSS}),
        False,
        "tgram",
        "api",
    )
    assert open_target(vault, mine) == _url(3)
    assert [t.user_id for t in repo.list_notification_targets()] == [alice, bob]
    assert repo.delete_notification_target(alice, "tg") is True
    assert repo.delete_notification_target(alice, "tg") is False
    assert [t.user_id for t in repo.list_notification_targets()] == [bob]


def test_the_url_is_stored_sealed_and_never_shown(repo: Any) -> None:
    vault = Vault(OLD)
    user = repo.upsert_user("alice", now=T0).id
    target = _store(repo, vault, user, "tg", 1)

    assert TOKEN not in target.sealed.ciphertext
    assert "tgram" not in target.sealed.ciphertext
    assert "ciphertext" not in repr(target) and TOKEN not in repr(target)
    assert target.sealed.key_version == 1


def test_a_ciphertext_moved_to_another_user_or_name_does_not_open(repo: Any) -> None:
    vault = Vault(OLD)
    alice = repo.upsert_user("alice", now=T0).id
    bob = repo.upsert_user("bob", now=T0).id
    theirs = _store(repo, vault, alice, "tg", 1)
    for user_id, name in ((bob, "tg"), (alice, "other")):
        repo.save_notification_target(
            user_id,
            name,
            scheme="tgram",
            sealed=theirs.sealed,
            events=DEFAULT_EVENTS,
            enabled=True,
            now=T0,
        )
        [swapped] = [t for t in repo.list_notification_targets(user_id=user_id) if t.name == name]
        with pytest.raises(CredentialError, match="cannot be decrypted") as caught:
            open_target(vault, swapped)
        assert TOKEN not in str(caught.value)


def test_rotate_master_reseals_the_targets_with_the_keys(repo: Any) -> None:
    users = [repo.upsert_user(f"u{n}", now=T0).id for n in range(3)]
    for n, user in enumerate(users):
        _store(repo, Vault(OLD), user, "tg", n)
    repo.delete_user(users[2], now=T0)  # a deleted user's target is moved too

    report = rotate_master(repo, Vault(NEW))

    assert (report.resealed, report.remaining) == (3, 0)
    only_new = Vault(parse_keyring(f"v2:{_b64(NEW.current.key)}", source="new"))
    moved = repo.list_notification_targets(not_key_version=-1)
    assert [t.sealed.key_version for t in moved] == [2, 2, 2]
    assert [open_target(only_new, t) for t in moved] == [_url(0), _url(1), _url(2)]
    assert rotate_master(repo, Vault(NEW)).resealed == 0  # a second run finds nothing to do


def test_bad_input_names_the_field_without_the_url(repo: Any) -> None:
    vault = Vault(OLD)
    user = repo.upsert_user("alice", now=T0).id
    with pytest.raises(ValidationError) as caught:
        store_target(
            repo,
            vault,
            user,
            "tg",
            Secret(f"no scheme {TOKEN}"),
            events=DEFAULT_EVENTS,
            enabled=True,
            now=T0,
        )
    assert caught.value.field == "url"
    assert TOKEN not in str(caught.value)
    with pytest.raises(ValidationError) as named:
        _store(repo, vault, user, "bad name", 1)
    assert named.value.field == "name"
    with pytest.raises(ValidationError) as source:
        _store(repo, vault, user, "tg", 1, source="elsewhere")
    assert source.value.field == "source"
    assert repo.list_notification_targets(user_id=user) == []


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
