"""The ledger's invariants, checked on one consistent read of a database (a restored copy, or a
live one with `martingale db verify`).

- Position equals fills: every strategy's position (its engine snapshot, which the engine commits
  with each fill) is what all its stored fills add up to.
- Every open order (one not known to be finished) belongs to an open cycle.
- Each closed cycle's profit and carried remainder are what its fills make of the position it took
  over from the cycle before.
- Each strategy's running totals (closed cycles and their profit, which status reads) are those of
  its closed cycles, exactly.

The sums are made by the machine's own accounting (`strategy.accounting`: `apply_fill`,
`close_book`), so this check cannot drift from how the engine books a fill. Stored figures are
DECIMAL(36,18), rounded from exact values (and the next cycle starts from the exact carried
cost, the row holds it rounded), so they are compared to within `TOLERANCE`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from domain import codec
from domain.money import ZERO
from domain.orders import Fill, OrderType, Side
from persistence import models as m
from persistence import sql_rows
from persistence.records import CycleStatus
from persistence.sql_trading import LIVE_STATES, closed_totals
from strategy.accounting import apply_fill, book_from_carried, carried_figures, close_book
from strategy.state import Book, MartingaleState, Role, WorkingOrder

TOLERANCE = Decimal("1e-15")


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows of every table (alembic_version included), by name."""
    quote = conn.dialect.identifier_preparer.quote
    return {
        name: int(conn.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one())  # noqa: S608
        for name in sorted(inspect(conn).get_table_names())
    }


def ledger_problems(conn: Connection) -> list[str]:
    """Every broken invariant, one readable line each (empty: the ledger holds)."""
    fills: dict[int, list[tuple[int | None, Fill]]] = defaultdict(list)
    for row in conn.execute(select(m.FILLS).order_by(m.FILLS.c.id)):
        fills[row.strategy_id].append((row.cycle, sql_rows.fill(row)))
    problems: list[str] = []
    strategies = conn.execute(
        select(m.STRATEGIES.c.id, m.STRATEGIES.c.name, m.STRATEGIES.c.snapshot).order_by(
            m.STRATEGIES.c.id
        )
    ).all()
    states: dict[int, MartingaleState] = {}
    for sid, name, snapshot in strategies:
        label = f"strategy {sid} ({name})"
        if not snapshot:
            if fills.get(sid):
                problems.append(f"{label}: has {len(fills[sid])} fills but no engine snapshot")
            continue
        state = codec.loads(snapshot, MartingaleState)
        states[sid] = state
        problems += _position_problems(label, state, [f for _, f in fills.get(sid, [])])
    problems += _open_order_problems(conn)
    problems += _cycle_problems(conn, states, fills)
    problems += _total_problems(conn)
    return problems


def _total_problems(conn: Connection) -> list[str]:
    s = m.STRATEGIES.c
    sums = closed_totals(conn)
    problems: list[str] = []
    rows = conn.execute(select(s.id, s.name, s.cycles_closed, s.realized_profit).order_by(s.id))
    for sid, name, count, profit in rows:
        want = sums.get(sid, (0, ZERO))
        if (count, profit) != want:
            problems.append(
                f"strategy {sid} ({name}): totals say {count} closed cycles and {profit} profit, "
                f"its cycles {want[0]} and {want[1]}"
            )
    return problems


def _replay(template: MartingaleState, start: Book, fills: list[Fill]) -> tuple[Book, list[str]]:
    """`start` plus `fills`, booked by the machine's own `apply_fill`."""
    orders = {side: _working(side) for side in Side}
    s = replace(template, book=start, orders=tuple(orders.values()), applied_trades=())
    refused: list[str] = []
    for fill in fills:
        applied = apply_fill(s, orders[fill.side], fill)
        if applied is None:
            refused.append(fill.trade_id)
            continue
        s = replace(applied[0], orders=tuple(orders.values()), applied_trades=())
    return s.book, refused


def _working(side: Side) -> WorkingOrder:
    return WorkingOrder(
        client_order_id=f"verify-{side.value}",
        role=Role.BASE if side is Side.BUY else Role.TAKE_PROFIT,
        leg="b",
        side=side,
        order_type=OrderType.LIMIT,
        amount=ZERO,
        price=None,
    )


def _position_problems(label: str, state: MartingaleState, fills: list[Fill]) -> list[str]:
    book, refused = _replay(state, Book(), fills)
    problems = [f"{label}: fill {t} does not fit the strategy (symbol or side)" for t in refused]
    if abs(book.position - state.book.position) > TOLERANCE:
        problems.append(
            f"{label}: position {state.book.position} but its fills add up to {book.position}"
        )
    return problems


def _open_order_problems(conn: Connection) -> list[str]:
    o, c = m.ORDERS.c, m.CYCLES.c
    query = (
        select(o.strategy_id, o.client_order_id, o.state, o.cycle, c.status)
        .select_from(
            m.ORDERS.outerjoin(m.CYCLES, (c.strategy_id == o.strategy_id) & (c.number == o.cycle))
        )
        .where(o.state.in_(LIVE_STATES))
        .order_by(o.id)
    )
    return [
        f"strategy {sid}: open order {coid} ({state}) belongs to cycle {cycle}, which is "
        f"{'missing' if status is None else status}"
        for sid, coid, state, cycle, status in conn.execute(query)
        if status != CycleStatus.OPEN.value
    ]


def _cycle_problems(
    conn: Connection,
    states: dict[int, MartingaleState],
    fills: dict[int, list[tuple[int | None, Fill]]],
) -> list[str]:
    by_cycle: dict[tuple[int, int | None], list[Fill]] = defaultdict(list)
    for sid, items in fills.items():
        for number, fill in items:
            by_cycle[sid, number].append(fill)
    cycles: dict[int, dict[int, Any]] = defaultdict(dict)
    for row in conn.execute(select(m.CYCLES)):
        cycles[row.strategy_id][row.number] = sql_rows.cycle(row)
    problems: list[str] = []
    for sid, rows in sorted(cycles.items()):
        state = states.get(sid)
        for number, record in sorted(rows.items()):
            if record.status is not CycleStatus.CLOSED:
                continue
            label = f"strategy {sid} cycle {number}"
            if state is None:
                problems.append(f"{label}: closed, but the strategy has no engine snapshot")
                continue
            before = rows.get(number - 1)
            start = (  # a short's carried debt is negative: the book reads it back as sold
                book_from_carried(before.carried_amount, before.carried_cost)
                if before is not None and before.status is CycleStatus.CLOSED
                else Book()
            )
            book, refused = _replay(state, start, by_cycle.get((sid, number), []))
            problems += [f"{label}: fill {t} does not fit the strategy" for t in refused]
            profit, carried = close_book(book, state.params.direction)
            left, _ = carried_figures(carried)
            stored = record.realized_profit
            if stored is None or abs(stored - profit) > TOLERANCE:
                problems.append(f"{label}: profit {stored} but its fills make {profit}")
            if abs(record.carried_amount - left) > TOLERANCE:
                problems.append(
                    f"{label}: carried {record.carried_amount} but its fills leave {left}"
                )
    return problems
