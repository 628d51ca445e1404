"""`martingale strategy signal-url USER STRATEGY`: the URL and secret printed once work on the
API; a second run needs --rotate, which retires the old ones; a master key rotation carries the
signal secrets along."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from tests.web.conftest import PARAMS
from web.app import create_app
from web.context import WebContext

KEY = generate_key(1)
SIGNAL = {**PARAMS, "start_condition": {"type": "signal", "max_lag": "3600"}}


@dataclass
class Printed:
    path: str
    secret: str


@pytest.fixture
def repo(sqlite_url: str) -> Iterator[SqlRepository]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        repo = SqlRepository(engine)
        user = repo.upsert_user("alice", now=datetime.now(UTC))
        account = repo.upsert_account(user.id, "main", exchange="paper", now=datetime.now(UTC))
        repo.upsert_strategy(
            user.id,
            "eth",
            account_id=account.id,
            symbol="ETH/BTC",
            params=SIGNAL,
            desired_state=DesiredState.RUNNING,
            now=datetime.now(UTC),
        )
        yield repo
    finally:
        engine.dispose()


def signal_url(url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    status = main(["strategy", "signal-url", "alice", "eth", "--db", url, *extra])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def printed(out: str) -> Printed:
    lines = [line.strip() for line in out.splitlines()]
    path = next(line for line in lines if line.startswith("/api/v1/signals/"))
    secret = lines[lines.index("secret (shown once):") + 1]
    return Printed(path=path, secret=secret)


def post(repo: SqlRepository, key: str, where: Printed, nonce: str) -> int:
    ctx = WebContext(repo=repo, vault=Vault(parse_keyring(key, source="test")))
    with TestClient(create_app(ctx)) as client:
        body = {"secret": where.secret, "time": datetime.now(UTC).isoformat(), "nonce": nonce}
        return client.post(where.path, content=json.dumps(body)).status_code


def test_the_printed_url_and_secret_work_and_a_rotation_replaces_them(
    sqlite_url: str,
    repo: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", KEY)
    status, out = signal_url(sqlite_url, capsys)
    assert status == 0, out
    first = printed(out)
    assert first.secret.startswith("mgs_") and '"time": "{{timenow}}"' in out
    assert post(repo, KEY, first, "1") == 202

    status, out = signal_url(sqlite_url, capsys)
    assert status == 2 and "--rotate" in out
    assert post(repo, KEY, first, "2") == 202  # a refused run changed nothing

    status, out = signal_url(sqlite_url, capsys, "--rotate")
    assert status == 0, out
    second = printed(out)
    assert second.path != first.path and second.secret != first.secret
    assert post(repo, KEY, first, "3") == 401
    assert post(repo, KEY, second, "4") == 202


def test_unknown_names_and_a_missing_master_key_are_refused(
    sqlite_url: str,
    repo: SqlRepository,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MARTINGALE_MASTER_KEY", raising=False)
    status, out = signal_url(sqlite_url, capsys)
    assert status == 2 and "master key" in out
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", KEY)
    assert main(["strategy", "signal-url", "bob", "eth", "--db", sqlite_url]) == 2
    assert "no user named 'bob'" in capsys.readouterr().err
    assert main(["strategy", "signal-url", "alice", "nope", "--db", sqlite_url]) == 2
    assert "no strategy 'nope'" in capsys.readouterr().err
    assert main(["strategy", "signal-url", "alice", "--db", sqlite_url]) == 2
    assert "USER STRATEGY" in capsys.readouterr().err
    assert main(["strategy", "pause", "alice", "eth", "--db", sqlite_url]) == 2
    assert repo.get_signal_key(repo.list_strategies()[0].id) is None


def test_a_master_key_rotation_moves_the_signal_secrets(
    sqlite_url: str,
    repo: SqlRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", KEY)
    status, out = signal_url(sqlite_url, capsys)
    assert status == 0, out
    made = printed(out)
    new = generate_key(2)
    path = tmp_path / "new.key"
    path.write_text(new + "\n", encoding="utf-8")
    path.chmod(0o600)

    status = main(["keys", "rotate-master", "--db", sqlite_url, "--new-key-file", str(path)])

    out = capsys.readouterr().out
    assert status == 0, out
    assert "re-encrypted 1 signal secret(s)" in out
    [key] = repo.list_signal_keys()
    assert key.key_version == 2
    assert post(repo, new, made, "after") == 202  # the new key alone opens it


def test_with_a_config_file_the_url_names_the_api_address(
    sqlite_url: str,
    repo: SqlRepository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "master.key"
    key.write_text(KEY + "\n", encoding="utf-8")
    key.chmod(0o600)
    config = tmp_path / "service.yaml"
    config.write_text(
        f"database:\n  url: {sqlite_url}\nmaster_key_file: {key}\n"
        "web:\n  host: 127.0.0.1\n  port: 8123\nusers: []\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("MARTINGALE_MASTER_KEY", raising=False)

    status = main(["strategy", "signal-url", "alice", "eth", "--config", str(config)])

    out = capsys.readouterr().out
    assert status == 0, out
    assert "http://127.0.0.1:8123/api/v1/signals/mgw_" in out
