"""Engines from a URL, tuned per backend. Never created at import time: the caller passes the URL.

SQLite: WAL so readers do not block the writer, foreign keys on, a busy timeout so a brief lock
waits instead of failing, and explicit BEGIN so a read-then-write runs in one transaction
(pysqlite otherwise starts transactions lazily at the first write). MySQL: utf8mb4, pre-ping so
a connection dropped by the server is replaced instead of failing the next query, and socket
timeouts: PyMySQL waits forever by default, so a half-open connection (a peer gone without a
FIN: a dropped VPN, a failed-over server) would hang the single writer. With the timeouts the
call fails as `DatabaseUnavailable` (errors 2013/2006), the pool drops that connection, and the
next call gets a fresh one: the same repository object recovers by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from persistence.sql_sums import register_sqlite

SQLITE_BUSY_TIMEOUT_MS = 10_000
MYSQL_POOL_SIZE = 5
MYSQL_MAX_OVERFLOW = 10
MYSQL_POOL_RECYCLE_S = 1800
CONNECT_TIMEOUT_S = 5
# No statement of the service runs anywhere near this long (a group of engine steps takes well
# under a second); a read or write that waits 30 s is a dead connection, not a slow query.
MYSQL_READ_TIMEOUT_S = 30.0
MYSQL_WRITE_TIMEOUT_S = 30.0
READONLY = "martingale_readonly"  # execution option: this transaction only reads


def parse_url(url: str | URL) -> URL:
    """`make_url`, with a message that names the setting instead of SQLAlchemy's."""
    try:
        return make_url(url)
    except (
        Exception
    ):  # ArgumentError and friends: no URL text in the message, it may hold a password
        raise ValueError(
            "database URL is not valid; expected e.g. sqlite:///var/martingale.sqlite or "
            "mysql+pymysql://user:password@host/db"
        ) from None


def make_engine(
    url: str | URL,
    *,
    pool_size: int = MYSQL_POOL_SIZE,
    echo: bool = False,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    read_timeout_s: float = MYSQL_READ_TIMEOUT_S,
    write_timeout_s: float = MYSQL_WRITE_TIMEOUT_S,
    fresh_connections: bool = False,
    idle_timeout_s: int | None = None,
) -> Engine:
    """The timeouts apply to MySQL only (SQLite is a local file); tests shorten them, and
    migrations, whose ALTERs of a large table may run for minutes, lengthen them.
    `fresh_connections`: no pool, every use opens its own connection (the health check's
    probe, which must see whether a new connection can be made now). `idle_timeout_s`: the
    server closes a connection silent that long (its session `wait_timeout`), rolling back an
    open transaction: with several processes, the locks of one that was paused (SIGSTOP) or
    cut off mid-transaction are released then, so the others can take over its users. The
    pool pings a connection before use, so an idle one closed meanwhile is replaced."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, fresh=fresh_connections)
    if parsed.get_backend_name() == "mysql":
        timeouts: dict[str, Any] = {
            "connect_timeout": connect_timeout_s,
            "read_timeout": read_timeout_s,
            "write_timeout": write_timeout_s,
        }
        if idle_timeout_s is not None:
            idle = int(idle_timeout_s)
            timeouts["init_command"] = (
                f"SET SESSION wait_timeout = {idle}, interactive_timeout = {idle}"
            )
        return _mysql_engine(
            parsed, pool_size=pool_size, echo=echo, timeouts=timeouts, fresh=fresh_connections
        )
    raise ValueError(f"unsupported database backend {parsed.get_backend_name()!r}")


def _sqlite_engine(url: URL, *, echo: bool, fresh: bool = False) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    pool: dict[str, Any] = {"poolclass": NullPool} if fresh else {}
    engine = create_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **pool
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()
        register_sqlite(dbapi_connection)  # exact_sum: SQLite's SUM would add floats

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead
        # of one failing with "database is locked" when it upgrades a read lock. Reads opt out.
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _mysql_engine(
    url: URL, *, pool_size: int, echo: bool, timeouts: dict[str, Any], fresh: bool = False
) -> Engine:
    query = dict(url.query)
    query.setdefault("charset", "utf8mb4")
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if fresh
        else {
            "pool_pre_ping": True,
            "pool_size": pool_size,
            "max_overflow": MYSQL_MAX_OVERFLOW,
            "pool_recycle": MYSQL_POOL_RECYCLE_S,
        }
    )
    return create_engine(
        url.set(query=query),
        echo=echo,
        connect_args=timeouts,
        isolation_level="READ COMMITTED",
        **pool,
    )
