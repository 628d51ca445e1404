"""Whether a MySQL database exists, and creating it empty for `martingale db upgrade`.

A URL naming a database the server does not have fails every command with the driver's error
1049; the CLI asks here first, so it can say "create it with `martingale db upgrade`", and that
command creates it as its help promises (utf8mb4 with a binary collation: names compare exactly,
"Alice" and "alice" are two users). SQLite needs none of this: its file is created on connect.
"""

from __future__ import annotations

from sqlalchemy import text

from persistence.database import make_engine, parse_url
from persistence.errors import translated


def mysql_database_exists(url: str) -> bool:
    """Whether the server at `url` has the database it names (False for a SQLite URL)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "mysql" or not parsed.database:
        return False
    engine = make_engine(parsed.set(database=""), pool_size=1)
    try:
        with translated("look the database up"), engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"),
                {"name": parsed.database},
            ).first()
    finally:
        engine.dispose()
    return found is not None


def create_mysql_database(url: str) -> bool:
    """Create the MySQL database `url` names unless it exists; True when created here (never
    for a SQLite URL)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "mysql" or mysql_database_exists(url):
        return False
    name = (parsed.database or "").replace("`", "``")
    engine = make_engine(parsed.set(database=""), pool_size=1)
    try:
        with translated("create the database"), engine.connect() as connection:
            connection.execute(
                text(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
            )
            connection.commit()
    finally:
        engine.dispose()
    return True
