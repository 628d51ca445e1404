"""`martingale db upgrade` and `martingale keys rotate-master` end to end on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from domain.secrets import Credentials, Secret
from persistence.credentials import load_credentials, store_credentials
from persistence.database import make_engine
from persistence.migrate import is_at_head
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from tests.integration.persistence.helpers import T0

CREDS = Credentials(api_key=Secret("AK-cli-123"), secret=Secret("SK-cli-456"))


def test_db_upgrade_then_rotate_master(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert is_at_head(db_url)
    old_key, new_key = generate_key(1), generate_key(2)
    engine = make_engine(db_url)
    try:
        repo = SqlRepository(engine)
        user = repo.upsert_user("cli", now=T0)
        account = repo.upsert_account(user.id, "main", exchange="binance", now=T0)
        store_credentials(
            repo, Vault(parse_keyring(old_key, source="old")), account.id, CREDS, now=T0
        )
        new_file = tmp_path / "new.key"
        new_file.write_text(new_key)
        new_file.chmod(0o600)  # key files others can read are refused
        monkeypatch.setenv("MARTINGALE_MASTER_KEY", old_key)
        assert main(["keys", "rotate-master", "--db", db_url, "--new-key-file", str(new_file)]) == 0
        out = capsys.readouterr().out
        assert "re-encrypted 1 credential row(s) under key version 2" in out
        assert "AK-cli" not in out and "SK-cli" not in out and new_key not in out
        only_new = Vault(parse_keyring(new_key, source="new"))
        assert load_credentials(repo, only_new, account.id) == CREDS
    finally:
        engine.dispose()


def test_rotate_master_refuses_a_new_key_with_a_used_version(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["db", "upgrade", "--db", sqlite_url])
    new_file = tmp_path / "new.key"
    new_file.write_text(generate_key(1))
    new_file.chmod(0o600)
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", generate_key(1))
    assert main(["keys", "rotate-master", "--db", sqlite_url, "--new-key-file", str(new_file)]) == 1
    assert "martingale keys generate --version 2" in capsys.readouterr().err


def test_db_upgrade_uses_the_environment_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'env' / 'db.sqlite'}"
    monkeypatch.setenv("MARTINGALE_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert is_at_head(url)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["db", "upgrade", "--help"], "MARTINGALE_DATABASE_URL"),
        (["keys", "rotate-master", "--help"], "interrupted and run again"),
    ],
)
def test_help_explains_the_commands(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert expected in capsys.readouterr().out
