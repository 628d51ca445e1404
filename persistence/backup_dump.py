"""Consistent online copies of the service database and of the paper venue's file.

SQLite: the online backup API from a connection that holds a read transaction, so the copy is
the database as of one instant while the service keeps writing (WAL: readers never block the
writer), never a file copy, which could catch a page half-written. MySQL: mysqldump with
`--single-transaction` (one InnoDB snapshot, no table locks), its credentials in a defaults file
in a private temporary directory, never on a command line that `ps` shows.

The paper venue stands for an exchange, and its file and the database must fit together as a
crash would leave them: nothing in the database may know of a venue change the venue copy lacks.
So the venue's writer is held (`hold_writer`: a write lock on its file) from just before the venue
snapshot until the database snapshot exists. Venue calls do not return before their change is in
the file, so while it is held no engine can learn of a newer venue change, and the database, taken
later, is at or behind the venue copy: what a restart after a crash sees, which the start path
reconciles (adopt, resolve pending creates, apply missed fills). The hold lasts milliseconds (the
SQLite snapshots, or until mysqldump has started its transaction); the venue's own writer waits
up to 5 s for a lock, and a hold that would pass `HOLD_LIMIT_S` fails the backup instead.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL

from persistence.backup_archive import BackupError

HOLD_LIMIT_S = 3.0
_STRING = re.compile(rb"'(?:[^'\\]|\\.)*'")
_INSERT = re.compile(rb"^INSERT INTO `((?:[^`]|``)+)` VALUES")
# mysqldump starts its transaction after its header and before the first table it dumps.
_STARTED = (b"-- Table structure for table", b"-- Dumping routines", b"-- Dumping events")


def sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError("only a SQLite database in a file can be backed up or restored")
    return Path(database).expanduser()


@contextmanager
def read_snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to `path` inside a read transaction that has begun: its view is fixed."""
    if not path.is_file():
        raise BackupError(f"{path}: no such SQLite database file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        yield conn
    finally:
        conn.close()


def copy_snapshot(source: sqlite3.Connection, dest: Path) -> None:
    """Copy the source's snapshot in one step (pages=-1): one read transaction, never restarted
    by the writers of the live file."""
    with closing(sqlite3.connect(dest)) as target:
        source.backup(target, pages=-1)


def table_counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        quoted = {n: '"' + n.replace('"', '""') + '"' for n in names}
        return {
            n: conn.execute(f"SELECT count(*) FROM {q}").fetchone()[0]  # noqa: S608 (a table name)
            for n, q in quoted.items()
        }


@contextmanager
def hold_writer(path: Path | None) -> Iterator[None]:
    """Hold the write lock of the SQLite file at `path` (nothing when None): its writer waits."""
    if path is None:
        yield
        return
    conn = sqlite3.connect(path, timeout=HOLD_LIMIT_S, isolation_level=None)
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackupError(f"{path}: could not hold the paper venue's writer: {exc}") from None
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


# --- MySQL ----------------------------------------------------------------------------------


def client_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(f"{' or '.join(names)} is not installed (the MySQL/MariaDB client tools)")


def defaults_file(url: URL, directory: Path) -> Path:
    """A [client] option file (mode 0600 in a 0700 directory) with the URL's credentials."""
    directory.chmod(0o700)
    lines = ["[client]"]
    if url.username:
        lines.append(f"user={_option(url.username)}")
    if url.password is not None:
        lines.append(f"password={_option(str(url.password))}")
    socket = url.query.get("unix_socket")
    if isinstance(socket, str):
        lines.append(f"socket={_option(socket)}")
    else:
        lines.append(f"host={_option(url.host or '127.0.0.1')}")
        lines.append(f"port={int(url.port or 3306)}")
        lines.append("protocol=TCP")
    lines.append("default-character-set=utf8mb4")
    path = directory / "client.cnf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _option(value: str) -> str:
    """An option value quoted so that #, spaces and quotes in a password survive."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def dump_command(binary: str, options: Path, database: str) -> list[str]:
    """The mysqldump command line: no credential in it (they are in `options`)."""
    return [
        binary,
        f"--defaults-file={options}",  # must come first
        "--single-transaction",  # one consistent InnoDB snapshot, no table locks
        "--skip-lock-tables",
        "--routines",
        "--events",
        "--triggers",
        "--quick",  # row by row, not whole tables in memory
        "--no-tablespaces",  # needs no PROCESS privilege
        "--default-character-set=utf8mb4",
        "--tz-utc",
        database,
    ]


class DumpReader:
    """Copies mysqldump's output to a file, counting each table's rows on the way, and says
    (`started`) once the dump's transaction exists, so the venue's writer can be let go."""

    def __init__(self, stream: IO[bytes], dest: Path) -> None:
        self._stream = stream
        self._dest = dest
        self.started = threading.Event()
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dump-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        table: str | None = None
        try:
            with self._dest.open("wb") as out:
                for line in self._stream:
                    out.write(line)
                    if not self.started.is_set() and line.startswith(_STARTED):
                        self.started.set()
                    values = line
                    if table is None:
                        match = _INSERT.match(line)
                        if match is None:
                            continue
                        table = match[1].decode("utf-8").replace("``", "`")
                        values = line[match.end() :]
                    self.counts[table] = self.counts.get(table, 0) + count_tuples(values)
                    if line.rstrip().endswith(b";"):
                        table = None
        except BaseException as exc:  # reported by join(); the process is killed there
            self.error = exc
        finally:
            self.started.set()

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise BackupError(f"writing the dump failed: {self.error}")


def count_tuples(values: bytes) -> int:
    """Rows in one line of an INSERT's VALUES list: the parentheses outside quoted strings
    (mysqldump escapes newlines and quotes inside strings, so no string spans a line)."""
    return _STRING.sub(b"''", values).count(b"(")


class MysqlDump:
    """One mysqldump run into a file: `wait_started` returns once its snapshot exists (the
    venue's writer may then go), `finish` waits for the end and returns each table's rows.
    Leaving the `with` block kills a dump that is still running (a failed backup)."""

    def __init__(self, command: list[str], dest: Path, *, secret: str | None) -> None:
        self._secret = secret
        self._proc = subprocess.Popen(  # noqa: S603 (our own argument list, no shell)
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self._proc.stdout is not None
        self._reader = DumpReader(self._proc.stdout, dest)

    def __enter__(self) -> MysqlDump:
        return self

    def __exit__(self, *_: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def wait_started(self) -> None:
        if not self._reader.started.wait(HOLD_LIMIT_S):
            raise BackupError(
                f"mysqldump did not start its transaction within {HOLD_LIMIT_S:g} s; the paper "
                "venue cannot be held longer (is the server slow or locked?); try again"
            )

    def finish(self) -> dict[str, int]:
        assert self._proc.stderr is not None
        errors = self._proc.stderr.read().decode("utf-8", errors="replace")
        self._reader.join()
        code = self._proc.wait()
        if code != 0:
            if self._secret:
                errors = errors.replace(self._secret, "***")
            detail = " ".join(errors.split())[:500] or f"exit status {code}"
            raise BackupError(f"mysqldump failed: {detail}")
        return self._reader.counts
