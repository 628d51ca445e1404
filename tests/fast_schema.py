"""Tests only: migrating an EMPTY database to head copies a template instead of replaying every
migration.

Most database tests start from a fresh, empty database and call `persistence.migrate.upgrade`:
twelve migrations cost about 0.13 s on SQLite and 0.47 s on MariaDB each time, over a thousand
times a run. Here the first such upgrade in a test process runs the real migrations into a
template database; every later one copies that template: SQLite with its online backup API (the
very pages), MySQL by each table's own `SHOW CREATE TABLE` and its rows (alembic_version and what
the migrations seeded). The result is the schema the migrations build, because it is what they
built in this very run. A database that is not empty, or a revision other than head, goes
through alembic untouched, so the migration tests (stepwise upgrades and downgrades, the model
check) still exercise the migrations themselves.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

_original: Callable[..., Any] = command.upgrade
# sqlite: the template file's Path; mysql: the template database's name; url: its server
_TEMPLATE: dict[str, Any] = {}


def _empty(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        query = "SELECT count(*) FROM sqlite_master"
    else:
        query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
    return connection.execute(text(query)).scalar() == 0


def _fast_upgrade(config: Any, revision: str, *args: Any, **kwargs: Any) -> Any:
    connection = config.attributes.get("connection")
    if revision != "head" or connection is None or args or kwargs or not _empty(connection):
        return _original(config, revision, *args, **kwargs)
    if connection.dialect.name == "sqlite":
        return _copy_sqlite(config, connection)
    if connection.dialect.name in ("mysql", "mariadb"):
        return _copy_mysql(config, connection)
    return _original(config, revision)


def _copy_sqlite(config: Any, connection: Connection) -> None:
    if "sqlite" not in _TEMPLATE:
        _original(config, "head")  # the real migrations, once: this database is the template
        connection.commit()
        raw = connection.connection.driver_connection
        path = Path(tempfile.mkdtemp(prefix="schema-")) / "template.sqlite"
        with sqlite3.connect(path) as target:
            raw.backup(target)  # type: ignore[union-attr]
        _TEMPLATE["sqlite"] = path
        return
    connection.commit()  # the emptiness check's read transaction
    with sqlite3.connect(_TEMPLATE["sqlite"]) as source:
        source.backup(connection.connection.driver_connection)  # type: ignore[arg-type]
    _new_deployment_tag(connection, "")
    connection.commit()


def _new_deployment_tag(connection: Connection, schema: str) -> None:
    """Every database has its own random tag (migration 0004), never the template's."""
    tag = "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))
    connection.execute(text(f"UPDATE {schema}deployment SET tag = :tag"), {"tag": tag})


def _copy_mysql(config: Any, connection: Connection) -> Any:
    here = connection.execute(text("SELECT DATABASE()")).scalar()
    if "mysql" not in _TEMPLATE:
        _original(config, "head")
        connection.commit()
        template = f"{here}_schema"
        try:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{template}`"))
            connection.execute(
                text(f"CREATE DATABASE `{template}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
        except DBAPIError:  # a login that may not create databases: no template this time
            connection.rollback()
            return None
        _clone(connection, here, template)
        _TEMPLATE["mysql"] = template
        _TEMPLATE["url"] = connection.engine.url
        return
    if not _tables(connection, _TEMPLATE["mysql"]):
        # This login cannot see the template (a user granted only its own database): migrate.
        return _original(config, "head")
    _clone(connection, _TEMPLATE["mysql"], here)


def _tables(connection: Connection, schema: str) -> list[str]:
    query = text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s "
        "ORDER BY table_name"
    )
    return [row[0] for row in connection.execute(query, {"s": schema})]


def _clone(connection: Connection, source: str, target: str) -> None:
    tables = _tables(connection, source)
    connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
    try:
        for table in tables:
            ddl = connection.execute(text(f"SHOW CREATE TABLE `{source}`.`{table}`")).one()[1]
            ddl = ddl.replace(f"CREATE TABLE `{table}`", f"CREATE TABLE `{target}`.`{table}`", 1)
            connection.execute(text(ddl))
        for table in tables:
            connection.execute(
                text(f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`")
            )
        _new_deployment_tag(connection, f"`{target}`.")
        connection.commit()
    finally:
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))


@contextmanager
def fast_schema() -> Iterator[None]:
    """`MARTINGALE_TEST_REAL_MIGRATIONS=1` turns it off (every upgrade runs alembic)."""
    if os.environ.get("MARTINGALE_TEST_REAL_MIGRATIONS") == "1":
        yield
        return
    command.upgrade = _fast_upgrade  # type: ignore[assignment]
    try:
        yield
    finally:
        command.upgrade = _original  # type: ignore[assignment]
        if "mysql" in _TEMPLATE:
            url = _TEMPLATE["url"]
            server = pymysql.connect(
                host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
            )
            try:
                with server.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{_TEMPLATE['mysql']}`")
            finally:
                server.close()
