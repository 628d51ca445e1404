"""`martingale db backup` and `martingale db verify`: the use of the parts in backup_*.py.

A backup is taken while the service trades: the database and the paper venue's file are copied
as of one instant each, in an order a restart can reconcile (see `backup_dump`), then packed
with a manifest into one archive that is renamed into place, and older archives beyond `keep`
are deleted. Credentials are in the database only as ciphertext, and the master key is never
part of a backup: keep it apart (a backup and its key together are the keys themselves).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Connection

from persistence import backup_dump as dump
from persistence.backup_archive import (
    MYSQL_PART,
    PAPER_PART,
    SQLITE_PART,
    BackupError,
    Manifest,
    archive_name,
    prune,
    sha256_of,
    write_archive,
)
from persistence.backup_verify import ledger_problems, row_counts
from persistence.database import READONLY, make_engine, parse_url
from persistence.errors import translated
from persistence.migrate import current_revision, head_revision


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupResult:
    path: Path
    manifest: Manifest
    pruned: list[Path]
    seconds: float


def backup_target(output: Path, now: datetime) -> Path:
    """`output` itself when it names a .tar.gz file, else a timestamped name inside it."""
    if output.name.endswith(".tar.gz") and not output.is_dir():
        return output
    return output / archive_name(now)


def create_backup(
    url: str,
    *,
    output: Path,
    paper_file: Path | None,
    keep: int | None,
    version: str,
    now: datetime,
) -> BackupResult:
    started = time.monotonic()
    parsed = parse_url(url)
    kind = parsed.get_backend_name()
    dest = backup_target(output, now)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise BackupError(f"{dest}: exists already; backups are never overwritten")
    venue = paper_file if paper_file is not None and paper_file.is_file() else None
    with tempfile.TemporaryDirectory(prefix=".martingale-backup-", dir=dest.parent) as scratch:
        work = Path(scratch)
        if kind == "sqlite":
            parts, tables, revision = _sqlite_parts(dump.sqlite_path(parsed), venue, work)
        else:
            parts, tables, revision = _mysql_parts(url, venue, work)
        notes = [] if paper_file is None or venue else [f"no paper venue file at {paper_file}"]
        manifest = Manifest(
            created_at=now.isoformat(),
            version=version,
            revision=revision,
            db_kind=kind,
            tables=tables,
            parts={name: sha256_of(path) for name, path in parts.items()},
            paper_tables=dump.table_counts(parts[PAPER_PART]) if PAPER_PART in parts else None,
            notes=notes,
        )
        write_archive(dest, manifest, parts)
    pruned = prune(dest.parent, keep) if keep is not None else []
    return BackupResult(
        path=dest, manifest=manifest, pruned=pruned, seconds=time.monotonic() - started
    )


Parts = tuple[dict[str, Path], dict[str, int], str | None]


def _sqlite_parts(database: Path, venue: Path | None, work: Path) -> Parts:
    """Both snapshots begin while the venue's writer is held; the copies are made after."""
    with ExitStack() as stack:
        with dump.hold_writer(venue):
            venue_view = stack.enter_context(dump.read_snapshot(venue)) if venue else None
            db_view = stack.enter_context(dump.read_snapshot(database))
        parts = _venue_part(venue_view, work)
        parts[SQLITE_PART] = work / SQLITE_PART
        dump.copy_snapshot(db_view, parts[SQLITE_PART])
    tables = dump.table_counts(parts[SQLITE_PART])
    return parts, tables, current_revision(f"sqlite:///{parts[SQLITE_PART]}")


def _mysql_parts(url: str, venue: Path | None, work: Path) -> Parts:
    """The venue's snapshot begins while its writer is held, and the writer goes once
    mysqldump's transaction exists; everything else is made ready before the hold."""
    parsed = parse_url(url)
    revision = current_revision(url)  # migrations do not run beside a trading service
    binary = dump.client_binary("mariadb-dump", "mysqldump")
    options = dump.defaults_file(parsed, work)
    command = dump.dump_command(binary, options, parsed.database or "")
    secret = str(parsed.password) if parsed.password else None
    try:
        with ExitStack() as stack:
            with dump.hold_writer(venue):
                venue_view = stack.enter_context(dump.read_snapshot(venue)) if venue else None
                mysql = stack.enter_context(
                    dump.MysqlDump(command, work / MYSQL_PART, secret=secret)
                )
                mysql.wait_started()
            parts = _venue_part(venue_view, work)
            counts = mysql.finish()
    finally:
        options.unlink()
    parts[MYSQL_PART] = work / MYSQL_PART
    return parts, _all_tables(url, counts), revision


def _venue_part(view: sqlite3.Connection | None, work: Path) -> dict[str, Path]:
    if view is None:
        return {}
    dump.copy_snapshot(view, work / PAPER_PART)
    return {PAPER_PART: work / PAPER_PART}


def _all_tables(url: str, dumped: dict[str, int]) -> dict[str, int]:
    """Row counts of the dump, with 0 for the tables it had no INSERT for (empty ones)."""
    with read_only(url) as conn:
        names = row_counts(conn)
    return {name: dumped.get(name, 0) for name in sorted(set(names) | set(dumped))}


@contextmanager
def read_only(url: str) -> Iterator[Connection]:
    """One read transaction (a consistent view: SQLite's snapshot, InnoDB REPEATABLE READ)."""
    engine = make_engine(url, pool_size=1)
    try:
        with translated("read the database"), engine.connect() as plain:
            options: dict[str, object] = {READONLY: True}
            if plain.dialect.name == "mysql":
                options["isolation_level"] = "REPEATABLE READ"
            conn = plain.execution_options(**options)
            with conn.begin():
                yield conn
    finally:
        engine.dispose()


def verify(url: str, *, expected: Manifest | None = None) -> list[str]:
    """Every problem of the database at `url`: schema not at head, row counts unlike the
    manifest's (when given), and broken ledger invariants. Empty when all is well."""
    problems: list[str] = []
    head = head_revision()
    revision = current_revision(url)
    if revision != head:
        problems.append(
            f"schema: at revision {revision or 'none'}, this version needs {head} "
            "(`martingale db upgrade` migrates it)"
        )
        return problems
    with read_only(url) as conn:
        if expected is not None:
            counts = row_counts(conn)
            for table in sorted(set(counts) | set(expected.tables)):
                want, got = expected.tables.get(table), counts.get(table)
                if want != got:
                    problems.append(f"rows: table {table} has {got}, the backup had {want}")
        problems += ledger_problems(conn)
    return problems
