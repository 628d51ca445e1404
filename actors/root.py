"""RootSupervisor: the top of the actor tree.

Starts, in order, the RepositoryActor (first: everyone writes through it), the configured market
feeds and then one UserActor per user; stops them in reverse (users and their engines, feeds,
repository last, so everything is flushed). A live market's feed is started when the first
engine trading it is spawned (`actors.feed_pool`, `actors.root_markets`). Supervises users and
feeds one_for_one with the same RestartPolicy as users use for engines, tells users when a
market's feed goes down or recovers (`actors.root_markets`), and polls the database
(`actors.root_poll`) for what `martingale onboard`, the CLI or the REST API wrote while the
service runs (`actors.root_commands`): commands (pause, resume, stop...) reach the user actor,
with how to run a strategy it does not know yet (a new one, or one left out at start); a new
user gets its actor when it has a strategy to run; a replaced key is swapped in by the
account's user actor; a deleted user's strategies are stopped, then its actor
(`actors.root_users`).
"""

from __future__ import annotations

import contextlib
import gc
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pykka
import structlog

from actors.admission import BootGate
from actors.feed import PriceBoard
from actors.feed_pool import FeedPool, FeedSpec
from actors.leases import LeaseKeeper
from actors.messages import (
    CheckTree,
    ChildFailed,
    FeedFailed,
    FeedHealth,
    PollDesired,
    RestartChild,
    RestartFeed,
    ShedUsers,
    TreeHealth,
    UsersClaimed,
    UsersLost,
    UserWentIdle,
)
from actors.notify_queue import Notifications
from actors.pool import ActorPool
from actors.reconcile import RECONCILE_INTERVAL_S
from actors.repository import RepoClient, RepositoryActor
from actors.retention import Pruning
from actors.root_commands import CommandRouter
from actors.root_markets import LiveFeedFactory, Markets
from actors.root_poll import DatabasePoll
from actors.root_users import DeletedUsers, UserChild
from actors.step_queue import StepQueue, WriterBacklog
from actors.supervision import GiveUp, RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from actors.user import UserActor
from actors.user_supervision import MAX_KNOWN_WAIT
from domain.errors import DatabaseUnavailable
from exchange.port import Exchange
from persistence.records import ActualState
from persistence.repository import Repository

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 60.0

__all__ = ["FeedSpec", "RootSupervisor"]


