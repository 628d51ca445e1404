"""`martingale status`'s table: aligned columns over the status read model (services.status)."""

from __future__ import annotations

from decimal import Decimal

from domain.money import fmt
from services.status import StrategyLine, num

ERROR_WIDTH = 60  # the table truncates long errors; the JSON keeps them whole


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
    state = line.waiting_for or line.state  # "waiting for rsi14<30 on 5m"
    if line.desired_state != line.state and line.waiting_for is None:
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
        num(line.cycle) or "-",
        str(line.cycles_completed),
        fmt(line.realized_profit),
        fmt(line.position_amount),
        num(line.average_price) or "-",
        _held(line),
        str(line.open_orders),
        _age(line.heartbeat_age_s),
        error,
    ]


def _held(line: StrategyLine) -> str:
    """'0.05 @ 0.0985' (amount at average cost), '-' when nothing is held."""
    if not line.held_amount:
        return "-"
    return f"{fmt(line.held_amount)} @ {num(line.held_average) or '?'}"


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
