"""issue 15 (retention): status totals that do not grow with history

- strategies.cycles_closed, strategies.realized_profit: the number of closed cycles and the sum
  of their profit, kept in the transaction of every write that closes a cycle. Status read them
  by summing every closed cycle of every strategy: with a year of cycles that sum was most of a
  status request (bench/bench_retention.py: 481 ms for 1,000 strategies on SQLite, 1.3 s on
  MariaDB, and pruning the journal cannot help: cycles are the ledger). Filled in here from the
  cycles, with Decimal arithmetic in Python (SQLite keeps money as text).
- orders (state, strategy_id): the live orders of every strategy in one index range; with
  (strategy_id, state) alone MariaDB read the whole table once the status listed 1,000
  strategies (an IN list that long becomes a subquery there).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence
from decimal import Decimal, localcontext

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
CYCLES = sa.table(
    "cycles",
    sa.column("strategy_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("realized_profit", persistence.types.Money()),
)
STRATEGIES = sa.table(
    "strategies",
    sa.column("id", sa.Integer()),
    sa.column("cycles_closed", sa.Integer()),
    sa.column("realized_profit", persistence.types.Money()),
)


def upgrade() -> None:
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cycles_closed", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "realized_profit", persistence.types.Money(), server_default="0", nullable=False
            )
        )
    op.create_index("ix_orders_state_strategy_id", "orders", ["state", "strategy_id"])
    bind = op.get_bind()
    totals: dict[int, tuple[int, Decimal]] = {}
    closed = sa.select(CYCLES.c.strategy_id, CYCLES.c.realized_profit).where(
        CYCLES.c.status == "closed"
    )
    with localcontext() as context:
        context.prec = 80  # 36-digit money, summed without rounding
        for strategy_id, profit in bind.execute(closed):
            count, total = totals.get(strategy_id, (0, Decimal(0)))
            totals[strategy_id] = (count + 1, total + (profit or 0))
    rows = [{"key": k, "n": n, "p": p} for k, (n, p) in totals.items()]
    statement = (
        sa.update(STRATEGIES)
        .where(STRATEGIES.c.id == sa.bindparam("key"))
        .values(
            cycles_closed=sa.bindparam("n"),
            realized_profit=sa.bindparam("p", type_=persistence.types.Money()),
        )
    )
    for start in range(0, len(rows), BATCH):
        bind.execute(statement, rows[start : start + BATCH])


def downgrade() -> None:
    op.drop_index("ix_orders_state_strategy_id", table_name="orders")
    with op.batch_alter_table("strategies", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("realized_profit")
        batch_op.drop_column("cycles_closed")