class RootSupervisor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        repo: Repository,
        feeds: list[FeedSpec],
        exchange_for: Callable[[int], Exchange],
        live_feed: LiveFeedFactory | None = None,
        timers: TimerService,
        prices: PriceBoard,
        policy: RestartPolicy,
        poll_interval: float = 2.0,
        heartbeat_interval: float = 10.0,
        stopping: threading.Event | None = None,
        start_wave: int = 100,
        start_interval: float = 0.5,
        boot_slots: int = 32,
        gate: BootGate | None = None,
        freeze_after_boot: bool = False,
        max_known_wait: float = MAX_KNOWN_WAIT,
        reconcile_interval: float = RECONCILE_INTERVAL_S,
        reconcile_workers: int = 4,
        telemetry: Telemetry | None = None,
        pruning: Pruning | None = None,
        notifications: Notifications | None = None,
        leases: LeaseKeeper | None = None,
        engine_threads: int = 64,
        engine_threads_per_user: int = 4,
    ) -> None:
        """`telemetry`: where the tree counts what it does (`actors.telemetry`); the service
        reads it for `/metrics` and `/health/ready`. `pruning`: the retention prune the
        database writer runs (`actors.retention`), None for none. `leases`: this process's
        share of the users when several processes share the database (None: every user is
        this process's). `engine_threads`: the workers every engine's messages run on, at
        most `engine_threads_per_user` of them for one user's engines at once, and at most
        `boot_slots` engines in their start path (`actors.pool`); 0: a thread per engine."""
        super().__init__()
        self._leases = leases
        self.telemetry = telemetry or Telemetry()
        self._notifications = notifications  # users' notifications' inbox (actors.notifier)
        self._max_known_wait = max_known_wait
        self._reconcile_interval = reconcile_interval
        # The periodic per-account passes make their exchange calls here, never on an actor
        # thread; a few workers bound what they cost (actors.reconcile).
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, reconcile_workers), thread_name_prefix="reconcile"
        )
        self._stopping = stopping or threading.Event()
        self.gate = gate or BootGate(boot_slots)
        self.engine_pool = (
            ActorPool(
                engine_threads,
                per_lane=engine_threads_per_user,
                heavy_slots=boot_slots,
                name="engine",
            )
            if engine_threads > 0
            else None
        )
        self._freeze_after_boot = freeze_after_boot
        self._start_wave = max(1, start_wave)  # users started per wave
        self._start_interval = start_interval  # seconds between waves
        self._preloaded: dict[int, list[Any]] = {}
        self._repo_impl = repo
        self._pruning = pruning
        self._feed_specs = feeds
        self._exchange_for = exchange_for
        self._timers = timers
        self._prices = prices
        self._policy = policy
        self._poll_interval = poll_interval
        self._heartbeat_interval = heartbeat_interval
        self._rng = random.Random(0)
        self.repo_ref: pykka.ActorRef[RepositoryActor] | None = None
        self.repo: RepoClient | None = None
        self.feeds = FeedPool(timers=timers, prices=prices, policy=policy, telemetry=self.telemetry)
        self.telemetry.feeds = self.feeds
        self.users: dict[int, UserChild] = {}
        self._deleted = DeletedUsers(self.users, read=self._read, restart=self._restart_user)
        self._db = DatabasePoll()
        self._accounts = self._db.accounts  # account rows by id: venues, feeds, key changes
        self._markets = Markets(
            self.users, self._db, feeds=self.feeds, live_feed=live_feed, read=self._read, log=log
        )
        self._router = CommandRouter(
            self.users,
            db=self._db,
            deleted=self._deleted,
            markets=self._markets,
            preloaded=self._preloaded,
            read=self._read,
            restart=self._restart_user,
            log=log,
            owns=leases.holds if leases is not None else None,
        )

    # --- lifecycle -----------------------------------------------------------------------

    def on_start(self) -> None:
        steps = StepQueue()
        backlog = WriterBacklog(steps)
        self.repo_ref = RepositoryActor.start(
            self._repo_impl, self._timers, steps=steps, backlog=backlog, pruning=self._pruning
        )
        self.telemetry.backlog = backlog
        self.repo = RepoClient(self.repo_ref, reader=self._repo_impl, steps=steps)
        self.feeds.bind(self.actor_ref)
        for spec in self._feed_specs:
            self.feeds.start(spec)
        # Read everything before the first engine boots: once thousands of engines load their
        # state, each read here would queue behind theirs and users would start one by one.
        users = self._repo_impl.list_users()
        if self._leases is not None:  # only this process's share; claims come as messages
            users = [user for user in users if self._leases.holds(user.id)]
            self._leases.bind(self.actor_ref)
        for user in users:
            for account in self._repo_impl.list_accounts(user.id):
                self._accounts[account.id] = account
        started = {user.id for user in users}
        by_user: dict[int, list[Any]] = {}
        for record in self._repo_impl.list_strategies():
            if record.user_id not in started:
                # Its user committed after the read of users (the API writes while we boot):
                # left unseen, so the first poll (a full read) reports it and starts that user
                # as one created while the service runs. Seen here, it would be lost for good.
                continue
            by_user.setdefault(record.user_id, []).append(record)
            self._db.saw(record)  # the poll tells users only of commands given from now on
        # Start users in waves, so that spawning thousands of engine threads does not starve
        # the ones already trading; how many engines boot at once is the gate's business.
        self._preloaded.update(by_user)  # shared with the router: filled in place
        for index, user in enumerate(users):
            self.users[user.id] = UserChild(user_id=user.id)
            delay = (index // self._start_wave) * self._start_interval
            self._timers.tell_later(delay, self.actor_ref, RestartChild(child_id=user.id))
        self._timers.tell_later(self._poll_interval, self.actor_ref, PollDesired())

    def on_stop(self) -> None:
        self._stopping.set()
        self.gate.wake_all()  # engines still waiting to boot leave the gate
        futures = []
        for child in reversed(list(self.users.values())):
            if child.ref is not None:
                futures.append(child.ref.stop(block=False))
                child.ref = None
        _wait(futures + self._deleted.retiring, "user")
        if self.engine_pool is not None:
            self.engine_pool.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        _wait(self.feeds.stop_all(), "feed")
        if self.repo_ref is not None:
            _wait([self.repo_ref.stop(block=False)], "repository")

    def on_receive(self, message: Any) -> Any:
        # The root has no supervisor: nothing may escape from here.
        try:
            if isinstance(message, ChildFailed):
                self._user_failed(message)
            elif isinstance(message, RestartChild):
                child = self.users.get(message.child_id)
                if child is not None and child.ref is None:
                    try:
                        records = self._preloaded.pop(child.user_id, None)
                        if child.deleted:
                            records = self._deleted.stops_left(child)
                        if child.deleted and not records:
                            del self.users[child.user_id]  # nothing of it is left to stop
                        else:
                            self._spawn(child, records)
                    except DatabaseUnavailable:
                        self._timers.tell_later(self._poll_interval, self.actor_ref, message)
                    except Exception as exc:  # e.g. its thread did not start: a crash of it
                        self._user_failed(
                            ChildFailed(
                                child_id=child.user_id,
                                incarnation=-1,
                                error=f"the user actor did not start: {type(exc).__name__}: {exc}",
                            )
                        )
            elif isinstance(message, FeedFailed):
                self._markets.tell(self.feeds.failed(message))
            elif isinstance(message, FeedHealth):
                self._markets.tell(self.feeds.health(message))
            elif isinstance(message, RestartFeed):
                if not self._stopping.is_set():
                    self._markets.tell(self.feeds.restart(message))
            elif isinstance(message, UserWentIdle):
                self._deleted.idle(message)
            elif isinstance(message, UsersClaimed):
                self._claimed(message.user_ids)
            elif isinstance(message, UsersLost):
                self._let_go(message.user_ids, lost=True)
            elif isinstance(message, ShedUsers):
                self._let_go(message.user_ids, lost=False)
            elif isinstance(message, CheckTree):
                return self._tree_health()
            elif isinstance(message, PollDesired):
                try:
                    self._router.poll(utcnow())
                    self._maybe_freeze()
                finally:
                    self._timers.tell_later(self._poll_interval, self.actor_ref, PollDesired())
        except Exception:
            log.exception("root: message failed", message=type(message).__name__)
        return None

    # --- leases ----------------------------------------------------------------------------

    def _claimed(self, user_ids: tuple[int, ...]) -> None:
        """Users this process now holds: started through the normal start path (their
        strategies read from the database, reconciled, then acted on)."""
        if self._stopping.is_set():
            return
        for uid in user_ids:
            if uid not in self.users:
                self.users[uid] = UserChild(user_id=uid)
                self._restart_user(uid)

    def _let_go(self, user_ids: tuple[int, ...], *, lost: bool) -> None:
        """Stop these users' actors: lost (their writes are refused already) or shed to another
        process (the lease is released once the actor has stopped)."""
        for uid in user_ids:
            self._preloaded.pop(uid, None)
            child = self.users.pop(uid, None)
            stopped = None
            if child is not None and child.ref is not None:
                stopped = child.ref.stop(block=False)
                child.ref = None
            log.warning("root: user handed over", user=uid, lost=lost)
            if not lost and self._leases is not None:
                self._leases.release_when_stopped(uid, stopped)

    def user_refs(self) -> dict[int, pykka.ActorRef[Any]]:
        return {uid: c.ref for uid, c in self.users.items() if c.ref is not None}

    def feed_stats(self) -> dict[str, Any]:
        """Per market ("venue:symbol"): ticks, engines woken, largest burst, engines watching."""
        return self.feeds.stats()

    def _tree_health(self) -> TreeHealth:
        children = self.users.values()
        return TreeHealth(
            users_expected=len(self.users),
            users_alive=sum(c.ref is not None and c.ref.is_alive() for c in children),
            users_given_up=sum(c.given_up for c in children),
            repository_alive=self.repo_ref is not None and self.repo_ref.is_alive(),
            stopping=self._stopping.is_set(),
        )

    # --- supervision ---------------------------------------------------------------------

    def _user_failed(self, message: ChildFailed) -> None:
        child = self.users.get(message.child_id)
        if child is None:
            return
        child.ref = None
        decision = child.history.record(time.monotonic(), self._policy, self._rng)
        if isinstance(decision, GiveUp):
            child.given_up = True
            log.error(
                "root: user actor keeps crashing; giving up",
                user=child.user_id,
                error=message.error,
            )
            assert self.repo is not None
            with contextlib.suppress(DatabaseUnavailable):
                for record in self.repo.call("list_strategies", user_id=child.user_id):
                    self.repo.tell_actual_state(
                        record.id,
                        ActualState.FAULTED,
                        now=utcnow(),
                        error=f"its user actor kept crashing: {message.error}",
                    )
            return
        self.telemetry.restarts.inc("user")
        log.warning(
            "root: user actor crashed; restarting",
            user=child.user_id,
            error=message.error,
            delay=round(decision.delay, 3),
        )
        self._timers.tell_later(
            decision.delay, self.actor_ref, RestartChild(child_id=child.user_id)
        )

    def _spawn(self, child: UserChild, records: list[Any] | None = None) -> None:
        assert self.repo is not None
        if records is None:
            records = self.repo.call("list_strategies", user_id=child.user_id)
            # A restart reads the user's accounts again: an environment changed since (sandbox,
            # base_url) must give the engines the feed of the venue their client trades on.
            for account in self.repo.call("list_accounts", child.user_id):
                self._accounts[account.id] = account
        specs = self._markets.specs(records)
        child.sent = 0
        child.ref = UserActor.start(
            user_id=child.user_id,
            specs=specs,
            exchange_for=self._exchange_for,
            feed_for=self.feeds.link,
            repo=self.repo,
            parent=self.actor_ref,
            timers=self._timers,
            prices=self._prices,
            policy=self._policy,
            heartbeat_interval=self._heartbeat_interval,
            stopping=self._stopping,
            gate=self.gate,
            max_known_wait=self._max_known_wait,
            pool=self._pool,
            reconcile_interval=self._reconcile_interval,
            telemetry=self.telemetry,
            notifications=self._notifications,
            leases=self._leases,
            engine_pool=self.engine_pool,
        )

    def _maybe_freeze(self) -> None:
        """Once every user with strategies is started and every engine booted, collect once
        and freeze the heap: thousands of long-lived actors and states then leave the garbage
        collector's full passes, which otherwise stop every thread for a few hundred ms at a
        time. Done once, so at most the cyclic garbage alive at that moment is never
        reclaimed."""
        if not self._freeze_after_boot or self._preloaded or not self.gate.idle:
            return
        if self.engine_pool is not None and not self.engine_pool.heavy_idle:
            return
        self._freeze_after_boot = False
        started = time.monotonic()
        gc.collect()
        gc.freeze()
        log.info(
            "root: heap frozen after boot",
            objects=gc.get_freeze_count(),
            seconds=round(time.monotonic() - started, 3),
        )

    def _read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self.repo is not None
        return self.repo.call(method, *args, **kwargs)

    def _restart_user(self, user_id: int) -> None:
        self.actor_ref.tell(RestartChild(child_id=user_id))


def _wait(futures: list[pykka.Future[Any]], what: str) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    for future in futures:
        try:
            future.get(timeout=max(0.1, deadline - time.monotonic()))
        except pykka.Timeout:
            log.error(f"root: a {what} actor did not stop in time")


def utcnow() -> datetime:
    return datetime.now(UTC)
