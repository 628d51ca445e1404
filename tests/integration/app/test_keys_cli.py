"""`martingale keys rotate-master` refuses what would leave keys nobody can open."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from domain.errors import CredentialError
from domain.secrets import Credentials, Secret
from persistence.credentials import load_credentials, rotate_master, store_credentials
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import SealedCredentials
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from tests.integration.persistence.helpers import T0

CREDS = Credentials(api_key=Secret("AK-rot-7h3k9"), secret=Secret("SK-rot-2m8q4"))


@pytest.fixture
def repo(db_url: str) -> Iterator[SqlRepository]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()


def stored_account(repo: SqlRepository, key: str) -> int:
    user = repo.upsert_user("rot", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="binance", now=T0)
    store_credentials(repo, vault(key), account.id, CREDS, now=T0)
    return account.id


def vault(*keys: str) -> Vault:
    return Vault(parse_keyring(",".join(keys), source="test"))


def key_file(path: Path, key: str, mode: int = 0o600) -> Path:
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def rotate(db_url: str, *extra: str) -> int:
    return main(["keys", "rotate-master", "--db", db_url, *extra])


def test_a_new_key_whose_version_is_not_higher_is_refused(
    db_url: str,
    repo: SqlRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = generate_key(3)
    account = stored_account(repo, old)
    before = repo.load_credentials(account)
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", old)

    status = rotate(db_url, "--new-key-file", str(key_file(tmp_path / "new.key", generate_key(2))))

    err = capsys.readouterr().err
    assert status == 1
    assert "version 2, which is not higher than version 3" in err
    assert "martingale keys generate --version 4" in err
    assert repo.load_credentials(account) == before


class TruncatingRepository:
    """The real repository, except that a re-sealed ciphertext is stored cut short, as a
    column too narrow for the new key's header would keep it."""

    def __init__(self, inner: SqlRepository) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reseal_credentials(
        self, account_id: int, *, expected_ciphertext: str, sealed: SealedCredentials
    ) -> bool:
        if sealed.key_version == 2:
            sealed = replace(sealed, ciphertext=sealed.ciphertext[:-6])
        return self._inner.reseal_credentials(
            account_id, expected_ciphertext=expected_ciphertext, sealed=sealed
        )


def test_a_row_that_does_not_decrypt_back_gets_its_old_ciphertext_and_the_rotation_stops(
    repo: SqlRepository,
) -> None:
    old, new = generate_key(1), generate_key(2)
    account = stored_account(repo, old)
    before = repo.load_credentials(account)

    with pytest.raises(CredentialError, match=r"did not decrypt back.*put back") as error:
        rotate_master(TruncatingRepository(repo), vault(new, old))  # type: ignore[arg-type]

    assert "SK-rot" not in str(error.value)
    assert repo.load_credentials(account) == before
    assert load_credentials(repo, vault(old), account) == CREDS


def test_key_files_others_can_read_and_two_old_key_sources_are_refused(
    db_url: str,
    repo: SqlRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = generate_key(1)
    account = stored_account(repo, old)
    before = repo.load_credentials(account)
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", old)
    shared = key_file(tmp_path / "new.key", generate_key(2), mode=0o644)

    assert rotate(db_url, "--new-key-file", str(shared)) == 1
    assert "--new-key-file: other users can access the file (mode 644)" in capsys.readouterr().err

    new_key = generate_key(2)
    new = key_file(tmp_path / "new2.key", new_key)
    old_file = key_file(tmp_path / "old.key", old)
    assert rotate(db_url, "--new-key-file", str(new), "--old-key-file", str(old_file)) == 1
    assert "both MARTINGALE_MASTER_KEY and a master key file are set" in capsys.readouterr().err
    assert repo.load_credentials(account) == before

    monkeypatch.delenv("MARTINGALE_MASTER_KEY")
    assert rotate(db_url, "--new-key-file", str(new), "--old-key-file", str(old_file)) == 0
    assert load_credentials(repo, vault(new_key), account) == CREDS
