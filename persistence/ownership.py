"""One service process per database: DESIGN rule 6, "two processes must never drive the same
strategy", for the single-process deployment we have today.

SQLite: an exclusive `flock` on `<database file>.lock`. MySQL: a named lock (`GET_LOCK`) held by
a dedicated connection for the life of the process. Both are released by the OS or the server
when the process dies, even by SIGKILL, so a crash never leaves a stale lock. Several processes
sharing users through leases is the later plan in DESIGN.md ("Beyond one process").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text

from domain.errors import ConfigurationError
from persistence.database import make_engine, parse_url
from persistence.errors import translated

ALREADY_RUNNING = (
    "another martingale service is already running against this database ({where}); "
    "stop it first (two processes must never drive the same strategies)"
)


class ServiceLock:
    def __init__(self, url: str) -> None:
        self._url = url
        self._file: IO[str] | None = None
        self._engine: Any = None
        self._conn: Any = None

    def acquire(self) -> None:
        parsed = parse_url(self._url)
        if parsed.get_backend_name() == "sqlite":
            self._acquire_file(Path(parsed.database or "martingale.sqlite"))
        else:
            self._acquire_named(parsed.database or "")

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": self._name()})
            finally:
                self._conn.close()
                self._engine.dispose()
                self._conn = self._engine = None

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

    def _name(self) -> str:
        database = parse_url(self._url).database or ""
        digest = hashlib.sha256(database.encode()).hexdigest()[:16]
        return f"martingale-service-{digest}"

    def _acquire_named(self, database: str) -> None:
        self._engine = make_engine(self._url, pool_size=1)
        with translated("acquire the service lock"):
            self._conn = self._engine.connect()
            got = self._conn.execute(
                text("SELECT GET_LOCK(:name, 0)"), {"name": self._name()}
            ).scalar()
        if got != 1:
            self._conn.close()
            self._engine.dispose()
            self._conn = self._engine = None
            raise ConfigurationError(ALREADY_RUNNING.format(where=f"MySQL database {database}"))
