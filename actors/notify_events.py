"""Which notices an engine's committed step makes: pure, so it is tested without an actor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from actors.notify_queue import Notifications
from domain.commands import CloseReason, CycleClosed
from domain.notifications import Notify, NotifyEvent
from strategy.state import MartingaleState

# A cycle the user sold by hand made (or lost) money as surely as one at its take-profit.
_CLOSED = {
    CloseReason.TAKE_PROFIT: NotifyEvent.CYCLE_CLOSED,
    CloseReason.SOLD: NotifyEvent.CYCLE_CLOSED,
    CloseReason.STOP_LOSS: NotifyEvent.STOP_LOSS,
}


def engine_notices(
    inbox: Notifications,
    state: MartingaleState,
    closed: CycleClosed | None,
    safety: tuple[str, ...],
    *,
    user_id: int,
    strategy_id: int,
    now: datetime,
) -> Iterator[Notify]:
    """The notices of one commit that the user's targets want: a closed cycle (its profit in
    the quote currency; a stop loss is its own event), and each safety order that began to
    fill (the last level of the ladder as "all safety orders used" when that is wanted)."""
    symbol = state.rules.symbol
    if closed is not None:
        event = _CLOSED.get(closed.reason)
        if event is not None and inbox.wants(user_id, event):
            yield Notify(
                user_id=user_id,
                event=event,
                at=now,
                strategy_id=strategy_id,
                symbol=symbol,
                cycle=closed.cycle,
                profit=closed.realized_profit,
                currency=state.rules.quote,
            )
    last = state.params.max_safety_orders
    for leg in safety:
        level = int(leg[1:]) if leg[1:].isdigit() else None
        event = NotifyEvent.SAFETY_FILLED
        if level == last and inbox.wants(user_id, NotifyEvent.SAFETY_EXHAUSTED):
            event = NotifyEvent.SAFETY_EXHAUSTED
        if inbox.wants(user_id, event):
            yield Notify(
                user_id=user_id,
                event=event,
                at=now,
                strategy_id=strategy_id,
                symbol=symbol,
                cycle=state.cycle,
                level=level,
            )
