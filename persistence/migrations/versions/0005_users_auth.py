"""issue 12 (services, REST API): roles, password hashes, API tokens and sessions, and what
the runtime commands of the API need

- users.role ("admin" or "user") and users.password_hash (an argon2id PHC string).
- api_tokens: API tokens and dashboard sessions, stored as SHA-256 hashes only.
- strategies.command_seq: bumped by every runtime command, so a running service sees a command
  that repeats the desired state (a resume of a finished strategy).
- strategies.deleted_at: a deleted (stopped) strategy is hidden; its history stays.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), server_default="user", nullable=False)
        )
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", persistence.types.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", persistence.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", persistence.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id_kind", "api_tokens", ["user_id", "kind"], unique=False)

    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("command_seq", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("deleted_at", persistence.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    # recreate="never": drop columns in place (SQLite >= 3.35), as 0004 does: copying a table
    # other rows point at would break their foreign keys.
    with op.batch_alter_table("strategies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("command_seq")
    op.drop_table("api_tokens")  # its index goes with it (MySQL's FK needs it until then)
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("password_hash")
        batch_op.drop_column("role")
