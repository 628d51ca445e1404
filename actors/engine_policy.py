"""The engine's pure policies: the order in which one look applies what it found, what may
change between cycles, what goes to the audit trail with a step, and how figures are stored and
shown. No I/O: tested with the engine, kept apart so the engine reads as its loop."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from domain.commands import Command, CycleClosed, StrategyFinished
from domain.events import StopMode
from domain.orders import Side
from persistence.records import DesiredState, StrategyRecord
from strategy.direction import entry_side
from strategy.options import Direction
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, Phase, WorkingOrder

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)


def apply_order(
    order: WorkingOrder, direction: Direction = Direction.LONG
) -> tuple[int, Decimal, str]:
    """Sort key of `Engine._current_orders`: market orders, then the entry side's orders (buys
    for a long, from the highest price down; sells for a short, from the lowest up), then the
    exit side's; the client order id breaks ties."""
    if order.price is None:
        return (0, Decimal(0), order.client_order_id)
    nearest = -order.price if order.side is Side.BUY else order.price
    rank = 1 if order.side is entry_side(direction) else 2
    return (rank, nearest, order.client_order_id)


def between_cycles(state: MartingaleState, record: StrategyRecord) -> MartingaleState:
    """Changes that may only happen between cycles, applied when the engine (re)starts and as
    each new cycle begins (`Engine._take_params`).

    New parameters (the config, the API) take effect for the next cycle, never in the middle of
    one.
    A strategy that finished (stopped, max cycles, or a refused base order) and is wanted
    running again starts a fresh cycle; any position it kept is carried into that cycle and
    sold with its take-profit (the policy for a stop-now's position: adopted, and reported).
    A "stop after this cycle" revoked by a resume before the cycle closed is forgotten.
    """
    if state.phase not in (Phase.IDLE, Phase.COOLDOWN, Phase.WAITING, Phase.FINISHED):
        if (
            record.desired_state is DesiredState.RUNNING
            and state.stop_mode is StopMode.FINISH_CYCLE
        ):
            # Resumed before the cycle closed: it goes on, and so do the cycles after it.
            return replace(state, stop_mode=None)
        return state
    params = parsed_params(record.params)
    if direction_kept(state, params) is not None:
        params = state.params  # the cycle keeps its parameters: the engine says why
    state = replace(state, params=params)
    limit = state.params.max_cycles
    cycles_left = limit is None or state.cycles_closed < limit
    if (
        state.phase is Phase.FINISHED
        and record.desired_state is DesiredState.RUNNING
        and cycles_left
    ):
        state = replace(
            state, phase=Phase.IDLE, finished_reason=None, stop_mode=None, wake_at=None, orders=()
        )
    return state


def direction_kept(state: MartingaleState, params: MartingaleParams) -> str | None:
    """Why new parameters that change the direction cannot be taken yet, or None.

    A carried long position cannot be sold by a short's buy-back, nor a short's debt bought
    back by a long's take-profit: the direction changes only once nothing is carried."""
    if params.direction is state.params.direction or state.book.position == 0:
        return None
    return (
        f"direction cannot change from {state.params.direction.value} to "
        f"{params.direction.value} while the strategy carries a position of "
        f"{shown(state.book.position)}; the next cycle keeps the previous parameters (sell "
        "the position by hand, or stop with sell, then change the direction)"
    )


_PARSED: dict[tuple[tuple[str, type, str], ...], MartingaleParams] = {}
_PARSED_MAX = 4096


def parsed_params(mapping: Mapping[str, Any]) -> MartingaleParams:
    """`MartingaleParams.from_mapping(mapping)`, remembered: every engine reads its stored
    parameters again as each cycle begins, and they rarely change. The key is each value's
    type and text, so values that compare equal but parse differently (1.5 and
    Decimal("1.50")) never share a result; what cannot be parsed is never remembered."""
    key = tuple(sorted((str(k), type(v), str(v)) for k, v in mapping.items()))
    params = _PARSED.get(key)
    if params is None:
        params = MartingaleParams.from_mapping(mapping)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = params
    return params


def notable(commands: tuple[Command, ...]) -> list[tuple[str, str]]:
    """(kind, detail) of the commands that go to the audit trail with their step."""
    out = []
    for command in commands:
        if isinstance(command, CycleClosed):
            out.append(("cycle_closed", f"{command.cycle}:{shown(command.realized_profit)}"))
        elif isinstance(command, StrategyFinished):
            out.append(("finished", command.reason))
    return out


def stored(value: Decimal | None) -> Decimal | None:
    """The cycle row is for reading; DECIMAL(36,18) holds 18 places (the snapshot is exact)."""
    return None if value is None else value.quantize(STORED_PLACES, rounding=ROUND_HALF_EVEN)


STORED_PLACES = Decimal("1e-18")


def shown(value: Decimal) -> str:
    """A profit for the log as the cycle row stores it: 18 places at most, no trailing zeros
    (the exact value can repeat to 28 digits when dust is carried at its average cost)."""
    text = format(value.quantize(STORED_PLACES, rounding=ROUND_HALF_EVEN), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
