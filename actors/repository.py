"""RepositoryActor: the single writer to the database.

Started first and stopped last. Decisions (`save_step`) are committed before their engine
hears back, because the engine may not call the exchange before its intent is durable. They are
group-committed: engines put their steps on a shared `StepQueue` and nudge the actor, which takes
every step waiting (up to `max_group`) and writes them with `Repository.save_steps` in one
transaction and a handful of statements; each engine gets its own result or error. Under load the
groups grow, so the writer's cost per step falls as the load rises instead of a queue building.

Bulk writes that nobody waits for (audit log, heartbeats, reported states) are buffered and
written in batches: every `flush_interval` seconds or when `batch_size` rows wait, and always
before shutdown. Heartbeats and states go `bulk_rows` rows per transaction, with the steps
waiting served between two: a step that arrives during a flush waits for one chunk, not for
the whole flush.

A database error is `DatabaseUnavailable` (translated by persistence); it travels back to the
asking engine, which then places no order and retries later (fail closed). Buffered rows are
kept and retried at the next flush, up to `max_buffer` rows.

Old journal events and audit rows are pruned here too, a short transaction per message, steps
served before each (`actors.retention` says why here and not elsewhere).

Reads do not queue behind the writer: `RepoClient` runs them in the caller's thread on the
(thread-safe) repository, a few at a time. SQLite in WAL mode and MySQL both let readers run
beside the one writer, and the 5,000 engine loads of a restart would otherwise hold up every
decision waiting to be committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import Any

import pykka
import structlog

from actors.retention import Pruning
from actors.step_queue import StepQueue, StepRequest, WriterBacklog
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable, MartingaleError
from persistence.records import ActualState, AuditEntry, StateReport, StepResult, StepWrite
from persistence.repository import Repository

log = structlog.get_logger(__name__)


class _Flush:
    pass


class _Steps:
    """Nudge: steps are waiting on the StepQueue."""


# Step groups a flush serves between two of its parts (see `_serve_some`).
GROUPS_BETWEEN = 2


class _Prune:
    """Run the next batch of the retention prune (`actors.retention`)."""


class RepositoryActor(pykka.ThreadingActor):
    def __init__(
        self,
        repo: Repository,
        timers: TimerService,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        max_buffer: int = 200_000,
        steps: StepQueue,
        max_group: int = 200,
        bulk_rows: int = 100,
        backlog: WriterBacklog | None = None,
        pruning: Pruning | None = None,
    ) -> None:
        super().__init__()
        self._pruning = pruning
        self._backlog = backlog
        if backlog is not None:
            backlog.inbox = self.actor_inbox
        if bulk_rows < 1:
            raise ValueError(f"bulk_rows must be at least 1, got {bulk_rows}")
        self.repo = repo
        self._timers = timers
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._steps = steps
        self._max_group = max_group
        self._bulk_rows = bulk_rows
        self.groups = 0  # save_steps calls, and the steps they carried: the mean group size
        self.grouped = 0
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
            raise self._backlogged(method)
        fn: Callable[..., Any] = getattr(self.repo, method)
        return fn(*args, **kwargs)

    # --- buffered writes (told) ----------------------------------------------------------

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
        return len(self._audit) + len(self._beats) + len(self._actual)

    def on_start(self) -> None:
        if self._pruning is not None:
            self._timers.tell_later(self._pruning.first_after_s, self.actor_ref, _Prune())

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Steps):
            self._write_steps()
        elif isinstance(message, _Flush):
            self._timer_armed = False
            self._flush()
        elif isinstance(message, _Prune) and self._pruning is not None:
            self._serve_some()  # decisions first: a prune batch never goes before those waiting
            wait = self._pruning.step()
            if wait <= 0:  # behind whatever reached the mailbox during this batch
                self.actor_ref.tell(_Prune())
            else:
                self._timers.tell_later(wait, self.actor_ref, _Prune())
        return None

    def on_stop(self) -> None:
        self._serve_steps()  # engines are stopped first; anything left gets its answer
        try:
            self._flush()
        except MartingaleError:
            log.error("repository: rows lost at shutdown", pending=self.pending())

    # --- internals -----------------------------------------------------------------------

    def _write_steps(self) -> None:
        """One group: every step waiting (up to `max_group`), one `save_steps`, then replies.

        A reply is sent only after the commit: an engine never hears "saved" for a step that
        is not durable. A step past its deadline is refused unrun (see `call`)."""
        now = time.monotonic()
        live: list[StepRequest] = []
        for request in self._steps.take(self._max_group):
            if now > request.deadline:
                _fail(request, self._backlogged("save_step"))
            else:
                live.append(request)
        if not live:
            return
        try:
            results = self.repo.save_steps([r.write for r in live])
        except Exception as exc:  # nothing of the group was committed
            for request in live:
                _fail(request, exc)
            return
        self.groups += 1
        self.grouped += len(live)
        for request, result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                _fail(request, result)
            else:
                request.reply.set(result)

    def _after_buffer(self) -> None:
        self._note_buffered()
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
            # Decisions waiting for their commit go first, before and between the bulk parts:
            # a flush of thousands of rows must not hold up an order.
            self._serve_some()
            if self._audit:
                written += self._write_batch("audit", self.repo.append_audit, self._audit)
                self._audit = []
            self._serve_some()
            bulk: tuple[tuple[str, dict[int, Any], Callable[[Any], int]], ...] = (
                ("heartbeats", self._beats, self._write_beats),
                ("states", self._actual, self._write_actual),
            )
            for what, rows, write in bulk:
                while rows:  # one transaction per chunk, steps served in between
                    chunk = dict(islice(rows.items(), self._bulk_rows))
                    written += self._write_batch(what, write, chunk)
                    for sid in chunk:
                        del rows[sid]
                    self._serve_some()
        except DatabaseUnavailable:
            self._trim()
            if not self._timer_armed:
                self._timer_armed = True
                self._timers.tell_later(max(1.0, self._flush_interval), self.actor_ref, _Flush())
        finally:
            self._note_buffered()
        return written

    def _note_buffered(self) -> None:
        if self._backlog is not None:
            self._backlog.buffered = self.pending()

    def _backlogged(self, method: str) -> DatabaseUnavailable:
        self.expired += 1
        return DatabaseUnavailable(
            f"the database writer is backlogged: {method} waited too long and was not run"
        )

    def _serve_steps(self) -> None:
        while self._steps:
            self._write_steps()

    def _serve_some(self) -> None:
        """Between a flush's parts: the steps waiting now, at most GROUPS_BETWEEN groups. Under
        a steady stream of steps (thousands of engines trading or booting) a loop until the
        queue is empty never ends, and states and heartbeats would never be written; the
        steps left are served by their own messages, or between the next parts."""
        for _ in range(GROUPS_BETWEEN):
            if not self._steps:
                return
            self._write_steps()

    def _write_beats(self, beats: dict[int, datetime]) -> int:
        """Beats rounded down to the second: the repository writes one statement per distinct
        time, and hundreds of user actors check at their own times (a beat at most a second
        early only makes an engine look a little less fresh)."""
        self.repo.record_heartbeats({sid: at.replace(microsecond=0) for sid, at in beats.items()})
        return len(beats)

    def _write_actual(self, states: dict[int, StateReport]) -> int:
        """One transaction, one lease check for the chunk. A strategy handed over to another
        process (several processes) is left out: what its engines here last said is not this
        process's to write, and it must not hold the others up as an outage would."""
        fenced = self.repo.set_actual_states(states)
        if fenced:
            log.info(
                "repository: states of handed-over strategies dropped", strategies=sorted(fenced)
            )
        return len(states) - len(fenced)

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
        over = len(self._audit) - self._max_buffer
        if over > 0:
            log.error(
                "repository: buffer full while the database is down; dropping oldest", rows=over
            )
            self._audit = self._audit[over:]


