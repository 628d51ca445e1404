"""cycles.received: what a cycle's sells received, net of fees paid in quote

An open cycle that has sold part of its position (a take-profit filled for the base order's
part while a safety order filled) has a result the row could not show: amount and cost are
the position and what was spent, and the sells' proceeds were only in the fills. With
`received`, a cycle's result at a price p is amount * p + received - cost, read from its row.

Rows written before this migration are filled in, with Decimal arithmetic in Python (SQLite
keeps money as text, so SQL arithmetic there would be floating point):
- a closed or aborted cycle: realized_profit + cost - carried_cost, the identity its profit was
  computed with (profit = received - spent + carried cost);
- an open cycle: the sum over its sell fills of price * amount, less the fee when it was paid in
  the quote currency (or in no named currency), rounded half-even to 18 places as the engine
  stores it.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import sqlalchemy as sa
from alembic import op

import persistence.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACES = Decimal("1e-18")  # frozen here on purpose (not imported): DECIMAL(36,18)
BATCH = 1000


def _money(name: str) -> sa.ColumnClause[Decimal]:
    return sa.column(name, persistence.types.Money())


CYCLES = sa.table(
    "cycles",
    sa.column("id", sa.Integer()),
    sa.column("strategy_id", sa.Integer()),
    sa.column("number", sa.Integer()),
    sa.column("status", sa.String()),
    _money("cost"),
    _money("realized_profit"),
    _money("carried_cost"),
    _money("received"),
)
FILLS = sa.table(
    "fills",
    sa.column("strategy_id", sa.Integer()),
    sa.column("cycle", sa.Integer()),
    sa.column("side", sa.String()),
    _money("price"),
    _money("amount"),
    _money("fee"),
    sa.column("fee_currency", sa.String()),
)
STRATEGIES = sa.table("strategies", sa.column("id", sa.Integer()), sa.column("symbol", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("cycles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "received", persistence.types.Money(), server_default="0", nullable=False
            )
        )
    bind = op.get_bind()
    updates = [{"key": key, "value": value} for key, value in _received(bind) if value != 0]
    statement = (
        sa.update(CYCLES)
        .where(CYCLES.c.id == sa.bindparam("key"))
        .values(received=sa.bindparam("value", type_=persistence.types.Money()))
    )
    for start in range(0, len(updates), BATCH):
        bind.execute(statement, updates[start : start + BATCH])


def _received(bind: sa.Connection) -> list[tuple[int, Decimal]]:
    with localcontext() as context:
        context.prec = 100  # 36-digit money, and products of two, never rounded
        return _figures(bind)


def _figures(bind: sa.Connection) -> list[tuple[int, Decimal]]:
    out: list[tuple[int, Decimal]] = []
    closed = sa.select(
        CYCLES.c.id, CYCLES.c.realized_profit, CYCLES.c.cost, CYCLES.c.carried_cost
    ).where(CYCLES.c.status != "open", CYCLES.c.realized_profit.is_not(None))
    for key, profit, cost, carried_cost in bind.execute(closed):
        out.append((key, profit + (cost or 0) - (carried_cost or 0)))
    # Every sell fill of an open cycle, in one query: (cycle row, fill, the strategy's symbol).
    sells = (
        sa.select(
            CYCLES.c.id,
            STRATEGIES.c.symbol,
            FILLS.c.price,
            FILLS.c.amount,
            FILLS.c.fee,
            FILLS.c.fee_currency,
        )
        .join(
            FILLS,
            (FILLS.c.strategy_id == CYCLES.c.strategy_id) & (FILLS.c.cycle == CYCLES.c.number),
        )
        .join(STRATEGIES, STRATEGIES.c.id == CYCLES.c.strategy_id)
        .where(CYCLES.c.status == "open", FILLS.c.side == "sell")
    )
    totals: dict[int, Decimal] = {}
    for key, symbol, price, amount, fee, currency in bind.execute(sells):
        quote = symbol.partition("/")[2].upper()
        in_quote = currency is None or currency.upper() == quote
        totals[key] = totals.get(key, Decimal(0)) + price * amount - (fee if in_quote else 0)
    out += [(k, t.quantize(PLACES, rounding=ROUND_HALF_EVEN)) for k, t in totals.items()]
    return out


def downgrade() -> None:
    with op.batch_alter_table("cycles", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("received")
