"""RepositoryActor: the single writer to the database.

Started first and stopped last. Decisions (`save_step`) are committed at once, because the
engine may not call the exchange before its intent is durable. Bulk writes that nobody waits
for (journal events, audit log, heartbeats) are buffered and written in batches: every
`flush_interval` seconds or when `batch_size` rows wait, and always before shutdown.

A database error is `DatabaseUnavailable` (translated by persistence); it travels back to the
asking engine, which then places no order and retries later (fail closed). Buffered rows are
kept and retried at the next flush, up to `max_buffer` rows.

Reads do not queue behind the writer: `RepoClient` runs them in the caller's thread on the
(thread-safe) repository, a few at a time. SQLite in WAL mode and MySQL both let readers run
beside the one writer, and the 5,000 engine loads of a restart would otherwise hold up every
decision waiting to be committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pykka
import structlog

from actors.timers import TimerService
from domain.errors import DatabaseUnavailable, MartingaleError
from persistence.records import ActualState, AuditEntry, JournalEntry
from persistence.repository import Repository

log = structlog.get_logger(__name__)


class _Flush:
    pass


class RepositoryActor(pykka.ThreadingActor):
    def __init__(
        self,
        repo: Repository,
        timers: TimerService,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        max_buffer: int = 200_000,
    ) -> None:
        super().__init__()
        self.repo = repo
        self._timers = timers
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._events: list[JournalEntry] = []
        self._audit: list[AuditEntry] = []
        self._beats: dict[int, datetime] = {}
        self._actual: dict[int, tuple[ActualState, datetime, str | None]] = {}
        self._timer_armed = False
        self.expired = 0  # requests refused unrun because their caller's deadline passed

    # --- pass-through reads and immediate writes (asked through the proxy) ---------------

    def call(self, method: str, *args: Any, _deadline: float | None = None, **kwargs: Any) -> Any:
        """Run one repository operation in this actor's thread (one writer at a time).

        A request still queued past `_deadline` (monotonic) is refused unrun: its caller has
        given up or is about to, and a write it does not hear of would only make its next
        write a version conflict (and, under overload, turn a queue into a collapse)."""
        if _deadline is not None and time.monotonic() > _deadline:
            self.expired += 1
            raise DatabaseUnavailable(
                f"the database writer is backlogged: {method} waited too long and was not run"
            )
        if method in ("save_step",):
            self._flush()  # keep the journal in order: buffered events first
        fn: Callable[..., Any] = getattr(self.repo, method)
        return fn(*args, **kwargs)

    # --- buffered writes (told) ----------------------------------------------------------

    def journal(self, entries: list[JournalEntry]) -> None:
        self._events.extend(entries)
        self._after_buffer()

    def audit(self, entries: list[AuditEntry]) -> None:
        self._audit.extend(entries)
        self._after_buffer()

    def heartbeats(self, beats: dict[int, datetime]) -> None:
        self._beats.update(beats)
        self._after_buffer()

    def actual_state(
        self, strategy_id: int, state: ActualState, now: datetime, error: str | None
    ) -> None:
        """The engine's reported state; only the latest per strategy is written."""
        self._actual[strategy_id] = (state, now, error)
        self._after_buffer()

    def flush(self) -> int:
        return self._flush()

    def pending(self) -> int:
        return len(self._events) + len(self._audit) + len(self._beats) + len(self._actual)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Flush):
            self._timer_armed = False
            self._flush()
        return None

    def on_stop(self) -> None:
        try:
            self._flush()
        except MartingaleError:
            log.error("repository: rows lost at shutdown", pending=self.pending())

    # --- internals -----------------------------------------------------------------------

    def _after_buffer(self) -> None:
        if self.pending() >= self._batch_size:
            self._flush()
        elif not self._timer_armed:
            self._timer_armed = True
            self._timers.tell_later(self._flush_interval, self.actor_ref, _Flush())

    def _flush(self) -> int:
        """Write every buffer. A database outage keeps the rows for the next try; a batch the
        database refuses for any other reason is logged and dropped, because keeping it would
        fail every later flush, and with it every decision that waits behind one."""
        written = 0
        try:
            if self._events:
                written += self._write_batch("events", self.repo.append_events, self._events)
                self._events = []
            if self._audit:
                written += self._write_batch("audit", self.repo.append_audit, self._audit)
                self._audit = []
            if self._beats:
                written += self._write_batch("heartbeats", self._write_beats, self._beats)
                self._beats = {}
            if self._actual:
                written += self._write_batch("states", self._write_actual, self._actual)
                self._actual = {}
        except DatabaseUnavailable:
            self._trim()
            if not self._timer_armed:
                self._timer_armed = True
                self._timers.tell_later(max(1.0, self._flush_interval), self.actor_ref, _Flush())
        return written

    def _write_beats(self, beats: dict[int, datetime]) -> int:
        self.repo.record_heartbeats(beats)
        return len(beats)

    def _write_actual(self, states: dict[int, tuple[ActualState, datetime, str | None]]) -> int:
        with self.repo.transaction():
            for sid, (state, now, error) in states.items():
                self.repo.set_actual_state(sid, state, now=now, last_error=error)
        return len(states)

    def _write_batch(self, what: str, write: Callable[[Any], Any], rows: Any) -> int:
        try:
            return int(write(rows) or 0)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            log.error(
                "repository: batch refused; dropped",
                what=what,
                rows=len(rows),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            return 0

    def _trim(self) -> None:
        over = len(self._events) + len(self._audit) - self._max_buffer
        if over > 0:
            log.error(
                "repository: buffer full while the database is down; dropping oldest", rows=over
            )
            drop_audit = min(over, len(self._audit))
            self._audit = self._audit[drop_audit:]
            self._events = self._events[over - drop_audit :]


READS = frozenset(
    {
        "load_engine_state",
        "list_strategies",
        "list_desired_states",
        "list_users",
        "list_accounts",
        "list_status",
        "get_strategy",
        "get_account",
        "get_user",
    }
)


class RepoClient:
    """The engine-side view of the RepositoryActor: blocking calls with a timeout.

    Writes go to the single writer; reads run here, in the caller's thread, at most
    `max_readers` at once. A timeout means the database (or its writer) is not answering:
    `DatabaseUnavailable`. A write carries a deadline `timeout` seconds out, after which the
    writer refuses it unrun; the caller waits `grace` longer than that for the answer of a
    write that started in time, so "timed out" almost never means "ran without our knowing".
    """

    def __init__(
        self,
        ref: pykka.ActorRef[RepositoryActor],
        timeout: float = 30.0,
        *,
        reader: Repository | None = None,
        max_readers: int = 4,
        grace: float = 30.0,
    ) -> None:
        self._proxy = ref.proxy()
        self._timeout = timeout
        self._grace = grace
        self._reader = reader
        self._readers = threading.BoundedSemaphore(max_readers)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._reader is not None and method in READS:
            if not self._readers.acquire(timeout=self._timeout):
                raise DatabaseUnavailable(f"no database reader free for {method}")
            try:
                return getattr(self._reader, method)(*args, **kwargs)
            finally:
                self._readers.release()
        deadline = time.monotonic() + self._timeout
        try:
            future = self._proxy.call(method, *args, _deadline=deadline, **kwargs)
            return future.get(timeout=self._timeout + self._grace)
        except pykka.Timeout:
            raise DatabaseUnavailable(
                f"repository did not answer {method} in {self._timeout + self._grace}s"
            ) from None
        except pykka.ActorDeadError:
            raise DatabaseUnavailable("repository actor is stopped") from None

    def load_engine_state(self, strategy_id: int) -> Any:
        return self.call("load_engine_state", strategy_id)

    def save_step(self, strategy_id: int, **kwargs: Any) -> Any:
        return self.call("save_step", strategy_id, **kwargs)

    def tell_audit(self, entries: list[AuditEntry]) -> None:
        self._proxy.audit(entries)

    def tell_heartbeats(self, beats: dict[int, datetime]) -> None:
        self._proxy.heartbeats(beats)

    def tell_actual_state(
        self, strategy_id: int, state: ActualState, *, now: datetime, error: str | None
    ) -> None:
        self._proxy.actual_state(strategy_id, state, now, error)
