"""A MySQL database of its own for one benchmark run: created empty (utf8mb4, binary
collation, as `martingale db upgrade` makes it), dropped afterwards whatever happens."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pymysql


@contextmanager
def scratch_database(base_url: str, prefix: str) -> Iterator[str | None]:
    """The URL of database `<prefix>_<pid>` on `base_url`'s server, or None (said on stdout)
    when the server cannot be reached."""
    parts = urlsplit(base_url)
    name = f"{prefix}_{os.getpid()}"
    try:
        conn = pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        print(f"mysql: skipped ({exc})")
        yield None
        return
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
