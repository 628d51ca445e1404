"""Credentials in the database: rotation, replacement, and dumps that never hold a secret."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from domain.errors import CredentialError
from domain.secrets import Credentials, Secret
from persistence.credentials import (
    load_credentials,
    replace_credentials,
    rotate_master,
    store_credentials,
)
from persistence.errors import NotFound
from persistence.sql_repository import SqlRepository
from persistence.vault import MasterKey, Vault, generate_key, parse_keyring
from tests.integration.persistence.helpers import T0, at

OLD = parse_keyring(generate_key(1), source="old")
NEW = OLD.with_current(MasterKey(2, os.urandom(32)))


def _creds(n: int) -> Credentials:
    return Credentials(
        api_key=Secret(f"APIKEY-{n:04d}-Zq9"),
        secret=Secret(f"SECRET-{n:04d}-Xw7"),
        passphrase=Secret(f"PASSPH-{n:04d}-Kk3"),
    )


def _accounts(repo: Any, vault: Vault, count: int) -> list[int]:
    ids = []
    for n in range(count):
        user = repo.upsert_user(f"user{n}", now=T0)
        account = repo.upsert_account(user.id, "main", exchange="binance", now=T0)
        store_credentials(repo, vault, account.id, _creds(n), now=T0)
        ids.append(account.id)
    return ids


def test_rotation_keeps_every_row_readable_even_when_interrupted(repo: Any) -> None:
    ids = _accounts(repo, Vault(OLD), 5)
    rotating = Vault(NEW)
    seen: list[int] = []

    def crash_on_third(stored: Any) -> None:
        seen.append(stored.account_id)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_master(repo, rotating, on_row=crash_on_third)
    # Half done: every row still opens with the keyring that holds both keys.
    for n, aid in enumerate(ids):
        assert load_credentials(repo, rotating, aid) == _creds(n)
    assert len(repo.list_credentials(not_key_version=2)) == 3

    report = rotate_master(repo, rotating)
    assert (report.resealed, report.remaining, report.done) == (3, 0, True)
    assert rotate_master(repo, rotating).resealed == 0  # a rerun finds nothing left
    only_new = Vault(
        parse_keyring(f"v2:{base64.b64encode(NEW.current.key).decode()}", source="new")
    )
    for n, aid in enumerate(ids):
        assert load_credentials(repo, only_new, aid) == _creds(n)
        assert repo.get_account(aid).credentials_key_version == 2
    with pytest.raises(CredentialError):
        load_credentials(repo, Vault(OLD), ids[0])


def test_a_key_replaced_during_rotation_is_not_overwritten(repo: Any) -> None:
    (aid,) = _accounts(repo, Vault(OLD), 1)
    rotating = Vault(NEW)
    fresh = Credentials(api_key=Secret("NEWKEY-1"), secret=Secret("NEWSECRET-1"))

    def user_replaces_key(stored: Any) -> None:
        replace_credentials(repo, Vault(OLD), stored.account_id, fresh, now=at(1))

    report = rotate_master(repo, rotating, on_row=user_replaces_key)
    assert (report.resealed, report.changed_meanwhile, report.remaining) == (0, 1, 1)
    assert load_credentials(repo, rotating, aid) == fresh
    assert rotate_master(repo, rotating).done


def test_replacing_credentials_needs_existing_ones_and_changes_the_fingerprint(repo: Any) -> None:
    user = repo.upsert_user("solo", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="binance", now=T0)
    vault = Vault(OLD)
    with pytest.raises(NotFound):
        replace_credentials(repo, vault, account.id, _creds(1), now=T0)
    assert load_credentials(repo, vault, account.id) is None
    first = store_credentials(repo, vault, account.id, _creds(1), now=T0)
    second = replace_credentials(repo, vault, account.id, _creds(2), now=at(5))
    assert first.credentials_fingerprint != second.credentials_fingerprint
    assert second.credentials_rotated_at == at(5)
    assert load_credentials(repo, vault, account.id) == _creds(2)


def _dump(url: str, engine_repo: SqlRepository) -> bytes:
    engine_repo._engine.dispose()  # checkpoint the SQLite WAL into the main file
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    parts = urlsplit(url)
    return subprocess.run(
        [
            "mysqldump",
            "--protocol=TCP",
            f"-h{parts.hostname}",
            f"-P{parts.port or 3306}",
            f"-u{parts.username or 'root'}",
            parts.path.lstrip("/"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


def test_a_full_dump_of_the_database_contains_no_secret(
    db_url: str, sql_repo: SqlRepository
) -> None:
    ids = _accounts(sql_repo, Vault(OLD), 3)
    rotate_master(sql_repo, Vault(NEW))
    replace_credentials(sql_repo, Vault(NEW), ids[0], _creds(99), now=at(1))
    dump = _dump(db_url, sql_repo)
    assert b"user2" in dump and b"mg1:2:" in dump  # the dump is real and holds the rows
    for n in (0, 1, 2, 99):
        for secret in (_creds(n).api_key, _creds(n).secret, _creds(n).passphrase):
            assert secret is not None
            assert secret.reveal().encode() not in dump
