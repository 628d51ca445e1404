"""Which database a command may create, and which it must find already there.

`martingale run` and `onboard` create a brand-new SQLite database at head (that is what makes
the paper example run out of the box); an existing database is only ever migrated by
`martingale db upgrade`, a step the operator takes on purpose after a backup.
"""

from __future__ import annotations

from pathlib import Path

from persistence.database import parse_url
from persistence.migrate import check_at_head, upgrade


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


def prepare_database(url: str) -> bool:
    """Create a brand-new SQLite database at head; refuse any existing database that is behind.

    Creating a file nobody has yet cannot hurt anyone, and it is what makes the paper example
    run out of the box. An existing database (any MySQL one, or a SQLite file with data) is
    only ever migrated by `martingale db upgrade`, a step the operator takes on purpose after a
    backup. Returns True when the database was created here.
    """
    if is_new_sqlite(url):
        upgrade(url)
        return True
    check_at_head(url)
    return False
