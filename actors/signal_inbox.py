"""How a webhook signal reaches its engine (issue 16, start condition `signal`).

The web accepts a signal and records a row (`signals`: strategy, nonce, signal_at,
received_at, consumed_at NULL); like every runtime command it reaches a running service only
through the database. The root's poll (`actors.root_commands`, every couple of seconds) reads
the unconsumed signals of the strategies wanted running and tells each to its user actor
(`SignalArrived`), which passes it to the engine. The engine delivers it to its machine as
`StartSignalled` (`actors.engine_start.deliver_signal`: dropped when older than max_lag), the
step is committed, and only then is the row marked consumed. So delivery is at least once: a
crash between the two delivers it again after the restart, and the machine ignores a
`StartSignalled` outside WAITING (and max_lag drops an old one), so one signal starts at most
one cycle. A signal for an engine not running yet (paused, starting, degraded) stays
unconsumed and is told again at a later poll.

A plain object used on the root's thread only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

import pykka

from actors.messages import SignalArrived
from domain.errors import DatabaseUnavailable

RESEND_AFTER = timedelta(seconds=30)  # a signal told but not consumed is told again after this


class SignalRow(Protocol):
    """The columns of a `signals` row the engine needs (persistence.records_signal)."""

    id: int
    strategy_id: int
    signal_at: datetime


class SignalInbox:
    """`read(method, *args)`: a repository read (the root's RepoClient.call)."""

    def __init__(self, read: Callable[..., Any], log: Any) -> None:
        self._read = read
        self._log = log
        self._told: dict[int, datetime] = {}  # signal id -> when it was last told

    def poll(
        self,
        running: Collection[int],
        user_of: Callable[[int], pykka.ActorRef[Any] | None],
        now: datetime,
    ) -> int:
        """Tell the unconsumed signals of the `running` strategies to their users' actors;
        returns how many were told."""
        if not running:
            return 0
        try:
            # Every unconsumed row (few: signals are rare and consumed within a poll), read
            # through its index with no list of the running ids.
            rows: list[SignalRow] = self._read("unconsumed_signals", None)
        except DatabaseUnavailable:
            return 0
        told = 0
        pending = set()
        wanted = running if isinstance(running, set | frozenset) else set(running)
        for row in rows:
            pending.add(row.id)
            if row.strategy_id not in wanted:
                continue
            last = self._told.get(row.id)
            if last is not None and now - last < RESEND_AFTER:
                continue
            ref = user_of(row.strategy_id)
            if ref is None:
                continue
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(
                    SignalArrived(
                        strategy_id=row.strategy_id, signal_id=row.id, signal_at=row.signal_at
                    )
                )
                self._told[row.id] = now
                told += 1
        for signal_id in list(self._told):
            if signal_id not in pending:
                del self._told[signal_id]  # consumed (or pruned): forget it
        return told
