"""Shared fixtures. `db_url` gives a test both SQLite and MySQL.

MySQL comes from MARTINGALE_TEST_MYSQL_URL (default: root@127.0.0.1:3306/test). Each test gets
a fresh scratch database named after the base one and the process id, so parallel workers and
concurrent runs do not see each other's tables. When MySQL is unreachable the MySQL half is skipped with the reason,
unless CI is set, in which case it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest

from tests.fast_schema import fast_schema

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


@pytest.fixture(autouse=True, scope="session")
def _schema_from_a_template() -> Iterator[None]:
    """An empty database migrated to head is a copy of the first one (tests/fast_schema.py)."""
    with fast_schema():
        yield


def mysql_base_url() -> str:
    return os.environ.get("MARTINGALE_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)


def _connect(url: str, database: str | None = None) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=database,
        connect_timeout=3,
        autocommit=True,
    )


@cache
def mysql_unreachable_reason() -> str | None:
    url = mysql_base_url()
    try:
        _connect(url).close()
    except Exception as exc:  # any failure means "not reachable" for the skip message
        return f"MySQL not reachable at {urlsplit(url).hostname}:{urlsplit(url).port}: {exc}"
    return None


def require_mysql() -> None:
    reason = mysql_unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so MySQL is required: {reason}")
    pytest.skip(f"{reason} (set MARTINGALE_TEST_MYSQL_URL; required when CI is set)")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MySQL database for this test; dropped afterwards."""
    require_mysql()
    base = mysql_base_url()
    parts = urlsplit(base)
    # One scratch database per process: xdist workers and concurrent runs never share one.
    name = f"{parts.path.lstrip('/') or 'test'}_scratch_{os.getpid()}"
    conn = _connect(base)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'martingale.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test that takes `db_url` runs once on SQLite and once on MySQL."""
    name = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def second_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database of `db_url`'s kind (a restore's target): a SQLite file that does
    not exist yet, or a MySQL scratch database that does not exist yet (dropped afterwards)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'martingale.sqlite'}"
        return
    parts = urlsplit(db_url)
    name = f"{parts.path.lstrip('/')}_restored"
    conn = _connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
