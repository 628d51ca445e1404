"""issue 13: an admin disables a user (and enables it again)

- users.disabled_at: when an admin disabled the user, or NULL. A disabled user cannot log in or
  use a token or session, and its strategies are stopped; unlike a deleted one it stays listed
  and can be enabled again. Existing users are enabled: NULL.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled_at", persistence.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("disabled_at")
