"""The health check's look at the database: one trivial read on a connection of its own.

Why not through the service's pool or its writer: the question is "can this process reach the
database now". A pooled connection may keep working on a SQLite file that was replaced or made
unreachable, a pool exhausted by busy engines would make the probe wait for a connection and
report an outage that is only load, and the single writer is legitimately busy for seconds
during a large flush. So each look opens a fresh connection (no pool), with short timeouts,
reads the deployment row (a real table: a database without our schema fails too) and closes it.
A SQLite file is opened read-write without create, so a missing file is reported, not made.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import quote

from sqlalchemy import Table, select
from sqlalchemy.engine import URL

from persistence import models as m
from persistence.database import make_engine, parse_url
from persistence.errors import translated

PROBE_TIMEOUT_S = 5.0
_DEPLOYMENT = cast(Table, m.Deployment.__table__)
_QUERY = select(_DEPLOYMENT.c.tag).limit(1)


class DatabaseProbe:
    def __init__(self, url: str | URL, *, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._engine = make_engine(
            _no_create(parse_url(url)),
            connect_timeout_s=timeout_s,
            read_timeout_s=timeout_s,
            write_timeout_s=timeout_s,
            fresh_connections=True,
        )

    def check(self) -> None:
        """Return if the database answered; raise `DatabaseUnavailable` (unreachable) or a
        `PersistenceError` (reached, but refused the read, e.g. no schema). Messages name the
        driver error class and code, never the URL."""
        with translated("health check"), self._engine.connect() as conn:
            conn.execute(_QUERY).all()

    def close(self) -> None:
        self._engine.dispose()


def _no_create(url: URL) -> URL:
    """A SQLite file opened as a URI in read-write mode: sqlite would otherwise create an empty
    database where the service's file is missing."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database.startswith("file:"):
        return url  # a URI names its own mode
    if database in ("", ":memory:"):
        return url
    return url.set(database=f"file:{quote(database)}").update_query_dict(
        {"mode": "rw", "uri": "true"}
    )
