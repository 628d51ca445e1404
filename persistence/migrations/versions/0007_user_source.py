"""issue 12: who manages a user, the config file or the API

- users.source: "config" (created or claimed by a config file's sync: a later sync that no
  longer names the user stops its strategies) or "api" (the REST API, `martingale users add`:
  a config file's sync leaves the user and its strategies alone). Existing users came from
  config files: "config".

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="config", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("source")
