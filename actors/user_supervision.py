"""How a user actor supervises its engines: what it keeps of each engine child, what it does
when one fails, and the heartbeat check that finds one stuck or dead.

Supervision is one_for_one with `RestartPolicy`: a crashed engine is restarted after a jittered
backoff through the same start path; past the limit it is persisted FAULTED with its error and
its siblings carry on. An engine that stops answering is fenced (it may never act again),
abandoned and replaced; one found dead without a word is handled as a crash.

Kept apart from the user actor (`actors.user`), which starts, commands and stops the engines,
because this is the part that decides on its own, from time and failures, that an engine must
go; it touches the children only through the `EngineChild` records the actor shares with it.
A plain object used on the user actor's thread only.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pykka

from actors.admission import BootGate, Liveness
from actors.messages import CheckHeartbeats, ChildFailed, EngineSpec, RestartChild
from actors.notify_queue import Notifications
from actors.repository import RepoClient
from actors.sends import SendLog
from actors.supervision import FailureHistory, GiveUp, RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable
from domain.notifications import Notify, NotifyEvent
from persistence.records import ActualState

MISSED_BEATS = 3  # heartbeat intervals on one message before an engine counts as stuck
# An engine that long on a message because it waits for a boot slot, on the repository or on
# the exchange is queued, not stuck; past this long in one such wait it counts as stuck all the
# same (a venue call is bounded by its client's timeout and the read retries, far below this).
MAX_KNOWN_WAIT = 300.0


@dataclass(slots=True)
class EngineChild:
    spec: EngineSpec
    ref: pykka.ActorRef[Any] | None = None
    fence: threading.Event = field(default_factory=threading.Event)
    liveness: Liveness = field(default_factory=Liveness)
    incarnation: int = 0
    history: FailureHistory = field(default_factory=FailureHistory)
    sends: SendLog = field(default_factory=SendLog)  # shared by every incarnation
    dead_checks: int = 0  # heartbeat checks that found its actor stopped
    failed: int = -1  # the incarnation whose failure was handled
    done: bool = False
    spawn_failures: int = 0  # starts refused by a temporary error in a row (backoff)


class EngineSupervisor:
    """`children`: the user actor's engine children by strategy id (shared, not copied);
    `owner`: the user actor, told `RestartChild` and `CheckHeartbeats` later."""

    def __init__(
        self,
        children: dict[int, EngineChild],
        *,
        owner: pykka.ActorRef[Any],
        repo: RepoClient,
        timers: TimerService,
        policy: RestartPolicy,
        rng: random.Random,
        telemetry: Telemetry,
        gate: BootGate | None,
        heartbeat_interval: float,
        max_known_wait: float,
        log: Any,
        notifications: Notifications | None = None,
        user_id: int = 0,
    ) -> None:
        """`log`: the user actor's bound logger, so these lines read as the actor's own.
        `notifications`: where a strategy given up on (FAULTED) is told, if anywhere."""
        self._notifications = notifications
        self._user_id = user_id
        self._children = children
        self._owner = owner
        self._repo = repo
        self._timers = timers
        self._policy = policy
        self._rng = rng
        self._telemetry = telemetry
        self._gate = gate
        self._heartbeat_interval = heartbeat_interval
        self._max_known_wait = max_known_wait
        self._log = log

    def failed(self, message: ChildFailed) -> None:
        """An engine crashed (or could not start): restart it after a backoff, or give up on
        it (FAULTED) past the policy's limit."""
        child = self._children.get(message.child_id)
        if child is None or message.incarnation != child.incarnation or child.done:
            return  # a replaced incarnation's last words
        if child.failed == child.incarnation:
            return  # already handled (found dead by a heartbeat before its ChildFailed came)
        child.failed = child.incarnation
        child.ref = None
        decision = child.history.record(time.monotonic(), self._policy, self._rng)
        sid = child.spec.strategy_id
        if isinstance(decision, GiveUp):
            child.done = True
            error = (
                f"crashed {decision.failures} times in {decision.window:.0f}s; "
                f"last: {message.error}"
            )
            self._log.error("user: engine faulted", strategy=sid, error=error)
            self.record(sid, ActualState.FAULTED, error)
            inbox = self._notifications
            if inbox is not None and inbox.wants(self._user_id, NotifyEvent.STRATEGY_FAULTED):
                inbox.tell(
                    Notify(
                        user_id=self._user_id,
                        event=NotifyEvent.STRATEGY_FAULTED,
                        at=_now(),
                        strategy_id=sid,
                        symbol=child.spec.symbol,
                        detail=error,
                    )
                )
            return
        self._telemetry.restarts.inc("engine")
        self._log.warning(
            "user: engine crashed; restarting",
            strategy=sid,
            error=message.error,
            attempt=decision.attempt,
            delay=round(decision.delay, 3),
        )
        try:
            self._repo.call("increment_restart_count", sid, now=_now())
        except DatabaseUnavailable:
            self._log.warning("user: could not count the restart", strategy=sid)
        self._timers.tell_later(decision.delay, self._owner, RestartChild(child_id=sid))

    def check_heartbeats(self) -> None:
        """Beat every engine that is idle or working, replace one stuck on a message.

        Nothing is sent to the engines: each one stamps when it starts and ends a message
        (`Liveness`), so an idle fleet costs no thread wake-ups for its heartbeats. Stuck means
        on one message for MISSED_BEATS intervals, unless it waits for a boot slot, on the
        repository or on the exchange (queued, not stuck) for less than MAX_KNOWN_WAIT.
        """
        checked = _now()  # one timestamp: the repository writes the user's beats in one statement
        stuck_after = MISSED_BEATS * self._heartbeat_interval
        beats: dict[int, datetime] = {}
        for child in self._children.values():
            if child.ref is None or child.done:
                continue
            if not child.ref.is_alive():
                # A crash tells us itself (ChildFailed); one that has not after a whole interval
                # died without a word reaching us.
                child.dead_checks += 1
                if child.dead_checks >= 2:
                    self.failed(
                        ChildFailed(
                            child_id=child.spec.strategy_id,
                            incarnation=child.incarnation,
                            error="engine died",
                        )
                    )
                continue
            wait = child.liveness.waiting_on()  # first: see Liveness.waiting_on
            busy = child.liveness.busy_for()
            if busy is None or busy < stuck_after:
                beats[child.spec.strategy_id] = checked
                continue
            if wait is None or wait[1] >= self._max_known_wait:
                self._unresponsive(child)
        if beats:
            self._repo.tell_heartbeats(beats)
        self.arm_heartbeat()

    def arm_heartbeat(self) -> None:
        self._timers.tell_later(self._heartbeat_interval, self._owner, CheckHeartbeats())

    def record(self, sid: int, state: ActualState, error: str | None) -> None:
        self._repo.tell_actual_state(sid, state, now=_now(), error=error)

    def _unresponsive(self, child: EngineChild) -> None:
        sid = child.spec.strategy_id
        self._log.error("user: engine stopped answering; replacing it", strategy=sid)
        child.fence.set()  # whatever it is stuck in, it may not act afterwards
        if self._gate is not None:
            self._gate.wake_all()
        old = child.ref
        child.ref = None
        if old is not None:
            old.stop(block=False)
        self.failed(
            ChildFailed(child_id=sid, incarnation=child.incarnation, error="heartbeat timeout")
        )


def _now() -> datetime:
    return datetime.now(UTC)
