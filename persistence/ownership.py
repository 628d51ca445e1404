"""One service process per database: DESIGN rule 6, "two processes must never drive the same
strategy", for the single-process deployment we have today.

SQLite: an exclusive `flock` on `<database file>.lock`. MySQL: a named lock (`GET_LOCK`) held by
a dedicated connection for the life of the process. Both are released by the OS or the server
when the process dies, even by SIGKILL, so a crash never leaves a stale lock. Several processes
sharing users through leases is the later plan in DESIGN.md ("Beyond one process").

A MySQL lock lives only as long as its connection, and a connection can die under a running
service: the server's `wait_timeout` closes an idle one, a restart or a network cut drops it.
The lock would then be free for a second service while the first one goes on trading. So the
lock connection raises its session timeouts, and a keep-alive thread checks the lock every
`keepalive_s`: a lost connection is replaced and the lock taken again if it is still free; if
another connection holds it, `on_lost(reason)` tells the service, which must stop placing
orders and shut down. A flock cannot be lost, so SQLite needs none of this.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from domain.errors import ConfigurationError, MartingaleError
from persistence.database import MYSQL_READ_TIMEOUT_S, make_engine, parse_url
from persistence.errors import translated

log = structlog.get_logger(__name__)

ALREADY_RUNNING = (
    "another martingale service is already running against this database ({where}); "
    "stop it first (two processes must never drive the same strategies)"
)
KEEPALIVE_S = 30.0  # how often the keep-alive thread checks the MySQL lock
# The lock connection's session wait_timeout / interactive_timeout: far above the keep-alive
# interval, so only a process stalled for a day lets the server close it.
LOCK_SESSION_TIMEOUT_S = 86_400
# After we KILL our own stale session (see `_retake`), how long GET_LOCK waits for the server
# to finish ending it and free the lock.
STALE_SESSION_WAIT_S = 5


SYNC_WAIT_S = 120  # how long a starting process waits for another's config sync


@contextlib.contextmanager
def config_sync_lock(url: str, wait_s: int = SYNC_WAIT_S) -> Iterator[None]:
    """Several processes starting on one MySQL database sync the same config file: one at a
    time (a named lock on a connection of its own, released at the end or when the connection
    dies). Nothing on SQLite, where the service lock is held already."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        yield
        return
    digest = hashlib.sha256((parsed.database or "").encode()).hexdigest()[:16]
    name = f"martingale-sync-{digest}"
    engine = make_engine(url, pool_size=1)
    try:
        with translated("take the config sync lock"), engine.connect() as conn:
            got = conn.execute(text("SELECT GET_LOCK(:n, :w)"), {"n": name, "w": wait_s})
            if got.scalar() != 1:
                raise ConfigurationError(
                    f"another service process kept the config sync lock for {wait_s} s; try again"
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    finally:
        engine.dispose()


class ServiceLock:
    def __init__(
        self,
        url: str,
        *,
        on_lost: Callable[[str], None] | None = None,
        keepalive_s: float = KEEPALIVE_S,
        read_timeout_s: float = MYSQL_READ_TIMEOUT_S,
    ) -> None:
        """`on_lost(reason)` runs (on the keep-alive thread, or in the caller of `check`) once,
        when another connection turns out to hold the MySQL lock: this process no longer owns
        the database and must stop trading. `read_timeout_s` bounds each of the lock
        connection's reads and writes (tests shorten it)."""
        self._timeout_s = read_timeout_s
        self._url = url
        self._on_lost = on_lost
        self._keepalive_s = keepalive_s
        self._file: IO[str] | None = None
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._conn_id: int | None = None  # the server's id of the lock connection
        self._lost = False
        self._lost_why: str | None = None  # why the lock was lost, once it was
        self._mutex = threading.RLock()  # the lock connection: keep-alive thread vs. callers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connection_id(self) -> int | None:
        """The MySQL connection that holds the lock (None on SQLite or when not held)."""
        return self._conn_id

    def notify_on_lost(self, on_lost: Callable[[str], None]) -> None:
        """Set who hears of a lost lock (the service, once it exists: the caller that took
        the lock before building the service hands it over this way). A lock already lost
        meanwhile (during the config sync, say) is told at once."""
        with self._mutex:
            self._on_lost = on_lost
            lost = self._lost_why
        if lost is not None:
            on_lost(lost)

    def acquire(self) -> None:
        parsed = parse_url(self._url)
        if parsed.get_backend_name() == "sqlite":
            self._acquire_file(Path(parsed.database or "martingale.sqlite"))
        else:
            self._acquire_named(parsed.database or "")

    def release(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._keepalive_s + 5)
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        with self._mutex:
            conn, self._conn, self._conn_id = self._conn, None, None
            engine, self._engine = self._engine, None
            try:
                if conn is not None:
                    conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": self._name()})
            except Exception as exc:  # a dead connection: the server has released it already
                log.info(
                    "service lock connection already gone at release", error=type(exc).__name__
                )
            finally:
                if conn is not None:
                    conn.close()
                if engine is not None:
                    engine.dispose()

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def check(self) -> bool:
        """Is the lock still ours? Repairs what it can on the way.

        True when this process holds the lock, on its connection or on a new one it just took
        it with (the old connection was lost and the lock was free). False, after calling
        `on_lost` once, when another connection holds it; False too while the database cannot
        be reached (this process cannot write then either; the next check tries again).
        """
        if self._file is not None:
            return True
        with self._mutex:
            if self._lost or self._engine is None:
                return False
            outcome = self._verify()
        if isinstance(outcome, str):
            self._lose(outcome)
            return False
        return outcome

    # --- MySQL ---------------------------------------------------------------------------
    def _acquire_named(self, database: str) -> None:
        self._engine = make_engine(
            self._url,
            pool_size=1,
            read_timeout_s=self._timeout_s,
            write_timeout_s=self._timeout_s,
        )
        try:
            with translated("acquire the service lock"):
                conn = self._open()
                if not self._get_lock(conn, 0):
                    holder = self._holder(conn)
                    conn.close()
                    where = f"MySQL database {database}, lock held by connection {holder}"
                    raise ConfigurationError(ALREADY_RUNNING.format(where=where))
                self._conn, self._conn_id = conn, self._connection_id(conn)
        except BaseException:
            self._engine.dispose()
            self._engine = None
            raise
        self._lost = False
        self._lost_why = None
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._keep_alive, name="service-lock-keepalive", daemon=True
        )
        self._thread.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self._keepalive_s):
            try:
                self.check()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("service lock check failed")
            if self._lost:
                return

    def _verify(self) -> bool | str:
        """True if the lock is ours (taken again if it was free), else why it is lost; with the
        mutex held."""
        if self._conn is None:  # an earlier check could not reach the database
            return self._retake()
        try:
            with translated("check the service lock"):
                holder = self._holder(self._conn)
                if holder is not None and holder == self._conn_id:
                    return True
                if holder is None and self._get_lock(self._conn, 0):
                    log.warning("service lock was free; taken again", connection=self._conn_id)
                    return True
                return self._lost_reason(self._holder(self._conn))
        except MartingaleError as exc:
            log.warning("service lock connection lost", error=str(exc))
        return self._retake()

    def _retake(self) -> bool | str:
        """The lock connection is gone: take the lock on a new one if it is free, or held only
        by our own old session; else why it is lost. With the mutex held."""
        old, self._conn = self._conn, None
        if old is not None:
            with contextlib.suppress(Exception):  # broken already; only its socket to drop
                old.invalidate()
                old.close()
        conn: Connection | None = None
        try:
            with translated("take the service lock again"):
                conn = self._open()
                holder = self._holder(conn)
                wait = 0
                if holder is not None and holder == self._conn_id:
                    # Our old session lives on at the server (its socket half-open): end it,
                    # which frees the lock, rather than lose the database to a dead session.
                    self._kill(conn, holder)
                    holder, wait = None, STALE_SESSION_WAIT_S
                if holder is None and self._get_lock(conn, wait):
                    old_id = self._conn_id
                    self._conn, self._conn_id = conn, self._connection_id(conn)
                    log.warning(
                        "service lock connection was lost; lock taken again",
                        old_connection=old_id,
                        connection=self._conn_id,
                    )
                    return True
                holder = self._holder(conn)
                conn.close()
        except MartingaleError as exc:
            log.warning("service lock: database unreachable; will try again", error=str(exc))
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            return False
        return self._lost_reason(holder)

    def _lose(self, reason: str) -> None:
        with self._mutex:
            if self._lost:
                return
            self._lost = True
            self._lost_why = reason
            on_lost = self._on_lost
        log.error("service lock lost", reason=reason)
        if on_lost is not None:
            on_lost(reason)

    def _lost_reason(self, holder: Any) -> str:
        database = parse_url(self._url).database or ""
        return (
            f"the service lock of MySQL database {database} is now held by another connection "
            f"({holder}): another service may be driving these strategies, so this one must "
            "stop placing orders and shut down"
        )

    def _open(self) -> Connection:
        assert self._engine is not None
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(
            text("SET SESSION wait_timeout = :t, interactive_timeout = :t"),
            {"t": LOCK_SESSION_TIMEOUT_S},
        )
        return conn

    def _get_lock(self, conn: Connection, wait: int) -> bool:
        got = conn.execute(
            text("SELECT GET_LOCK(:name, :wait)"), {"name": self._name(), "wait": wait}
        )
        return bool(got.scalar() == 1)

    def _holder(self, conn: Connection) -> Any:
        return conn.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": self._name()}).scalar()

    @staticmethod
    def _connection_id(conn: Connection) -> int:
        return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())

    @staticmethod
    def _kill(conn: Connection, connection_id: int) -> None:
        try:
            conn.execute(text(f"KILL CONNECTION {int(connection_id)}"))
        except Exception as exc:  # gone already (1094 unknown thread): the lock is free
            log.info("stale service lock session already ended", error=type(exc).__name__)

    def _name(self) -> str:
        database = parse_url(self._url).database or ""
        digest = hashlib.sha256(database.encode()).hexdigest()[:16]
        return f"martingale-service-{digest}"

    # --- SQLite --------------------------------------------------------------------------
    def _acquire_file(self, database: Path) -> None:
        path = database.expanduser().with_name(database.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ConfigurationError(ALREADY_RUNNING.format(where=str(path))) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
