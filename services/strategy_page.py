"""The read model of one strategy's dashboard page: its overview line, the current ladder, the
cycles, the orders and fills the chart marks, and the parameters.

The ladder is the plan of the open cycle (from the cycle's base price and the strategy's
parameters, as `martingale plan` computes it) with each level's order where one was placed:
filled, resting, or cancelled; levels not placed yet are "planned", at the plan's unrounded
figures (the engine rounds to the market's tick and step when it places them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.errors import MartingaleError
from domain.orders import OrderState
from persistence.errors import NotFound
from persistence.records import CycleRecord, CycleStatus, StrategyRecord
from persistence.records_history import FillRecord, OrderRecord, deletion_refused
from persistence.repository import Repository
from services.dashboard import ACTIVE_ORDER, PriceOf, StrategyRow, overview
from services.plan import params_text, parse_params
from services.strategies import get_strategy
from strategy.ladder import build_plan

# How much history the page shows at once (older pages: the REST API's cursors).
CYCLES_SHOWN = 50
ORDERS_READ = 200
FILLS_SHOWN = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class LadderLevel:
    level: int  # 0: the base order
    price: Decimal
    amount: Decimal
    quote: Decimal
    state: str  # filled, resting, cancelled, planned
    filled: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleLine:
    number: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    duration: timedelta | None
    safety_used: int
    profit: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyPage:
    record: StrategyRecord
    row: StrategyRow
    params: dict[str, Any]
    ladder: list[LadderLevel]
    cycles: list[CycleLine]
    resting: list[OrderRecord]  # active orders of the open cycle: the chart's order lines
    fills: list[FillRecord]  # newest first
    stopped: bool  # may be deleted


def strategy_page(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    now: datetime,
    price_of: PriceOf,
    fills: bool = True,
    cycles: bool = True,
) -> StrategyPage:
    """`fills`, `cycles`: False leaves those lists empty, for a poll that does not show them
    (the summary shows no fills, the chart no cycles)."""
    record = get_strategy(repo, user_id, strategy_id)  # 404 for another user's strategy
    rows = overview(repo, user_id, now=now, price_of=price_of, only=record.id).rows
    if not rows:  # deleted between the two reads
        raise NotFound(f"strategy {strategy_id} does not exist")
    row = rows[0]
    # The owner was checked above: the history is read directly, newest first.
    shown = repo.page_cycles(strategy_id, before_number=None, limit=CYCLES_SHOWN if cycles else 1)
    orders = repo.page_orders(strategy_id, before_id=None, limit=ORDERS_READ)
    open_cycle = next((c for c in shown if c.status is CycleStatus.OPEN), None)
    current = [o for o in orders if open_cycle is not None and o.cycle == open_cycle.number]
    return StrategyPage(
        record=record,
        row=row,
        params=params_text(record.params),
        ladder=_ladder(record.params, open_cycle, current),
        cycles=[_cycle_line(c, now) for c in shown] if cycles else [],
        resting=[o for o in current if o.order.state in ACTIVE_ORDER],
        fills=repo.page_fills(strategy_id, before_id=None, limit=FILLS_SHOWN) if fills else [],
        stopped=deletion_refused(record.name, record.desired_state, record.actual_state) is None,
    )


def _ladder(params: Any, cycle: CycleRecord | None, orders: list[OrderRecord]) -> list[LadderLevel]:
    if cycle is None or cycle.base_price is None:
        return []
    try:
        plan = build_plan(parse_params(params), cycle.base_price)
    except MartingaleError:  # parameters changed since: show the orders alone
        plan = None
    placed: dict[int, OrderRecord] = {}
    for each in sorted(orders, key=lambda o: o.id):  # a re-placed leg (u<n>) wins
        number = _level_of(each.leg)
        if number is not None:
            placed[number] = each
    # The plan follows the current parameters, which apply from the next cycle: the levels this
    # cycle placed are shown whatever the plan says now, and planned ones only up to its size.
    planned = range(len(plan.levels)) if plan is not None else range(0)
    levels = sorted(set(planned) | set(placed))
    ladder = []
    for n in levels:
        found = placed.get(n)
        # a market order has no limit price: the price it filled at stands for it
        price = None if found is None else found.order.price or found.order.average_price
        if found is not None and price is not None:
            order = found.order
            ladder.append(
                LadderLevel(
                    level=n,
                    price=price,
                    amount=order.amount,
                    quote=price * order.amount,
                    state=_state(order.state),
                    filled=order.filled,
                )
            )
        elif plan is not None and n < len(plan.levels):
            step = plan.levels[n]
            ladder.append(
                LadderLevel(
                    level=n,
                    price=step.price,
                    amount=step.base_amount,
                    quote=step.quote_size,
                    state="planned",
                    filled=Decimal(0),
                )
            )
    return ladder


def _level_of(leg: str) -> int | None:
    if leg == "b":
        return 0
    if leg[:1] in ("s", "u") and leg[1:].isdigit():
        return int(leg[1:])
    return None


def _state(state: OrderState) -> str:
    if state is OrderState.FILLED:
        return "filled"
    if state in ACTIVE_ORDER:
        return "resting"
    return state.value


def _cycle_line(cycle: CycleRecord, now: datetime) -> CycleLine:
    end = cycle.closed_at or (now if cycle.status is CycleStatus.OPEN else None)
    return CycleLine(
        number=cycle.number,
        status=cycle.status.value,
        opened_at=cycle.opened_at,
        closed_at=cycle.closed_at,
        duration=end - cycle.opened_at if end is not None else None,
        safety_used=cycle.safety_orders_filled,
        profit=cycle.realized_profit,
    )