def _fail(request: StepRequest, exc: BaseException) -> None:
    request.reply.set_exception((type(exc), exc, exc.__traceback__))


READS = frozenset(
    {
        "load_engine_state",
        "load_engine_states",
        "list_strategies",
        "list_desired_states",
        "list_users",
        "list_accounts",
        "list_status",
        "get_strategy",
        "get_account",
        "get_user",
        "list_changed_accounts",
        "unconsumed_signals",
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
        steps: StepQueue,
    ) -> None:
        self._ref = ref
        self._steps = steps
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
        with self._answer(method):
            future = self._proxy.call(method, *args, _deadline=deadline, **kwargs)
            return future.get(timeout=self._timeout + self._grace)

    def load_engine_state(self, strategy_id: int) -> Any:
        return self.call("load_engine_state", strategy_id)

    def load_engine_states(self, strategy_ids: list[int]) -> Any:
        return self.call("load_engine_states", strategy_ids)

    def save_step(self, strategy_id: int, **step: Any) -> StepResult:
        """Queue the step for the writer's next group; the answer comes after its commit."""
        reply: pykka.Future[StepResult] = pykka.ThreadingFuture()
        write = StepWrite.build(strategy_id, **step)
        self._steps.put(StepRequest(write, time.monotonic() + self._timeout, reply))
        with self._answer("save_step"):
            self._ref.tell(_Steps())
            return reply.get(timeout=self._timeout + self._grace)

    @contextmanager
    def _answer(self, method: str) -> Iterator[None]:
        """No answer from the writer means the database is unavailable, to the caller."""
        try:
            yield
        except pykka.Timeout:
            raise DatabaseUnavailable(
                f"repository did not answer {method} in {self._timeout + self._grace}s"
            ) from None
        except pykka.ActorDeadError:
            raise DatabaseUnavailable("repository actor is stopped") from None

    def tell_audit(self, entries: list[AuditEntry]) -> None:
        self._proxy.audit(entries)

    def tell_heartbeats(self, beats: dict[int, datetime]) -> None:
        self._proxy.heartbeats(beats)

    def tell_actual_state(
        self, strategy_id: int, state: ActualState, *, now: datetime, error: str | None
    ) -> None:
        self._proxy.actual_state(strategy_id, state, now, error)
