"""Schema migrations, driven from code so the installed package needs no alembic.ini.

`upgrade(url)` brings any database to head (creating a SQLite file and its directory if
needed). The service calls `check_at_head(url)` before it starts and refuses a database that is
behind: running on an old schema would write rows the code cannot read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection

from persistence.database import make_engine
from persistence.errors import SchemaOutOfDate, translated

MIGRATIONS = Path(__file__).with_name("migrations")
# An ALTER of a large table copies it (MySQL) and may take minutes: far past the service's
# read timeout, which is sized for its own short statements.
MIGRATION_TIMEOUT_S = 3600.0
UPGRADE_HINT = "run `martingale db upgrade --db <url>` (the same URL the service uses)"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("persistence/migrations has no revision")
    return head


def is_known_revision(revision: str) -> bool:
    """Whether `revision` is one of this version's migrations (a database at an unknown one was
    migrated by a newer martingale)."""
    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == revision for r in script.walk_revisions())


@contextmanager
def _connection(url: str | URL, operation: str) -> Iterator[Connection]:
    engine = make_engine(
        url, read_timeout_s=MIGRATION_TIMEOUT_S, write_timeout_s=MIGRATION_TIMEOUT_S
    )
    try:
        with translated(operation), engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def upgrade(url: str | URL, revision: str = "head") -> str:
    """Migrate to `revision` (default head); returns the revision the database is now at."""
    with _connection(url, "migrate") as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
        return MigrationContext.configure(connection).get_current_revision() or "base"


def downgrade(url: str | URL, revision: str) -> str:
    """Migrate down to `revision`; returns the revision the database is now at."""
    with _connection(url, "migrate") as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()
        return MigrationContext.configure(connection).get_current_revision() or "base"


def current_revision(url: str | URL) -> str | None:
    """None for an empty database that was never migrated."""
    with _connection(url, "read schema revision") as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_at_head(url: str | URL) -> bool:
    return current_revision(url) == head_revision()


def check_at_head(url: str | URL) -> None:
    """Raise `SchemaOutOfDate` with the command to run when the database is not at head."""
    current = current_revision(url)
    head = head_revision()
    if current == head:
        return
    where = "has no schema yet" if current is None else f"is at revision {current}"
    raise SchemaOutOfDate(f"the database {where}, but this version needs {head}; {UPGRADE_HINT}")
