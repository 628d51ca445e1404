"""The pieces of a backup that need no database: names, pruning, the archive's checks, the dump's
row counting, and the MySQL client's credentials (never on its command line)."""

from __future__ import annotations

import stat
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.cli import main
from persistence.backup_archive import (
    BackupError,
    Manifest,
    archive_name,
    archive_time,
    prune,
    read_archive,
    sha256_of,
    write_archive,
)
from persistence.backup_dump import count_tuples, defaults_file, dump_command

PASSWORD = 'p#ss w"rd\\x'


def test_archive_names_carry_the_utc_time_and_read_back() -> None:
    local = datetime(2026, 12, 7, 14, 5, 1, tzinfo=timezone(timedelta(hours=1)))
    name = archive_name(local)
    assert name == "martingale-20261207T130501Z.tar.gz"
    assert archive_time(name) == datetime(2026, 12, 7, 13, 5, 1, tzinfo=UTC)
    for other in ("martingale-20261207T130501Z.tar.gz.tmp", "x-20261207T130501Z.tar.gz", "a"):
        assert archive_time(other) is None


def test_prune_keeps_the_newest_n_and_touches_nothing_else(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = [archive_name(start + timedelta(hours=h)) for h in (5, 1, 3, 2, 4)]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    strangers = ["notes.txt", ".martingale-20260101T000000Z.tar.gz.abc.tmp", "mine.tar.gz"]
    for name in strangers:
        (tmp_path / name).write_bytes(b"y")

    deleted = prune(tmp_path, 2)

    assert sorted(p.name for p in deleted) == sorted(names)[:3]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*sorted(names)[3:], *strangers])
    assert prune(tmp_path, 2) == []
    with pytest.raises(ValueError, match="at least 1"):
        prune(tmp_path, 0)


def _manifest(parts: dict[str, Path]) -> Manifest:
    return Manifest(
        created_at="2026-12-07T13:05:01+00:00",
        version="test",
        revision="0008",
        db_kind="sqlite",
        tables={"users": 1},
        parts={name: sha256_of(path) for name, path in parts.items()},
    )


def test_an_archive_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    part = tmp_path / "database.sqlite"
    part.write_bytes(b"pretend database")
    dest = tmp_path / "out" / archive_name(datetime(2026, 12, 7, tzinfo=UTC))
    dest.parent.mkdir()
    write_archive(dest, _manifest({"database.sqlite": part}), {"database.sqlite": part})
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary left
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    work = tmp_path / "work"
    work.mkdir()
    manifest, parts = read_archive(dest, work)
    assert manifest.tables == {"users": 1}
    assert parts["database.sqlite"].read_bytes() == b"pretend database"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such backup file"),
        (b"not an archive at all", "not a readable backup archive"),
        ("no-manifest", "has no manifest.json"),
        ("stranger", "unexpected entry '../evil'"),
    ],
)
def test_what_is_not_a_backup_is_refused_by_name(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "backup.tar.gz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        inner = tmp_path / "inner"
        inner.write_bytes(b"data")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(inner, arcname="database.sqlite" if content == "no-manifest" else "../evil")
    with pytest.raises(BackupError, match=message) as caught:
        read_archive(path, tmp_path)
    assert str(path) in str(caught.value)
    assert not (tmp_path.parent / "evil").exists()


def test_rows_are_counted_outside_quoted_strings() -> None:
    assert count_tuples(b" (1,'a(b)',NULL),(2,'it\\'s (x',3.5),") == 2
    assert count_tuples(b"(3,'\\\\',')');") == 1
    assert count_tuples(b"") == 0


def test_the_dump_command_line_holds_no_credential(tmp_path: Path) -> None:
    url = make_url("mysql+pymysql://bot@db.example:3307/martingale").set(password=PASSWORD)
    assert url.password == PASSWORD
    private = tmp_path / "private"
    private.mkdir()
    options = defaults_file(url, private)
    command = dump_command("/usr/bin/mysqldump", options, "martingale")
    assert not any(PASSWORD in arg or "bot" in arg for arg in command)
    assert command[1] == f"--defaults-file={options}"
    assert {"--single-transaction", "--skip-lock-tables", "--routines", "--events"} <= set(command)
    assert stat.S_IMODE(options.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    text = options.read_text(encoding="utf-8")
    assert 'password="p#ss w\\"rd\\\\x"' in text
    assert 'host="db.example"' in text and "port=3307" in text


def test_cli_errors_are_one_line_with_the_right_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.tar.gz"
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert (
        main(["db", "restore", str(missing), "--db", db, "--paper-state", str(tmp_path / "p")]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err == f"martingale db restore: error: {missing}: no such backup file"
    assert main(["db", "backup", "--db", "postgresql://u:hunter2@h/d"]) == 2
    err = capsys.readouterr().err
    assert "database URL" in err and "hunter2" not in err
    with pytest.raises(SystemExit) as exited:
        main(["db", "backup", "--keep", "0"])
    assert exited.value.code == 2
