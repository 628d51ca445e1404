"""`martingale doctor` changes nothing: no byte of a SQLite file, no row, no migration, no new
database; its connections refuse writes. And what it reads on MariaDB is what it judges."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from app.cli import main
from domain.errors import MartingaleError
from persistence.database import make_engine
from persistence.migrate import current_revision, head_revision, upgrade
from persistence.provision import mysql_database_exists
from persistence.readonly import ReadOnlyDatabase
from persistence.sql_repository import SqlRepository
from persistence.vault import MASTER_KEY_ENV
from services.doctor.database import judge_mysql
from tests.integration.app.conftest import ALICE, config_text
from tests.integration.persistence.helpers import T0


def snapshot(url: str) -> dict[str, object]:
    """Every table's row count, and on MySQL its checksum (the rows' content)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                names = conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                ).scalars()
            else:
                names = conn.execute(text("SHOW TABLES")).scalars()
            tables = list(names)
            found: dict[str, object] = {
                t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables
            }
            if not url.startswith("sqlite"):
                for t in tables:
                    found[f"{t}#checksum"] = conn.execute(text(f"CHECKSUM TABLE {t}")).one()[1]
    finally:
        engine.dispose()
    return found


def file_digest(url: str) -> str:
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def seeded(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        user = repo.upsert_user("alice", now=T0)
        repo.upsert_account(user.id, "paper", exchange="paper", now=T0)
    finally:
        engine.dispose()


def test_doctor_changes_no_row_and_no_byte(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(db_url)
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    before = snapshot(db_url)
    digest = file_digest(db_url) if db_url.startswith("sqlite") else None

    main(["doctor", "--db", db_url])
    main(["doctor", "--db", db_url, "--json"])
    capsys.readouterr()

    assert snapshot(db_url) == before
    if digest is not None:
        assert file_digest(db_url) == digest


def test_a_database_behind_is_reported_and_not_migrated(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(db_url, "0007")

    status = main(["doctor", "--db", db_url])
    output = capsys.readouterr().out

    assert status == 1
    assert "FAIL  schema: the database is at revision 0007" in output
    assert "martingale db upgrade" in output
    assert current_revision(db_url) == "0007"  # still behind: nothing was migrated


def test_a_missing_sqlite_file_is_reported_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = tmp_path / "nowhere" / "service.sqlite"

    status = main(["doctor", "--db", f"sqlite:///{where}"])

    assert status == 1
    assert "FAIL  database: the database does not exist yet" in capsys.readouterr().out
    assert not where.parent.exists()


def test_a_missing_mysql_database_is_reported_not_created(
    mysql_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = mysql_url + "_absent"

    status = main(["doctor", "--db", absent])

    assert status == 1
    assert "does not exist on that server" in capsys.readouterr().out
    assert not mysql_database_exists(absent)


def test_the_doctors_connections_refuse_writes(db_url: str) -> None:
    upgrade(db_url)
    database = ReadOnlyDatabase(db_url)
    try:
        with pytest.raises(MartingaleError):
            database.repository().upsert_user("mallory", now=T0)
    finally:
        database.close()
    assert snapshot(db_url)["users"] == 0


def test_mariadb_settings_are_read_and_judged(mysql_url: str) -> None:
    """The one real read: this server's values, whatever they are, through the same judgement
    the pure tests pin down."""
    upgrade(mysql_url)
    database = ReadOnlyDatabase(mysql_url)
    try:
        settings = database.mysql_settings()
    finally:
        database.close()
    assert set(settings.table_engines) >= {"users", "accounts", "orders", "alembic_version"}
    assert set(settings.table_engines.values()) == {"InnoDB"}
    assert settings.flush_log_at_trx_commit in (0, 1, 2)
    assert settings.wait_timeout > 0 and settings.sync_binlog >= 0
    names = [c.name for c in judge_mysql(settings)]
    assert names == ["mysql.engines", "mysql.flush_log", "mysql.sync_binlog", "mysql.wait_timeout"]


def test_an_invalid_config_names_file_line_and_field(
    write_config: Callable[[str], Path], sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        config_text(sqlite_url, ALICE).replace("take_profit: 1.5", "take_profit: -1")
    )

    status = main(["doctor", "--config", str(path)])
    output = capsys.readouterr().out

    assert status == 1
    (line,) = [x for x in output.splitlines() if x.startswith("FAIL  config:")]
    assert f"{path}:" in line and "users[0].strategies[0].take_profit" in line
    assert "skip  database" in output  # nothing to open: the file is the source of the URL


def test_a_valid_config_with_its_database_passes(
    write_config: Callable[[str], Path],
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    path = write_config(config_text(sqlite_url, ALICE))
    assert main(["onboard", "--config", str(path)]) == 0
    capsys.readouterr()

    status = main(["doctor", "--config", str(path)])
    output = capsys.readouterr().out

    assert status == 0, output
    assert output.startswith(f"ok    config: {path} is valid (1 users")
    assert current_revision(sqlite_url) == head_revision()


def test_config_and_db_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--config", "x.yaml", "--db", "sqlite:///x.sqlite"]) == 2
    assert "give --config or --db, not both" in capsys.readouterr().err
