"""Who may drive a database's strategies (DESIGN rule 6: two processes must never drive the
same strategy).

- SQLite: one service process per database file, by an exclusive `flock` on
  `<database file>.lock` (`ServiceLock`), released by the OS when the process dies, even by
  SIGKILL, so a crash never leaves a stale lock. A second `martingale run` is refused with a
  clear error before it writes anything.
- MySQL: several processes share the database through per-user leases with fencing tokens
  (persistence.leases); the only lock here is `config_sync_lock`, which makes their syncs of
  the config file at start take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy import text

from domain.errors import ConfigurationError
from persistence.database import make_engine, parse_url
from persistence.errors import translated

ALREADY_RUNNING = (
    "another martingale service is already running against this database ({where}); "
    "stop it first (two processes must never drive the same strategies; on MySQL several "
    "processes can share the users)"
)
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
    """The one-service lock of a SQLite database: `acquire` or refuse, `release` at the stop.
    Nothing to take on MySQL (processes share it through leases)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        parsed = parse_url(self._url)
        if parsed.get_backend_name() == "sqlite":
            self._acquire_file(Path(parsed.database or "martingale.sqlite"))

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

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
