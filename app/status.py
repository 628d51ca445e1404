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

from domain.money import ZERO, fmt
from persistence.records import CycleStatus, StrategyStatus
from persistence.repository import Repository

ERROR_WIDTH = 60  # the table truncates long errors; the JSON keeps them whole


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


def collect_status(repo: Repository, *, now: datetime) -> list[StrategyLine]:
    """One line per strategy of every visible user, in user then strategy order."""
    users = {u.id: u.name for u in repo.list_users()}
    lines = [
        _line(status, users.get(status.strategy.user_id, "?"), now) for status in repo.list_status()
    ]
    return sorted(lines, key=lambda line: (line.user, line.name))


def _line(status: StrategyStatus, user: str, now: datetime) -> StrategyLine:
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
    )


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
        "cycle": _num(line.cycle),
        "cycles_completed": _num(line.cycles_completed),
        "realized_profit": _num(line.realized_profit),
        "position_amount": _num(line.position_amount),
        "average_price": _num(line.average_price),
        "held_amount": _num(line.held_amount),
        "held_average": _num(line.held_average),
        "open_orders": _num(line.open_orders),
        "heartbeat_age_s": _num(line.heartbeat_age_s),
        "last_error": line.last_error,
    }


def _num(value: Decimal | int | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else fmt(value)


_COLUMNS = (
    ("USER", False),
    ("STRATEGY", False),
    ("SYMBOL", False),
    ("STATE", False),
    ("CYCLE", True),
    ("DONE", True),
    ("PROFIT", True),
    ("POSITION", True),
    ("AVG PRICE", True),
    ("HELD", True),
    ("OPEN", True),
    ("HEARTBEAT", True),
    ("LAST ERROR", False),
)


def render_table(lines: list[StrategyLine]) -> str:
    """Aligned columns, numbers right-aligned and exact; '-' where unknown."""
    if not lines:
        return "no strategies yet: onboard some with `martingale onboard --config FILE`"
    header = [title for title, _ in _COLUMNS]
    rows = [_cells(line) for line in lines]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, (_, right) in zip(row, widths, _COLUMNS, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _cells(line: StrategyLine) -> list[str]:
    state = line.state
    if line.desired_state != line.state:
        state = f"{line.state} (wants {line.desired_state})"
    error = line.last_error or "-"
    error = " ".join(error.split())
    if len(error) > ERROR_WIDTH:
        error = error[: ERROR_WIDTH - 3] + "..."
    return [
        line.user,
        line.name,
        line.symbol,
        state,
        _num(line.cycle) or "-",
        str(line.cycles_completed),
        fmt(line.realized_profit),
        fmt(line.position_amount),
        _num(line.average_price) or "-",
        _held(line),
        str(line.open_orders),
        _age(line.heartbeat_age_s),
        error,
    ]


def _held(line: StrategyLine) -> str:
    """'0.05 @ 0.0985' (amount at average cost), '-' when nothing is held."""
    if not line.held_amount:
        return "-"
    return f"{fmt(line.held_amount)} @ {_num(line.held_average) or '?'}"


def _age(seconds: Decimal | None) -> str:
    """12s, 4m05s, 3h02m, 2d04h: readable at a glance; '-' for never."""
    if seconds is None:
        return "-"
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    if total < 86400:
        return f"{total // 3600}h{total % 3600 // 60:02d}m"
    return f"{total // 86400}d{total % 86400 // 3600:02d}h"
