"""Errors raised by persistence/, and the one place database driver errors are translated.

Nothing from SQLAlchemy or the drivers crosses this boundary: a lost connection becomes
`domain.errors.DatabaseUnavailable` (temporary: fail closed, retry later); anything else becomes
a `PersistenceError` that names the operation and the driver's error class, never the SQL
parameters (they may hold ciphertexts or user data).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from domain.errors import DatabaseUnavailable, FatalError

# MySQL/MariaDB client and server codes that mean "the database is not reachable right now".
_MYSQL_UNAVAILABLE = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1205,  # lock wait timeout
        1213,  # deadlock: the transaction was rolled back, retrying is safe
        2002,  # cannot connect (socket)
        2003,  # cannot connect (TCP)
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection
    }
)
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")


class PersistenceError(FatalError):
    """The database refused an operation for a reason retrying will not fix."""


class NotFound(PersistenceError):
    """The user, account, strategy, cycle or order named does not exist."""


class VersionConflict(PersistenceError):
    """Someone else wrote the strategy since it was loaded: two owners, or a stale engine."""


class DuplicateSignal(PersistenceError):
    """A webhook signal whose nonce the strategy already received: a replay."""


class SchemaOutOfDate(PersistenceError):
    """The database is behind the code's migrations."""


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_UNAVAILABLE:
        return True
    text = str(orig).lower()
    return type(orig).__module__.startswith("sqlite3") and any(
        marker in text for marker in _SQLITE_UNAVAILABLE
    )


def describe(error: BaseException) -> str:
    """A safe one-line summary: the driver error class and code, not its parameters."""
    orig = getattr(error, "orig", None) or error
    args = getattr(orig, "args", ())
    code = f" {args[0]}" if args and isinstance(args[0], int) else ""
    return f"{type(orig).__name__}{code}"


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Run a database operation; re-raise driver errors as domain errors naming `operation`."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        orig = getattr(error, "orig", None)
        if not isinstance(error, sa_exc.DBAPIError) and isinstance(orig, ValueError | TypeError):
            # Our own column types refused a value (naive datetime, float money): say so.
            raise orig from None
        if is_unavailable(error):
            raise DatabaseUnavailable(
                f"database unavailable during {operation} ({describe(error)}); "
                "no new orders until it is back"
            ) from None
        raise PersistenceError(f"database error during {operation} ({describe(error)})") from None
