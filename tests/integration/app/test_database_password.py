"""A MariaDB user with a password that is not in the config file: `database.password_file`
(and `password_env`) fill it in, `onboard` and `status` work, and it never reaches the output."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from app.cli import main
from persistence.migrate import upgrade
from tests.conftest import _connect
from tests.integration.app.conftest import ALICE, MARKETS

PASSWORD = "Wq7:p@ss/w%rd"
pytestmark = pytest.mark.mysql


@pytest.fixture
def mysql_user(mysql_url: str) -> Iterator[tuple[str, str]]:
    """(user, URL of the scratch database without a password) for a user with PASSWORD."""
    parts = urlsplit(mysql_url)
    database = parts.path.lstrip("/")
    user = f"mgpw{os.getpid()}"
    conn = _connect(mysql_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
            cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
        host = parts.hostname or "127.0.0.1"
        netloc = f"{user}@{host}:{parts.port or 3306}"
        yield user, urlunsplit(parts._replace(netloc=netloc))
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    finally:
        conn.close()


def _config(write: Callable[[str], Path], url: str, source: str) -> Path:
    return write(f"database:\n  url: {url}\n  {source}\n{MARKETS}\nusers:{ALICE}")


def test_the_password_comes_from_a_private_file(
    mysql_url: str,
    mysql_user: tuple[str, str],
    write_config: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = mysql_user
    secret = tmp_path / "db.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o600)
    config = _config(write_config, url, "password_file: db.password")
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["onboard", "--config", str(config)]) == 0
    onboarded = capsys.readouterr()
    assert main(["status", "--config", str(config), "--json"]) == 0
    out, err = capsys.readouterr()
    assert sorted(s["name"] for s in json.loads(out)["strategies"]) == ["btc", "eth"]
    assert PASSWORD not in out + err + onboarded.out + onboarded.err


def test_without_the_password_the_server_refuses_and_says_so(
    mysql_url: str,
    mysql_user: tuple[str, str],
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upgrade(mysql_url)
    _, url = mysql_user
    config = _config(write_config, url, "password_env: MG_TEST_DB_PASSWORD")
    monkeypatch.delenv("MG_TEST_DB_PASSWORD", raising=False)
    assert main(["status", "--config", str(config)]) == 2
    _, err = capsys.readouterr()
    assert "database.password_env" in err and "MG_TEST_DB_PASSWORD" in err
    monkeypatch.setenv("MG_TEST_DB_PASSWORD", PASSWORD)
    assert main(["status", "--config", str(config), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"strategies": []}
    assert PASSWORD not in out + err
