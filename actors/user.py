"""UserActor: one per user; owns the user's exchange clients and supervises its engines.

It starts an engine for each of the user's strategies that runs, passes commands on to them and
stops them. Supervision (`actors.user_supervision`) is one_for_one with `RestartPolicy`: a
crashed engine is restarted after a jittered backoff through the same start path; past the limit
it is persisted FAULTED with its error and its siblings carry on. An engine that stops answering
pings is fenced (it may never act again), abandoned and replaced. A strategy that finished or was
stopped is not restarted. Rejected keys stop that account's strategies with the error; nothing
else is touched. A replaced key is swapped in under the running engines (`actors.user_accounts`);
strategies created while the service runs arrive with their first command
(`DesiredChanged.spec`). Whenever nothing of the user runs any more it tells the root
(`UserWentIdle`), which stops a deleted user's actor then.
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pykka
import structlog

from actors.admission import BootGate, Liveness
from actors.boot_loads import SiblingLoads
from actors.engine import RESUBMIT_GRACE_S
from actors.engine_actor import EngineActor
from actors.engine_waits import retry_delay
from actors.feed import PriceBoard
from actors.feed_link import FeedLink
from actors.leases import LeaseKeeper
from actors.messages import (
    CheckHeartbeats,
    ChildFailed,
    CredentialsChanged,
    CredentialsRejected,
    DesiredChanged,
    EngineFinished,
    EngineSpec,
    MarketHealthChanged,
    Pause,
    RestartChild,
    Resume,
    SignalArrived,
    StartConditionChanged,
    Stop,
    UserWentIdle,
)
from actors.notify_queue import Notifications
from actors.pool import ActorPool
from actors.reconcile import (
    RECONCILE_INTERVAL_S,
    AccountReconciler,
    AnswersOverdue,
    BalancesFetched,
    OpenOrdersFetched,
    Reconciled,
    ReconcileDue,
)
from actors.repository import RepoClient
from actors.spawning import SupervisedActor
from actors.supervision import RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from actors.user_accounts import AccountClients
from actors.user_supervision import MAX_KNOWN_WAIT, EngineChild, EngineSupervisor
from domain.errors import DatabaseUnavailable, MartingaleError, TemporaryError
from domain.events import StopMode
from domain.notifications import Notify, NotifyEvent
from domain.venues import PAPER_VENUE
from exchange.port import Exchange
from persistence.records import ActualState, DesiredState

log = structlog.get_logger(__name__)

# The messages after which nothing of the user may run any more (see `_report_idle`).
_ENDINGS = (EngineFinished, DesiredChanged, ChildFailed, CredentialsRejected, RestartChild)


class UserActor(SupervisedActor):
    def __init__(
        self,
        *,
        user_id: int,
        specs: list[EngineSpec],
        exchange_for: Callable[[int], Exchange],
        feed_for: Callable[[str, str], FeedLink | None],
        repo: RepoClient,
        parent: pykka.ActorRef[Any] | None,
        timers: TimerService,
        prices: PriceBoard,
        policy: RestartPolicy,
        heartbeat_interval: float = 10.0,
        stopping: threading.Event | None = None,
        gate: BootGate | None = None,
        max_known_wait: float = MAX_KNOWN_WAIT,
        pool: Executor | None = None,
        reconcile_interval: float = RECONCILE_INTERVAL_S,
        telemetry: Telemetry | None = None,
        notifications: Notifications | None = None,
        leases: LeaseKeeper | None = None,
        engine_pool: ActorPool | None = None,
    ) -> None:
        """`engine_pool`: the workers the engines run on (None: a thread per engine, each
        admitted to its start path by `gate`)."""
        super().__init__()
        self._engine_pool = engine_pool
        # With several processes on the database: does this process surely still hold the
        # user's lease? Engines ask before every exchange call.
        self._lease_ok = functools.partial(leases.valid, user_id) if leases is not None else None
        self._telemetry = telemetry or Telemetry()  # the root's; a private one in tests
        self._notifications = notifications  # the user's notifications' inbox, if any
        self._reconciler = AccountReconciler(
            owner=self.actor_ref,
            timers=timers,
            pool=pool,
            interval=reconcile_interval,
            rng=random.Random(user_id),
        )
        self._stopping = stopping or threading.Event()
        self._gate = gate
        self.user_id = user_id
        self._specs = specs
        self._loads: SiblingLoads | None = None  # the first starts' shared read (on_start)
        self._feed_for = feed_for
        self._repo = repo
        self._parent = parent
        self._timers = timers
        self._prices = prices
        self._children: dict[int, EngineChild] = {}
        self._commands = 0  # DesiredChanged handled (UserWentIdle)
        self._rng = random.Random(user_id)
        self._clients = AccountClients(
            exchange_for, owner=self.actor_ref, timers=timers, rng=self._rng, user_id=user_id
        )
        self._log = log.bind(user=user_id)
        self._supervision = EngineSupervisor(
            self._children,
            owner=self.actor_ref,
            repo=repo,
            timers=timers,
            policy=policy,
            rng=self._rng,
            telemetry=self._telemetry,
            gate=gate,
            heartbeat_interval=heartbeat_interval,
            max_known_wait=max_known_wait,
            log=self._log,
            notifications=notifications,
            user_id=user_id,
        )

    # --- lifecycle -----------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            # Booting now: the engines neither paused nor stopped read their states together.
            booting = [
                s.strategy_id
                for s in self._specs
                if _runs(s) and s.desired is not DesiredState.PAUSED
            ]
            self._loads = SiblingLoads(self._repo, booting)
            for spec in self._specs:
                self._add(spec)
            self._supervision.arm_heartbeat()
            self._report_idle()
        except Exception as exc:
            # pykka calls neither on_failure nor on_stop after a failed on_start: stop the
            # engines started so far here, or the restart would run a second one each.
            self._stop_children()
            if self._parent is not None:
                self._parent.tell(
                    ChildFailed(child_id=self.user_id, incarnation=-1, error=str(exc))
                )
            raise

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self._stop_children()
        if self._parent is not None:
            self._parent.tell(
                ChildFailed(child_id=self.user_id, incarnation=-1, error=str(exc_value))
            )

    def on_stop(self) -> None:
        self._stop_children()
        self._telemetry.breakers.untrack(self._clients.account_ids())
        self._clients.close()

    def engine_refs(self) -> dict[int, pykka.ActorRef[Any]]:
        return {sid: c.ref for sid, c in self._children.items() if c.ref is not None}

    # --- messages ------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildFailed):
            self._supervision.failed(message)
        elif isinstance(message, RestartChild):
            child = self._children.get(message.child_id)
            if child is not None and child.ref is None and not child.done:
                self._spawn(child)
        elif isinstance(message, EngineFinished):
            child = self._children.get(message.strategy_id)
            if child is not None:
                child.done = True
                self._retire(child)
        elif isinstance(message, CredentialsRejected):
            self._credentials_rejected(message)
        elif isinstance(message, CredentialsChanged):
            self._clients.credentials_changed(message)
        elif isinstance(message, CheckHeartbeats):
            self._supervision.check_heartbeats()
        elif isinstance(message, DesiredChanged):
            self._desired_changed(message)
        elif isinstance(message, (SignalArrived, StartConditionChanged)):
            child = self._children.get(message.strategy_id)
            if child is not None and child.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    # Not running here: a signal is told again at a later poll, and a start
                    # reads the row's start condition.
                    child.ref.tell(message)
        elif isinstance(message, ReconcileDue):
            account = message.account_id
            symbols = {sym for sym, _ in self._engines_of(account).values()}
            self._reconciler.due(account, self._clients.get(account), symbols)
        elif isinstance(message, OpenOrdersFetched):
            self._reconciler.open_orders(message, self._engines_of)
        elif isinstance(message, Reconciled):
            self._reconciler.answered(message, self._clients.get(message.account_id))
        elif isinstance(message, AnswersOverdue):
            self._reconciler.overdue(message, self._clients.get(message.account_id))
        elif isinstance(message, BalancesFetched):
            self._reconciler.balances(message, self._engines_of)
        elif isinstance(message, MarketHealthChanged):
            market = (message.venue, message.symbol)
            for child in self._children.values():
                if child.ref is not None and (child.spec.venue, child.spec.symbol) == market:
                    with contextlib.suppress(pykka.ActorDeadError):
                        child.ref.tell(message)
        if isinstance(message, _ENDINGS):
            self._report_idle()
        return None

    def _report_idle(self) -> None:
        """Tell the root when nothing of the user runs: every engine finished, stopped for
        good or faulted, and none waiting to start or restart."""
        if self._parent is not None and all(c.done for c in self._children.values()):
            self._parent.tell(UserWentIdle(user_id=self.user_id, commands=self._commands))

    def _engines_of(self, account_id: int) -> dict[int, tuple[str, pykka.ActorRef[Any]]]:
        """The account's engines that are running (for the periodic reconciliation)."""
        return {
            sid: (child.spec.symbol, child.ref)
            for sid, child in self._children.items()
            if child.spec.account_id == account_id and child.ref is not None and not child.done
        }

    def _credentials_rejected(self, message: CredentialsRejected) -> None:
        error = (
            f"the exchange rejected the API key of account {message.account_id}: {message.error}"
        )
        stopped = 0
        for child in self._children.values():
            if child.spec.account_id != message.account_id or child.done:
                continue
            child.done = True
            stopped += 1
            self._retire(child)
            self._supervision.record(child.spec.strategy_id, ActualState.STOPPED, error)
            with contextlib.suppress(DatabaseUnavailable):
                self._repo.call(
                    "set_desired_state", child.spec.strategy_id, DesiredState.STOPPED, now=_now()
                )
        inbox = self._notifications
        if stopped and inbox is not None and inbox.wants(self.user_id, NotifyEvent.KEY_REJECTED):
            inbox.tell(
                Notify(
                    user_id=self.user_id,
                    event=NotifyEvent.KEY_REJECTED,
                    at=_now(),
                    strategy_id=message.strategy_id,
                    detail=f"account {message.account_id}: {message.error}",
                )
            )
        self._clients.drop(message.account_id)  # a resume builds a client on the key stored then
        self._telemetry.breakers.untrack([message.account_id])

    def _desired_changed(self, message: DesiredChanged) -> None:
        self._commands += 1
        child = self._children.get(message.strategy_id)
        if child is None:
            if message.spec is not None:  # new, or left out at start: runs from now on
                self._add(message.spec)
            return
        desired = DesiredState(message.desired)
        child.spec = replace(child.spec, desired=desired, stop_mode=message.stop_mode)
        if desired is DesiredState.RUNNING:
            child.done = False
            if child.ref is None:
                child.history.reset()
                self._spawn(child)
            else:
                child.ref.tell(Resume())
        elif child.ref is None:
            return
        elif desired is DesiredState.PAUSED:
            child.ref.tell(Pause())
        elif desired is DesiredState.STOPPED:
            child.ref.tell(Stop(mode=message.stop_mode or StopMode.FINISH_CYCLE))

    # --- helpers -------------------------------------------------------------------------

    def _add(self, spec: EngineSpec) -> None:
        """Know the strategy; run its engine unless it is stopped (a paused engine is started
        paused: it places nothing until resumed)."""
        child = self._children[spec.strategy_id] = EngineChild(spec=spec)
        if _runs(spec):
            self._spawn(child)

    def _spawn(self, child: EngineChild) -> None:
        """Start the engine. A temporary failure (the database or the venue briefly away while
        the client is built) is retried like any other start; a strategy whose client cannot be
        built at all is FAULTED alone; an engine whose thread cannot start (the process's
        thread or pids limit) fails alone, through the restart policy."""
        sid = child.spec.strategy_id
        try:
            client = self._clients.client(child.spec.account_id)
        except TemporaryError as exc:
            child.spawn_failures += 1
            delay = retry_delay(exc, child.spawn_failures, base=1.0, cap=60.0, rng=self._rng)
            self._log.warning(
                "user: cannot start engine yet; retrying", strategy=sid, error=str(exc)
            )
            self._supervision.record(sid, ActualState.DEGRADED, f"cannot start yet: {exc}")
            self._timers.tell_later(delay, self.actor_ref, RestartChild(child_id=sid))
            return
        except MartingaleError as exc:
            child.done = True
            self._log.error("user: cannot start engine", strategy=sid, error=str(exc))
            self._supervision.record(sid, ActualState.FAULTED, str(exc))
            return
        child.spawn_failures = 0
        self._telemetry.breakers.track(child.spec.venue, child.spec.account_id, client)
        child.fence = threading.Event()
        child.liveness = Liveness()
        child.incarnation += 1
        child.dead_checks = 0
        try:
            child.ref = self._start_engine(child, client)
            self._reconciler.arm(child.spec.account_id)
        except Exception as exc:  # e.g. RuntimeError: can't start new thread
            error = (
                f"could not start the engine's thread: {exc} (is the process at its thread or "
                "pids limit? see TasksMax / ulimit -u)"
            )
            self._log.error("user: engine did not start", strategy=sid, error=error)
            self._supervision.failed(
                ChildFailed(child_id=sid, incarnation=child.incarnation, error=error)
            )

    def _start_engine(self, child: EngineChild, client: Exchange) -> pykka.ActorRef[Any]:
        spec = child.spec
        return EngineActor.start(
            strategy_id=spec.strategy_id,
            user_id=self.user_id,
            account_id=spec.account_id,
            symbol=spec.symbol,
            exchange=client,
            repo=self._repo,
            parent=self.actor_ref,
            venue=spec.venue,
            feed=self._feed_for(spec.venue, spec.symbol),
            timers=self._timers,
            prices=self._prices,
            fence=child.fence,
            stopping=self._stopping,
            incarnation=child.incarnation,
            paused=spec.desired is DesiredState.PAUSED,
            stop_mode=spec.stop_mode if spec.desired is DesiredState.STOPPED else None,
            # the paper venue answers at once; a live venue may list an order seconds late
            resubmit_grace=0.0 if spec.venue == PAPER_VENUE else RESUBMIT_GRACE_S,
            gate=None if self._engine_pool is not None else self._gate,
            pool=self._engine_pool,
            liveness=child.liveness,
            sends=child.sends,
            telemetry=self._telemetry,
            notifications=self._notifications,
            lease_ok=self._lease_ok,
            loads=self._loads,
        )

    def _retire(self, child: EngineChild) -> None:
        if child.ref is not None:
            child.ref.stop(block=False)
            child.ref = None

    def _stop_children(self) -> None:
        futures = []
        for child in self._children.values():
            wait = child.liveness.waiting_on()
            if wait is not None and wait[0] == "boot slot":
                child.fence.set()  # not booted yet, so nothing half-done: let it leave the gate
        if self._gate is not None:
            self._gate.wake_all()
        for child in reversed(list(self._children.values())):
            if child.ref is not None:
                futures.append(child.ref.stop(block=False))
                child.ref = None
        for future in futures:
            try:
                future.get(timeout=30)
            except pykka.Timeout:
                self._log.error("user: an engine did not stop in time")


def _now() -> datetime:
    return datetime.now(UTC)


def _runs(spec: EngineSpec) -> bool:
    """Whether the strategy's engine runs: all but a stopped one (unless its stop is to be
    finished); a paused engine runs, placing nothing until resumed."""
    return spec.desired is not DesiredState.STOPPED or spec.stop_mode is not None
