"""Alembic env: runs on the connection `persistence.migrate` hands over in config.attributes.

SQLite gets batch mode, because it cannot ALTER most things in place.
"""

from __future__ import annotations

from alembic import context

from persistence.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
