"""Every command meets a bad database URL, a database that is not there, or a read-only use,
with one line and exit 1 or 2, and never creates what it only reads (in-process; the process
level, tracebacks and pipes included, is tests/e2e/test_cli_failures.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest

from app.cli import main
from persistence.vault import generate_key
from tests.integration.app.conftest import ALICE, config_text

BAD_URLS = {
    "not a url": "database URL is not valid",
    "mysql://root@127.0.0.1:3306/test": "needs the 'mysqldb' driver, which is not installed",
    "postgresql://u:pw@localhost/db": "'postgresql' databases are not supported",
    "mysql+pymysql://root@127.0.0.1:3306": "the URL names no database",
}


@pytest.fixture
def key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", generate_key(1))
    new = tmp_path / "new.key"
    new.write_text(generate_key(2), encoding="utf-8")
    new.chmod(0o600)
    return ["--new-key-file", str(new)]


def commands(url: str, key_args: list[str]) -> dict[str, list[str]]:
    return {
        "status": ["status", "--db", url],
        "strategy": ["strategy", "pause", "--user", "alice", "--name", "eth", "--db", url],
        "keys": ["keys", "rotate-master", "--db", url, *key_args],
        "db": ["db", "upgrade", "--db", url],
    }


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "unexpected error" not in err, err
    return err


@pytest.mark.parametrize("url", sorted(BAD_URLS))
def test_a_bad_database_url_is_one_line_naming_the_setting_for_every_command(
    url: str,
    key_files: list[str],
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, argv in commands(url, key_files).items():
        status = main(argv)
        err = one_line(capsys)
        assert BAD_URLS[url] in err, (name, err)
        assert status == 2, (name, err)
        assert "pw@" not in err  # the URL (and its password) is never repeated
    config = write_config(config_text(url, ALICE))
    for name in ("onboard", "run"):
        assert main([name, "--config", str(config)]) == 2
        err = one_line(capsys)
        assert f"{config}:2: database.url: " in err and BAD_URLS[url] in err, err


@pytest.fixture
def missing_mysql_url(mysql_url: str) -> Iterator[str]:
    """A URL naming a database the server does not have (dropped again afterwards)."""
    parts = urlsplit(mysql_url)
    name = f"{parts.path.lstrip('/')}_missing"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    yield url
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.mark.mysql
def test_an_unknown_mysql_database_says_create_it_and_db_upgrade_does(
    missing_mysql_url: str,
    key_files: list[str],
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(config_text(missing_mysql_url, ALICE))
    runs = {**commands(missing_mysql_url, key_files)}
    del runs["db"]
    runs["onboard"] = ["onboard", "--config", str(config)]
    runs["run"] = ["run", "--no-web", "--config", str(config)]
    for name, argv in runs.items():
        assert main(argv) == 1, name
        err = one_line(capsys)
        assert "does not exist on that server; create it with `martingale db upgrade" in err

    assert main(["db", "upgrade", "--db", missing_mysql_url]) == 0
    assert "created the MySQL database" in capsys.readouterr().out
    assert main(["onboard", "--config", str(config)]) == 0
    assert main(["db", "upgrade", "--db", missing_mysql_url]) == 0  # exists now: migrates only
    assert "created" not in capsys.readouterr().out.splitlines()[-1]


def test_read_only_commands_never_create_a_database_file_or_its_directory(
    tmp_path: Path, key_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "var" / "missing"
    url = f"sqlite:///{where / 'none.sqlite'}"
    for name, argv in commands(url, key_files).items():
        if name == "db":
            continue  # the one command whose job is to create it
        assert main(argv) == 1, name
        assert "does not exist yet" in one_line(capsys)
        assert not (tmp_path / "var").exists(), f"{name} created {where}"
