"""`martingale db restore`: an archive into an empty database, verified before it counts.

All or nothing. SQLite: the copy is verified under a temporary name beside the target and renamed
over it only once it passed. MySQL has no rename for a database, so the dump is loaded into the
target itself (which was empty, or emptied on --force) and, should loading or verifying fail,
everything it created is dropped again: the target is left as empty as it was found. The paper
venue's file goes into place last, once the database did. `keep_unverified` keeps a copy that
loaded but failed verification, for an operator who needs the data back whatever it holds.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from persistence import backup_dump as dump
from persistence.backup import verify
from persistence.backup_archive import (
    MYSQL_PART,
    PAPER_PART,
    SQLITE_PART,
    BackupError,
    Manifest,
    read_archive,
)
from persistence.backup_verify import row_counts
from persistence.database import make_engine, parse_url
from persistence.errors import translated
from persistence.provision import create_mysql_database, mysql_database_exists

_FORCE_HINT = "restore into an empty database, or give --force to replace what is there"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    manifest: Manifest
    problems: list[str]  # what verification found; empty when the restore is good
    kept: bool  # the restored copy is in place (always when problems is empty)
    paper_file: Path | None  # where the venue's file went, if the backup had one
    seconds: float


def restore_backup(
    archive: Path,
    url: str,
    *,
    paper_file: Path | None,
    force: bool = False,
    keep_unverified: bool = False,
) -> RestoreResult:
    started = time.monotonic()
    parsed = parse_url(url)
    kind = parsed.get_backend_name()
    target = dump.sqlite_path(parsed) if kind == "sqlite" else None
    scratch_dir = target.parent if target is not None else None
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".martingale-restore-", dir=scratch_dir) as scratch:
        manifest, parts = read_archive(archive, Path(scratch))
        if manifest.db_kind != kind:
            raise BackupError(
                f"{archive}: holds a {manifest.db_kind} database, and the target is {kind}; "
                f"restore it into a {manifest.db_kind} database (a backup keeps its kind)"
            )
        _check_target(url, target, force)
        venue = parts.get(PAPER_PART)
        if venue is not None:
            if paper_file is None:
                raise BackupError(f"{archive}: holds a paper venue file; say where it goes")
            _check_venue_target(paper_file, force)
        if target is not None:
            problems = _restore_sqlite(parts[SQLITE_PART], target, manifest, force, keep_unverified)
        else:
            problems = _restore_mysql(parts[MYSQL_PART], url, manifest, force, keep_unverified)
        kept = not problems or keep_unverified
        placed = None
        if venue is not None and paper_file is not None and kept:
            _place_file(venue, paper_file)
            placed = paper_file
    return RestoreResult(
        manifest=manifest,
        problems=problems,
        kept=kept,
        paper_file=placed,
        seconds=time.monotonic() - started,
    )


def _check_target(url: str, target: Path | None, force: bool) -> None:
    """Refuse a database that holds tables, naming them, unless `force`."""
    if target is not None:
        found, where = _sqlite_tables(target), str(target)
    else:
        found = _mysql_tables(url) if mysql_database_exists(url) else {}
        where = f"database {parse_url(url).database!r}"
    if found and not force:
        raise BackupError(f"{where}: {_describe(found)}; {_FORCE_HINT}")


# --- SQLite ---------------------------------------------------------------------------------


def _restore_sqlite(
    part: Path, target: Path, manifest: Manifest, force: bool, keep_unverified: bool
) -> list[str]:
    problems = verify(f"sqlite:///{part}", expected=manifest)
    if problems and not keep_unverified:
        return problems
    _checkpoint(part)
    _place_file(part, target)
    return problems


def _sqlite_tables(path: Path) -> dict[str, int]:
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        return dump.table_counts(path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: exists and is not a SQLite database ({exc})") from None


def _checkpoint(path: Path) -> None:
    """Fold the copy's WAL (verification opened it) into the file, so the file is whole."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=WAL")  # the mode the service expects, kept
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _place_file(source: Path, target: Path) -> None:
    """Copy `source` beside `target`, then rename it over `target` (atomic), dropping the old
    file's WAL and shared memory, which belong to the file replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        shutil.copyfile(source, tmp)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_venue_target(path: Path, force: bool) -> None:
    lock = path.with_name(path.name + ".lock")
    if path.exists() and lock.exists():
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BackupError(
                    f"{path}: the paper venue file is in use by a running service; stop it first"
                ) from None
            fcntl.flock(handle, fcntl.LOCK_UN)
    found = _sqlite_tables(path)
    if any(found.values()) and not force:
        raise BackupError(f"{path}: the paper venue file {_describe(found)}; {_FORCE_HINT}")


# --- MySQL ----------------------------------------------------------------------------------


def _restore_mysql(
    part: Path, url: str, manifest: Manifest, force: bool, keep_unverified: bool
) -> list[str]:
    if not mysql_database_exists(url):
        create_mysql_database(url)
    _drop_everything(url)  # nothing, unless --force: _check_target refused a database in use
    try:
        _load_dump(part, url)
        problems = verify(url, expected=manifest)
    except BaseException:
        _drop_everything(url)
        raise
    if problems and not keep_unverified:
        _drop_everything(url)
    return problems


def _mysql_tables(url: str) -> dict[str, int]:
    engine = make_engine(url, pool_size=1)
    try:
        with translated("list the tables"), engine.connect() as conn:
            return row_counts(conn)
    finally:
        engine.dispose()


def _drop_everything(url: str) -> None:
    """Leave the database empty: its tables, views, routines and events dropped."""
    engine = make_engine(url, pool_size=1)
    try:
        with translated("empty the database"), engine.connect() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            objects = conn.execute(
                text(
                    "SELECT IF(TABLE_TYPE = 'VIEW', 'VIEW', 'TABLE'), TABLE_NAME "
                    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                    "UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = DATABASE() "
                    "UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS "
                    "WHERE EVENT_SCHEMA = DATABASE()"
                )
            ).all()
            for kind, name in objects:
                quoted = "`" + str(name).replace("`", "``") + "`"
                conn.execute(text(f"DROP {kind} IF EXISTS {quoted}"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
            conn.commit()
    finally:
        engine.dispose()


def _load_dump(part: Path, url: str) -> None:
    parsed = parse_url(url)
    binary = dump.client_binary("mariadb", "mysql")
    with tempfile.TemporaryDirectory(prefix=".martingale-client-") as private:
        options = dump.defaults_file(parsed, Path(private))
        command = [binary, f"--defaults-file={options}", "--batch", parsed.database or ""]
        with part.open("rb") as sql:
            done = subprocess.run(  # noqa: S603 (our own argument list, no shell)
                command, stdin=sql, capture_output=True, check=False
            )
    if done.returncode != 0:
        errors = done.stderr.decode("utf-8", errors="replace")
        if parsed.password:
            errors = errors.replace(str(parsed.password), "***")
        detail = " ".join(errors.split())[:500] or f"exit status {done.returncode}"
        raise BackupError(f"loading the dump failed: {detail}")


def _describe(found: dict[str, int]) -> str:
    """The tables that hold rows first (those say what the database is), then the empty ones."""
    ordered = sorted(found.items(), key=lambda item: (item[1] == 0, item[0]))
    names = ", ".join(f"{name} ({rows} rows)" for name, rows in ordered[:12])
    more = f" and {len(found) - 12} more" if len(found) > 12 else ""
    return f"is not empty: it holds {len(found)} tables: {names}{more}"
