"""Which database a command may create, and which it must find already there.

`martingale run` and `onboard` create a brand-new SQLite database at head (that is what makes
the paper example run out of the box); an existing database is only ever migrated by
`martingale db upgrade`, a step the operator takes on purpose after a backup, and that command
also creates a MySQL database the server does not have yet. Read-only commands (status,
strategy, keys) never create anything: a missing SQLite file (or its directory) or MySQL
database is reported with the command that creates it.

Every command checks its URL first (`url_problem`): a typo, an unsupported database or a driver
this install does not have is one line naming the setting, not a driver traceback. Messages
never repeat the URL, which may hold a password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.loader import ConfigError, ConfigProblem
from config.schema import ServiceConfig
from domain.errors import FatalError
from persistence.database import make_engine, parse_url
from persistence.migrate import check_at_head, upgrade
from persistence.provision import mysql_database_exists
from persistence.sql_repository import SqlRepository

EXAMPLES = "sqlite:///var/martingale.sqlite or mysql+pymysql://user:password@host/database"
# The DBAPI drivers this install ships (pyproject.toml dependencies), and SQLAlchemy's default
# driver of each backend (what a URL without "+driver" gets).
_DRIVERS = {"sqlite": "pysqlite", "mysql": "pymysql"}
_DEFAULT_DRIVERS = {"sqlite": "pysqlite", "mysql": "mysqldb"}


class DatabaseMissing(FatalError):
    """The database a read-only command (or the service) was pointed at does not exist."""


def url_problem(url: str) -> str | None:
    """Why `url` cannot be used, or None; the text never contains the URL itself."""
    try:
        parsed = parse_url(url)
    except ValueError as exc:
        return str(exc)
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _DRIVERS:
        return f"{backend!r} databases are not supported; use {EXAMPLES}"
    driver = driver or _DEFAULT_DRIVERS[backend]
    if driver != _DRIVERS[backend]:
        return (
            f"the URL scheme {parsed.drivername}:// needs the {driver!r} driver, which is not "
            f"installed; write {backend}+{_DRIVERS[backend]}:// (e.g. {EXAMPLES})"
        )
    if backend == "mysql" and not parsed.database:
        return f"the URL names no database; e.g. {EXAMPLES}"
    return None


def is_new_sqlite(url: str) -> bool:
    """True for a SQLite database file that does not exist yet (or is empty)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return True
    if database.startswith("file:"):
        return False
    path = Path(database).expanduser()
    return not path.exists() or (path.is_file() and path.stat().st_size == 0)


def missing_database(url: str) -> str | None:
    """Why a database that must already exist does not (None when it does); reads only."""
    if is_new_sqlite(url):
        return (
            "the database does not exist yet; create it with `martingale onboard --config FILE` "
            "or `martingale db upgrade --db URL`"
        )
    return missing_mysql_database(url)


def missing_mysql_database(url: str) -> str | None:
    """For a MySQL URL whose server lacks the database, what to do; None otherwise."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "mysql" or mysql_database_exists(url):
        return None
    return (
        f"the MySQL database {parsed.database!r} does not exist on that server; create it with "
        "`martingale db upgrade --db URL` (it creates the database and its tables)"
    )


def check_config_url(config: ServiceConfig) -> None:
    """A config file's database.url that cannot be used is a problem of the file (exit 2)."""
    problem = url_problem(config.database.url)
    if problem is not None:
        where = ("database", "url")
        raise ConfigError(
            str(config.source_file or "config"),
            [ConfigProblem("database.url", problem, config.source_line(where))],
        )


def prepare_database(url: str) -> bool:
    """Create a brand-new SQLite database at head; refuse any existing database that is behind,
    and a MySQL database the server does not have (DatabaseMissing).

    Creating a file nobody has yet cannot hurt anyone, and it is what makes the paper example
    run out of the box. An existing database (any MySQL one, or a SQLite file with data) is
    only ever migrated by `martingale db upgrade`, a step the operator takes on purpose after a
    backup. Returns True when the database was created here.
    """
    if is_new_sqlite(url):
        upgrade(url)
        return True
    problem = missing_mysql_database(url)
    if problem is not None:
        raise DatabaseMissing(problem)
    check_at_head(url)
    return False


@contextmanager
def open_repository(url: str, *, create: bool = False) -> Iterator[SqlRepository]:
    """The repository of the database at `url`, its connections closed on the way out.

    `create=True` (run, onboard, the API's own store) creates a brand-new SQLite database at
    head (`prepare_database`); otherwise the database must exist already (`DatabaseMissing`
    names the command that creates it). Either way a database behind head is refused.
    """
    if create:
        prepare_database(url)
    else:
        missing = missing_database(url)
        if missing is not None:
            raise DatabaseMissing(missing)
        check_at_head(url)
    engine = make_engine(url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()
