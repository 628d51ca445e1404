"""issue 17 (beyond one process): service processes and user leases

- service_processes: one row per running service process sharing the database (its UUID, host,
  pid, start and heartbeat); the live ones divide the users between them.
- user_leases: per user, the process that drives its strategies, until when, and the fencing
  token of that claim (one more at every claim). Rows are made as users are first claimed.
  New tables: nothing to fill in.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_processes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", persistence.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_processes")),
    )
    op.create_table(
        "user_leases",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=36), nullable=True),
        sa.Column(
            "token",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column("expires_at", persistence.types.UTCDateTime(), nullable=True),
        sa.Column("claimed_at", persistence.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_leases_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_leases")),
    )


def downgrade() -> None:
    op.drop_table("user_leases")
    op.drop_table("service_processes")
