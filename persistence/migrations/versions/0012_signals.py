"""issue 16 (start conditions): webhook signals

- signal_keys: one row per strategy that may be started by a webhook signal: the SHA-256 of the
  URL token (the token is shown once, like an API token, and stored nowhere), the shared secret
  as AES-GCM ciphertext under the master key (bound to the strategy, so a row copied to another
  strategy fails to decrypt) and its key version, when it was made and last rotated.
- signals: the signals the web accepted, one per (strategy, nonce) so a replay is refused;
  `consumed_at` is set by the engine that took it. Pruned with the events.
  New tables: nothing to fill in.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signal_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("secret_key_version", sa.Integer(), nullable=False),
        sa.Column("created_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("rotated_at", persistence.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["strategy_id"], ["strategies.id"], name=op.f("fk_signal_keys_strategy_id_strategies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_keys")),
        sa.UniqueConstraint("strategy_id", name=op.f("uq_signal_keys_strategy_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signal_keys_token_hash")),
    )
    op.create_table(
        "signals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("strategy_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("signal_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("received_at", persistence.types.UTCDateTime(), nullable=False),
        sa.Column("consumed_at", persistence.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["strategy_id"], ["strategies.id"], name=op.f("fk_signals_strategy_id_strategies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("strategy_id", "nonce", name=op.f("uq_signals_strategy_id_nonce")),
    )
    op.create_index(
        "ix_signals_consumed_at_strategy_id", "signals", ["consumed_at", "strategy_id"]
    )


def downgrade() -> None:
    op.drop_table("signals")  # its index goes with it
    op.drop_table("signal_keys")
