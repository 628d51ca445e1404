"""issue 11 (hardening): fills keyed per symbol, a deployment tag, account environment,
the config file's last strategy state, and what a closed cycle carried over

- fills: unique on (account_id, symbol, trade_id), was (account_id, trade_id): binance numbers
  trades per symbol, so two markets of one account can share a trade id.
- deployment: one row holding this database's random tag ([a-z]{4}); client order ids carry it.
- accounts.sandbox, accounts.base_url: the venue environment the account trades on.
- strategies.config_state: the `state:` the config file last applied.
- cycles.carried_amount, cycles.carried_cost: what a closed cycle handed to the next one.

Revision ID: 0004
Revises: 0003
"""

import secrets
import string
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _new_tag() -> str:
    # Frozen here on purpose (not imported): a migration must keep doing what it did.
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(4))


def upgrade() -> None:
    # New key first: on MySQL the fills.account_id foreign key needs an index that starts with
    # account_id, and the old unique key is that index until the new one exists.
    with op.batch_alter_table("fills", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_fills_account_id_symbol_trade_id"), ["account_id", "symbol", "trade_id"]
        )
        batch_op.drop_constraint(batch_op.f("uq_fills_account_id_trade_id"), type_="unique")

    deployment = op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tag", sa.String(length=4), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )
    op.bulk_insert(deployment, [{"id": 1, "tag": _new_tag()}])

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sandbox", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("base_url", sa.String(length=255), nullable=True))

    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_state", sa.String(length=16), nullable=True))

    with op.batch_alter_table("cycles", schema=None) as batch_op:
        for name in ("carried_amount", "carried_cost"):
            batch_op.add_column(
                sa.Column(
                    name,
                    persistence.types.Money(precision=36, scale=18),
                    server_default="0",
                    nullable=False,
                )
            )


def downgrade() -> None:
    # recreate="never": on SQLite, drop columns in place (ALTER TABLE ... DROP COLUMN, SQLite
    # >= 3.35) rather than copy the table; dropping the old copy would break the foreign keys
    # of the rows that point at it.
    # Checked before anything changes: MySQL commits each ALTER on its own.
    shared = op.get_bind().execute(
        sa.text(
            "SELECT COUNT(*) FROM (SELECT account_id, trade_id FROM fills "
            "GROUP BY account_id, trade_id HAVING COUNT(*) > 1) AS shared"
        )
    ).scalar()
    if shared:
        raise RuntimeError(
            f"cannot downgrade below 0004: {shared} trade id(s) of table fills are stored on "
            "two symbols of one account, which the old key (account_id, trade_id) forbids; "
            "stay on 0004 or remove those fills first"
        )

    with op.batch_alter_table("cycles", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("carried_cost")
        batch_op.drop_column("carried_amount")

    with op.batch_alter_table("strategies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("config_state")

    with op.batch_alter_table("accounts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("base_url")
        batch_op.drop_column("sandbox")

    op.drop_table("deployment")

    with op.batch_alter_table("fills", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_fills_account_id_trade_id"), ["account_id", "trade_id"]
        )
        batch_op.drop_constraint(
            batch_op.f("uq_fills_account_id_symbol_trade_id"), type_="unique"
        )
