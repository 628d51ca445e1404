"""issue 16: users' notification targets (apprise URLs, sealed like exchange keys)

- notification_targets: one row per (user, name): the apprise URL as AES-GCM ciphertext under
  the master key (bound to the user and the target's name, so a row copied to another user or
  renamed fails to decrypt), its key version (what `martingale keys rotate-master` moves), the
  URL's scheme (all of the URL that may be shown), the events it wants, whether it is enabled,
  who manages it (a config file's sync, or the REST API) and when it was made and changed.
  New: no existing row to fill in.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("url_ciphertext", sa.Text(), nullable=False),
        sa.Column("url_key_version", sa.Integer(), nullable=False),
        sa.Column("events", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="api", nullable=False),
        sa.Column("created_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", persistence.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_targets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_targets")),
        sa.UniqueConstraint(
            "user_id", "name", name=op.f("uq_notification_targets_user_id_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("notification_targets")
