"""The engine actor's reports: its state as the database shows it (RUNNING, DEGRADED with the
reason, WAITING, ...), its audit rows, its log lines and the users' notifications (the `Host`
methods the engine calls to tell what it did)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from actors.feed_link import FeedLink
from actors.notify_events import engine_notices
from actors.notify_queue import Notifications
from actors.repository import RepoClient
from domain.commands import CycleClosed
from domain.ids import parse_client_order_id
from domain.notifications import Notify, NotifyEvent
from persistence.records import ActualState, AuditEntry
from strategy.state import MartingaleState


class EngineReports:
    """Mixed into `EngineActor`, which sets these."""

    strategy_id: int
    user_id: int
    venue: str
    symbol: str
    engine: Any
    _log: Any
    _repo: RepoClient
    _clock: Callable[[], datetime]
    _feed: FeedLink | None
    _notifications: Notifications | None
    _actual: ActualState | None
    _holdings: str | None
    _ready: bool
    _paused: bool

    # --- Host protocol (called by the Engine) --------------------------------------------

    def report(self, kind: str, detail: str | None = None, *, stored: bool = False) -> None:
        state = self.engine.state
        cycle = state.cycle if state is not None else None
        order = detail if detail and parse_client_order_id(detail) else None
        self._log.info(f"engine: {kind}", cycle=cycle, order=order, detail=detail)
        if not stored:
            self._audit(kind, detail or "")

    def warn(self, kind: str, message: str) -> None:
        self._log.warning(f"engine: {kind}", problem=message)
        self._repo.tell_audit([self.audit_entry(kind, message, level="warning")])
        # The state stays what it is; the message becomes its last error (audited just above).
        self._set_actual(self._actual or ActualState.RUNNING, message, audit=False)

    def audit_entry(self, kind: str, detail: str, *, level: str = "info") -> AuditEntry:
        return AuditEntry(
            at=self._clock(),
            level=level,
            event=kind,
            message=detail,
            user_id=self.user_id,
            strategy_id=self.strategy_id,
        )

    def _show_health(self) -> None:
        """RUNNING, or DEGRADED with the reason while the market's price feed is down (no
        fills seen, no stop loss) or the account's holdings fall short of the position. A
        paused, finished or not yet started strategy keeps its own state."""
        if not self._ready or self._paused or self.engine.finished:
            return
        error = self._feed.error if self._feed is not None else None
        if error is not None:
            self._set_actual(ActualState.DEGRADED, f"{self.venue} {self.symbol}: {error}")
        elif self._holdings is not None:  # the account's holdings fall short (reconcile)
            self._set_actual(ActualState.DEGRADED, self._holdings)
        elif self.engine.waiting is not None:  # its start condition: see services.status
            self._set_actual(ActualState.WAITING, None)
        else:
            self._set_actual(ActualState.RUNNING, None)

    def _notice(
        self, state: MartingaleState, closed: CycleClosed | None, safety: tuple[str, ...]
    ) -> None:
        """After a commit: tell the user's notifications what they want of it (nothing is
        built for a user none of whose targets wants the event)."""
        inbox = self._notifications
        if inbox is None:
            return
        try:
            for notice in engine_notices(
                inbox,
                state,
                closed,
                safety,
                user_id=self.user_id,
                strategy_id=self.strategy_id,
                now=self._clock(),
            ):
                inbox.tell(notice)
        except Exception as exc:  # a notification never costs a trade
            self._log.warning("engine: notification not told", error=type(exc).__name__)

    def _set_actual(self, state: ActualState, error: str | None, *, audit: bool = True) -> None:
        if state is self._actual and error is None:
            return
        if (
            state is ActualState.DEGRADED
            and self._actual is not ActualState.DEGRADED
            and self._notifications is not None
            and self._notifications.wants(self.user_id, NotifyEvent.STRATEGY_DEGRADED)
        ):
            self._notifications.tell(
                Notify(
                    user_id=self.user_id,
                    event=NotifyEvent.STRATEGY_DEGRADED,
                    at=self._clock(),
                    strategy_id=self.strategy_id,
                    symbol=self.symbol,
                    detail=error,
                )
            )
        # Buffered by the repository (latest per strategy wins): a restart of thousands of
        # engines must not queue thousands of single-row commits ahead of trading decisions.
        self._repo.tell_actual_state(self.strategy_id, state, now=self._clock(), error=error)
        self._actual = state
        if audit:
            self._audit("state", state.value if error is None else f"{state.value}: {error}")

    def _audit(self, event: str, message: str) -> None:
        self._repo.tell_audit([self.audit_entry(event, message)])
