"""Status of many strategies at once (`martingale status`, the API's status, the dashboard):
one row per strategy whatever its history, with statements that each read an index range.

- The closed cycles' count and profit are the strategy row's running totals
  (`sql_trading.refresh_totals`), not a sum over its cycles.
- The live orders (their count, and the resting take-profit) and the latest cycle are read for
  the user's strategies through a join on `strategies.user_id`, or for every strategy with no
  filter at all (then rows of strategies not listed, deleted ones, are dropped here). Not with
  an IN list of the strategies' ids: MariaDB turns a list of 1,000 or more into a subquery and
  a shorter long one into a full scan of `orders` (bench/bench_retention.py: 1.2 s for 1,000
  strategies with six months of history, 0.8 s of it the take-profit lookup).

Core statements built once: the API runs this on every status request.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Connection

from persistence import sql_rows
from persistence.records import StrategyStatus
from persistence.sql_base import strategies_query
from persistence.sql_trading import CYCLES, LIVE_STATES, ORDERS, STRATEGIES

_O, _C, _S = ORDERS.c, CYCLES.c, STRATEGIES.c


def _of_user(statement: Select[Any], strategy_id: Any) -> Select[Any]:
    return statement.join(STRATEGIES, _S.id == strategy_id).where(_S.user_id == bindparam("b_user"))


# Every live order, with its leg: the count per strategy, and the resting take-profit (leg t<k>:
# the revision placed last, the highest id, is the one that rests), worked out in Python. No
# ORDER BY: one made MariaDB walk the whole table by its primary key.
_LIVE = select(_O.strategy_id, _O.leg, _O.price, _O.id).where(_O.state.in_(LIVE_STATES))
# A user's: by (strategy_id, state). MariaDB otherwise takes (strategy_id, id), every order
# the strategy ever had (1,100 each with six months of history: 16 ms against 2 ms).
_LIVE_OF_USER = _of_user(_LIVE, _O.strategy_id).with_hint(
    ORDERS, "FORCE INDEX (ix_orders_strategy_id_state)", dialect_name="mysql"
)
_NEWEST = select(_C.strategy_id, func.max(_C.number).label("number")).group_by(_C.strategy_id)


def _latest(newest: Select[Any]) -> Select[Any]:
    numbers = newest.subquery()
    return select(CYCLES).join(
        numbers, (_C.strategy_id == numbers.c.strategy_id) & (_C.number == numbers.c.number)
    )


_ALL = {"live": _LIVE, "latest": _latest(_NEWEST)}
_USER = {"live": _LIVE_OF_USER, "latest": _latest(_of_user(_NEWEST, _C.strategy_id))}


def status_rows(conn: Connection, user_id: int | None) -> list[StrategyStatus]:
    """The listed strategies (of `user_id`, or of every user), by id."""
    rows = conn.execute(*strategies_query(user_id)).all()
    if not rows:
        return []
    statements, params = (_ALL, {}) if user_id is None else (_USER, {"b_user": user_id})
    listed = {r.id for r in rows}
    open_orders: dict[int, int] = {}
    take_profits: dict[int, tuple[int, Decimal]] = {}
    for sid, leg, price, order_id in conn.execute(statements["live"], params):
        if sid not in listed:
            continue
        open_orders[sid] = open_orders.get(sid, 0) + 1
        if leg.startswith("t") and order_id > take_profits.get(sid, (0, price))[0]:
            take_profits[sid] = (order_id, price)
    latest = {
        row.strategy_id: sql_rows.cycle(row)
        for row in conn.execute(statements["latest"], params)
        if row.strategy_id in listed
    }
    return [
        StrategyStatus(
            strategy=sql_rows.strategy(r),
            cycles_completed=int(r.cycles_closed),
            realized_profit=r.realized_profit,
            open_orders=open_orders.get(r.id, 0),
            current_cycle=latest[r.id].number if r.id in latest else None,
            latest_cycle=latest.get(r.id),
            take_profit=take_profits[r.id][1] if r.id in take_profits else None,
        )
        for r in rows
    ]
