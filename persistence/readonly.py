"""Read-only access to a deployment's database, for `martingale doctor`.

The doctor must change nothing, not even by accident, so it does not reuse the service's
engine: that one creates a SQLite file's directory, switches the file to WAL and takes the write
lock for every transaction but the reads. Here a SQLite file is opened as a URI in mode=ro (the
driver refuses any write, and a missing file is an error, not a new empty database), and every
MySQL session is `READ ONLY` (the server refuses a write). Both use fresh connections with short
timeouts: the question is whether this process can reach the database now.

What is read: the schema revision (without upgrading), and on MySQL the settings that decide
whether a committed row survives a crash (`mysql_settings`). Judging them is the caller's part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from persistence.database import (
    MYSQL_POOL_RECYCLE_S,
    SQLITE_BUSY_TIMEOUT_MS,
    make_engine,
    parse_url,
)
from persistence.errors import translated
from persistence.sql_repository import SqlRepository
from persistence.sql_sums import register_sqlite

READ_TIMEOUT_S = 10.0
#: What the service's MySQL pool does with an idle connection (see persistence/database.py):
#: the server's wait_timeout is judged against it.
POOL_RECYCLE_S = MYSQL_POOL_RECYCLE_S


@dataclass(frozen=True, slots=True, kw_only=True)
class MysqlSettings:
    """The server settings the doctor judges, as the server reports them (global values)."""

    table_engines: dict[str, str]  # table name -> storage engine, for this database's tables
    flush_log_at_trx_commit: int
    log_bin: bool
    sync_binlog: int
    wait_timeout: int


def readonly_engine(url: str | URL, *, timeout_s: float = READ_TIMEOUT_S) -> Engine:
    """An engine that cannot write: SQLite opened read-only, MySQL sessions READ ONLY."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(parsed)
    engine = make_engine(
        parsed,
        connect_timeout_s=timeout_s,
        read_timeout_s=timeout_s,
        write_timeout_s=timeout_s,
        fresh_connections=True,
    )

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        finally:
            cursor.close()

    return engine


def _sqlite(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        url = url.set(database=f"file:{quote(database)}").update_query_dict(
            {"mode": "ro", "uri": "true"}
        )
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        register_sqlite(dbapi_connection)  # the repository's sums, should a read use them

    return engine


class ReadOnlyDatabase:
    """A deployment's database, opened so that nothing can be written (`readonly_engine`)."""

    def __init__(self, url: str | URL, *, timeout_s: float = READ_TIMEOUT_S) -> None:
        self._engine = readonly_engine(url, timeout_s=timeout_s)
        self.backend: str = self._engine.dialect.name  # "sqlite" or "mysql"

    def __repr__(self) -> str:
        return f"ReadOnlyDatabase({self.backend})"  # never the URL: it may hold a password

    def revision(self) -> str | None:
        """The migration revision (None: never migrated), read without upgrading."""
        return schema_revision(self._engine)

    def mysql_settings(self) -> MysqlSettings:
        return mysql_settings(self._engine)

    def repository(self) -> SqlRepository:
        """The repository over this read-only engine: its reads work, any write is refused."""
        return SqlRepository(self._engine)

    def close(self) -> None:
        self._engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The database's migration revision (None: never migrated), read without upgrading."""
    with translated("read schema revision"), engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
        return revision


def mysql_settings(engine: Engine) -> MysqlSettings:
    """The durability and timeout settings of the MySQL server `engine` is on."""
    with translated("read MySQL settings"), engine.connect() as connection:
        engines = connection.execute(
            text(
                "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' "
                "ORDER BY TABLE_NAME"
            )
        ).all()
        row = connection.execute(
            text(
                "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.log_bin, "
                "@@GLOBAL.sync_binlog, @@GLOBAL.wait_timeout"
            )
        ).one()
        connection.rollback()
    return MysqlSettings(
        table_engines={str(name): str(kind or "") for name, kind in engines},
        flush_log_at_trx_commit=int(row[0]),
        log_bin=bool(int(row[1])),
        sync_binlog=int(row[2]),
        wait_timeout=int(row[3]),
    )
