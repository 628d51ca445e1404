"""What every strategy is doing, read from the database alone.

The service writes its state, cycles, orders and heartbeats through the repository, so status
needs no running process: it works the same while the service runs, after it stopped, or after
it crashed (a stale heartbeat age is how a dead service shows). Numbers in the JSON form are
decimal strings, like every other JSON this project prints, so no consumer ever parses money
as a float; null means unknown.

Position: the amount and average entry of the latest cycle while it is open. Held: what a
closed or aborted latest cycle handed on (`carried_amount`, at `carried_cost`): the position a
stop-now kept, or dust a take-profit could not sell. It is still on the account, and the policy
is to adopt it: when the strategy runs again (a resume, or its next cycle) that cycle starts
with it and sells it with its take-profit. Shown as `held_amount` and `held_average`
(cost / amount) so a stopped strategy does not look empty; a strategy that never opened a
cycle, or whose last cycle sold everything, holds nothing (0 and null).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from domain.errors import ValidationError
from domain.money import ZERO, fmt
from persistence.records import ActualState, CycleStatus, StrategyRecord, StrategyStatus
from persistence.repository import Repository
from strategy.options import start_condition
from strategy.start import waiting_text


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyLine:
    user: str
    name: str
    symbol: str
    state: str  # what the engine reports
    desired_state: str  # what the user asked for
    cycle: int | None
    cycles_completed: int
    realized_profit: Decimal
    position_amount: Decimal
    average_price: Decimal | None
    open_orders: int
    heartbeat_age_s: Decimal | None
    last_error: str | None
    held_amount: Decimal = ZERO  # kept by a closed/aborted latest cycle for the next one
    held_average: Decimal | None = None
    waiting_for: str | None = None  # state "waiting": e.g. "waiting for rsi14<30 on 5m"


def collect_status(
    repo: Repository, *, now: datetime, user_id: int | None = None
) -> list[StrategyLine]:
    """One line per strategy of every visible user, in user then strategy order; with
    `user_id`, of that user only, and only that user's rows are read."""
    if user_id is None:
        users = {u.id: u.name for u in repo.list_users()}
    else:
        users = {user_id: repo.get_user(user_id).name}
    lines = [
        line_of(status, users.get(status.strategy.user_id, "?"), now)
        for status in repo.list_status(user_id=user_id)
    ]
    return sorted(lines, key=lambda line: (line.user, line.name))


def line_of(status: StrategyStatus, user: str, now: datetime) -> StrategyLine:
    """The status line of one strategy (`user`: its owner's name, for display)."""
    record = status.strategy
    latest = status.latest_cycle
    holding = latest is not None and latest.status is CycleStatus.OPEN
    held = ZERO if latest is None or holding else latest.carried_amount
    age = None
    if record.last_heartbeat is not None:
        seconds = Decimal((now - record.last_heartbeat).total_seconds())
        age = max(ZERO, seconds).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    return StrategyLine(
        user=user,
        name=record.name,
        symbol=record.symbol,
        state=record.actual_state.value,
        desired_state=record.desired_state.value,
        cycle=status.current_cycle,
        cycles_completed=status.cycles_completed,
        realized_profit=status.realized_profit,
        position_amount=latest.amount if holding and latest is not None else ZERO,
        average_price=latest.average_price if holding and latest is not None else None,
        held_amount=held,
        held_average=_average(latest.carried_cost, held) if latest is not None and held else None,
        open_orders=status.open_orders,
        heartbeat_age_s=age,
        last_error=record.last_error,
        waiting_for=waiting_for(record),
    )


def waiting_for(record: StrategyRecord) -> str | None:
    """What a strategy in state waiting waits for (its start condition, as stored)."""
    if record.actual_state is not ActualState.WAITING:
        return None
    try:
        return waiting_text(start_condition(record.params.get("start_condition", "asap")))
    except ValidationError:
        return None


def _average(cost: Decimal, amount: Decimal) -> Decimal:
    """Cost per unit, to 18 places like every stored money value (a quotient can repeat)."""
    with localcontext() as context:
        context.prec = 60  # room for 18 places whatever the price's magnitude
        return (cost / amount).quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN)


def status_json(lines: list[StrategyLine]) -> dict[str, Any]:
    return {"strategies": [_json_line(line) for line in lines]}


def _json_line(line: StrategyLine) -> dict[str, Any]:
    return {
        "user": line.user,
        "name": line.name,
        "symbol": line.symbol,
        "state": line.state,
        "desired_state": line.desired_state,
        "cycle": num(line.cycle),
        "cycles_completed": num(line.cycles_completed),
        "realized_profit": num(line.realized_profit),
        "position_amount": num(line.position_amount),
        "average_price": num(line.average_price),
        "held_amount": num(line.held_amount),
        "held_average": num(line.held_average),
        "open_orders": num(line.open_orders),
        "heartbeat_age_s": num(line.heartbeat_age_s),
        "last_error": line.last_error,
        "waiting_for": line.waiting_for,
    }


def num(value: Decimal | int | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else fmt(value)
