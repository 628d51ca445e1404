"""The values the history reads hand out (orders, fills and closed cycles with their row ids),
and the rules of a strategy's soft delete, shared by both repositories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from domain.orders import Fill, Order
from persistence.records import ActualState, DesiredState

# Actual states of a strategy that has stopped for good, or never ran (a new row is STOPPED).
STOPPED_STATES = frozenset({ActualState.STOPPED, ActualState.FINISHED, ActualState.FAULTED})
NAME_LENGTH = 64  # strategies.name


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRecord:
    """A stored order with its row id (the page cursor) and the cycle and leg it belongs to."""

    id: int
    cycle: int
    leg: str
    order: Order
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FillRecord:
    """A stored fill with its row id (the page cursor); `created_at` is when it was recorded."""

    id: int
    fill: Fill
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyProfit:
    """The realized profit of one user's cycles of one symbol closed on one UTC day (the profit
    summary's input: the symbol gives the quote currency it is counted in)."""

    symbol: str
    day: date
    realized_profit: Decimal  # the exact sum
    cycles_closed: int


def deletion_refused(name: str, desired: DesiredState, actual: ActualState) -> str | None:
    """Why a strategy cannot be deleted yet, or None. Deleting one that may still trade would
    leave its orders with no engine to watch them: it must be asked to stop, and have stopped."""
    if desired is DesiredState.STOPPED and actual in STOPPED_STATES:
        return None
    if desired is not DesiredState.STOPPED:
        return (
            f"strategy {name!r} is {desired.value}: stop it first (stop, stop-now or "
            "close-now), then delete it once it has stopped"
        )
    return (
        f"strategy {name!r} is still {actual.value}: it was asked to stop; delete it once it "
        "has stopped"
    )


def deleted_name(name: str, strategy_id: int) -> str:
    """The name a deleted strategy keeps, freeing its own for a new strategy. '#' is not allowed
    in a name anyone chooses (config.fields), so it can never clash with one."""
    suffix = f"#deleted-{strategy_id}"
    return name[: NAME_LENGTH - len(suffix)] + suffix
