"""The composition root: builds every part from a validated config and runs the actor tree.

Start order (Mopidy's server.py habit): repository, feeds, users and their engines, all under
the RootSupervisor; shutdown in reverse inside `finally`, then the timer thread, the paper venue
and the database engine. Any actor still alive after shutdown is reported: it is a bug.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import pykka
import structlog

from actors.feed import PriceBoard
from actors.notifier import Notifier, NotifierSettings
from actors.retention import FIRST_AFTER_S, Pruning
from actors.root import FeedSpec, RootSupervisor
from actors.supervision import RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from app.exchanges import PAPER, account_exchanges, paper_account_key
from app.leases import Leases, idle_timeout, shares_database
from app.notifier import build_notifier
from app.paper_accounts import open_paper_account
from app.paper_markets import (
    bind_live,
    check_served_markets,
    open_config_accounts,
    open_paper_venue,
    paper_feed_specs,
    served_feed_specs,
)
from app.retention import retention_policy
from app.until_signal import run_until_signal
from config.schema import PaperAccount, ServiceConfig
from config.secrets import resolve_paper_token, resolved_url
from domain.errors import ExchangeUnavailable, ValidationError
from exchange.ccxt_adapter.adapter import CcxtExchange
from exchange.ccxt_adapter.client import CcxtConfig
from exchange.paper import PaperVenue
from exchange.paper.exchange import HostedVenue
from exchange.paper.remote import RemoteVenue
from exchange.port import Exchange
from persistence.database import make_engine
from persistence.ownership import ServiceLock
from persistence.records import AccountRecord
from persistence.sql_repository import SqlRepository
from persistence.sql_retention import SqlPruner
from persistence.vault import Vault

log = structlog.get_logger(__name__)

__all__ = ["PAPER", "LiveFeeds", "Service", "Tuning", "WebHost", "paper_account_key"]

# How long a stop waits for the actor tree (engines flush, the writer commits its last batch).
# deploy/systemd/martingale.service's TimeoutStopSec is sized from it (tests/unit/deploy).
ROOT_STOP_TIMEOUT_S = 120


class WebHost(Protocol):
    """The web part of `martingale run` (`app.web_process.make_web`): started after the actor
    tree, stopped before it."""

    @property
    def bound_port(self) -> int | None: ...
    def start(self, service: Service) -> None: ...
    def stop(self) -> None: ...


@dataclass(slots=True, kw_only=True)
class Tuning:
    """Knobs tests and benchmarks turn; the defaults are for production."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    poll_interval: float = 2.0
    heartbeat_interval: float = 10.0
    thread_stack_kib: int = 512
    live_poll_interval: float = 5.0
    boot_slots: int = 32  # engines running their start path at once (actors.admission)
    # The engines' messages run on this many shared threads (actors.pool), at most
    # `engine_threads_per_user` of them for one user at once. 0: a thread per engine, which
    # does not hold thousands of engines on a few cores (bench/bench_service.py).
    engine_threads: int = 64
    engine_threads_per_user: int = 4
    # The interpreter's thread switch interval. CPython's 5 ms default makes a thread that
    # returns from I/O (the writer after each SQL statement, an engine after an exchange call)
    # wait up to 5 ms for the GIL whenever another thread is busy: with thousands of actor
    # threads that convoy, not the work, sets the writer's pace. Too short costs as much: at
    # 0.5 ms a restart of 5,000 strategies spent a third more CPU on forced GIL hand-offs and
    # took 80 s instead of 54 s (bench_service.py; tick-to-order p99 within run-to-run noise).
    switch_interval: float = 0.002
    freeze_after_boot: bool = True  # gc.freeze() once the fleet has booted (actors.root)
    # gc.set_threshold for the service (CPython's default: 700, 10, 10); None leaves it as is.
    gc_thresholds: tuple[int, int, int] | None = None
    # Every account's open orders and balances are checked this often, whatever the ticks say
    # (actors.reconcile): the bound on how long a fill can go unapplied. 0 turns it off.
    reconcile_interval: float = 60.0
    # The first retention prune runs this long after the start (then every
    # `retention.interval_minutes`): not while thousands of engines are booting.
    prune_first_after: float = FIRST_AFTER_S
    # Users' notifications: workers, per-send timeout, retries, refresh of targets.
    notifier: NotifierSettings = field(default_factory=NotifierSettings)


class LiveFeeds:
    """Builds a live market's price feed for the root, from the account row of the first
    engine trading it: on the endpoint of that account's environment (the row's sandbox /
    base_url), so a testnet account never watches live prices and each environment has its own
    feed. One public client (no keys) per environment, shared by its symbols. Called on the
    root's thread only; `close()` after the root stopped."""

    def __init__(
        self, poll_interval: float, *, client: Callable[[CcxtConfig], Exchange] = CcxtExchange
    ) -> None:
        self._interval = poll_interval
        self._client = client
        self._public: dict[str, Exchange] = {}

    def __call__(self, account: AccountRecord, symbol: str) -> FeedSpec:
        venue = account.venue
        public = self._public.get(venue)
        if public is None:
            config = CcxtConfig(
                exchange_id=account.exchange, sandbox=account.sandbox, base_url=account.base_url
            )
            public = self._public[venue] = self._client(config)
        return FeedSpec(
            venue=venue, symbol=symbol, source=bind_live(public, symbol, self._interval)
        )

    def close(self) -> None:
        for client in self._public.values():
            client.close()
        self._public.clear()


class Service:
    """One running service process. `start()` then `stop()`; `run()` waits for a signal.

    `lock`: on SQLite, the one-service-per-database lock, already acquired by the caller.
    `martingale run` takes it before it syncs the config, so that a second `run` is refused
    before it writes anything; without one, `start()` takes it. Either way `stop()` releases
    it. On MySQL several processes share the database instead: each holds the leases of its
    share of the users (`app.leases`), and every write that matters checks them.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        vault: Vault | None,
        tuning: Tuning | None = None,
        lock: ServiceLock | None = None,
        web: WebHost | None = None,
    ):
        self.config = config
        self.web = web
        self.vault = vault
        self.tuning = tuning or Tuning()
        self.root: pykka.ActorRef[RootSupervisor] | None = None
        self.repo: SqlRepository | None = None  # set by start()
        # What the tree counts about itself, for /metrics and /health/ready (services.observe).
        self.telemetry = Telemetry()
        self.venue: HostedVenue | None = None
        self._paper_lock = threading.Lock()  # one API opening of a paper account at a time
        self.timers: TimerService | None = None
        self.notifier: Notifier | None = None  # users' notifications (None: no vault)
        self._engine: Any = None
        self._live_feeds = LiveFeeds(self.tuning.live_poll_interval)
        self._lock: ServiceLock | None = lock
        self.leases: Leases | None = None  # MySQL: this process's share of the users
        self._stopped = threading.Event()
        self._done = threading.Event()  # run() returns once this is set (by a signal)
        # Set first thing on SIGTERM/SIGINT or stop(): from then on no engine places or cancels
        # anything, while the tree shuts down in order behind it.
        self.stopping = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        url = resolved_url(self.config)  # the password file is read once per start
        if self._lock is None and not shares_database(url):
            lock = ServiceLock(url)
            lock.acquire()  # one service per database: refuse before touching anything
            self._lock = lock
        try:
            self._start_parts(url)
            if self.web is not None:
                self.web.start(self)
        except BaseException:
            self.stop()  # releases the lock and whatever was opened before the failure
            raise
        log.info("service started", users=len(self.config.users), markets=len(self.config.markets))

    def _start_parts(self, url: str) -> None:
        threading.stack_size(self.tuning.thread_stack_kib * 1024)
        sys.setswitchinterval(self.tuning.switch_interval)
        if self.tuning.gc_thresholds is not None:
            gc.set_threshold(*self.tuning.gc_thresholds)
        # Several processes (MySQL): a paused process's open transaction must not keep the
        # others from its users for longer than a few lease times (app.leases).
        shared = shares_database(url)
        lease_s = self.config.database.lease_seconds
        self._engine = make_engine(url, idle_timeout_s=idle_timeout(lease_s) if shared else None)
        repo = self.repo = SqlRepository(self._engine)
        self.venue = self._open_venue() if self._uses_paper() else None
        self.timers = TimerService()
        prices = PriceBoard()
        exchange_for = self.exchange_factory(repo)
        self.notifier = build_notifier(repo, self.vault, settings=self.tuning.notifier)
        if self.notifier is not None:
            self.notifier.start()
        keeper = None
        if shared:
            self.leases = Leases(url, lease_s=float(lease_s))
            keeper = self.leases.start(repo)
        self.root = RootSupervisor.start(
            repo=repo,
            feeds=self._feeds(),
            exchange_for=exchange_for,
            live_feed=self._live_feeds,
            timers=self.timers,
            prices=prices,
            policy=self.tuning.policy,
            poll_interval=self.tuning.poll_interval,
            heartbeat_interval=self.tuning.heartbeat_interval,
            stopping=self.stopping,
            boot_slots=self.tuning.boot_slots,
            engine_threads=self.tuning.engine_threads,
            engine_threads_per_user=self.tuning.engine_threads_per_user,
            freeze_after_boot=self.tuning.freeze_after_boot,
            reconcile_interval=self.tuning.reconcile_interval,
            telemetry=self.telemetry,
            pruning=self._pruning(),
            notifications=self.notifier.inbox if self.notifier is not None else None,
            leases=keeper,
        )

    def stop(self) -> None:
        self.stopping.set()
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            if self.web is not None:  # first: no request reaches services/ from here on
                self.web.stop()
            if self.root is not None:
                self.root.stop(timeout=ROOT_STOP_TIMEOUT_S)
        finally:
            if self.timers is not None:
                self.timers.stop()
            if self.leases is not None:  # after the tree: its users go to the others now
                self.leases.stop()
            if self.notifier is not None:  # after the tree: every engine could tell it
                self.notifier.stop()
            self._live_feeds.close()
            if self.venue is not None:
                with self._paper_lock:  # after an API opening under way, before any other
                    self.venue.close()
            if self._engine is not None:
                self._engine.dispose()
            alive = pykka.ActorRegistry.get_all()
            if alive:
                log.error("bug: actors alive after shutdown", count=len(alive))
                pykka.ActorRegistry.stop_all(timeout=10)
            if self._lock is not None:
                self._lock.release()
            log.info("service stopped")

    def run(self) -> int:
        """Start, wait for SIGTERM/SIGINT, then stop gracefully; returns the exit status, 0
        (a start that fails raises)."""
        run_until_signal(self.start, self.stop, self._done, on_signal=self.stopping.set)
        return 0

    # --- for the web ---------------------------------------------------------------------

    def open_paper_account(
        self, key: str, balances: Mapping[str, Decimal], fee_rate: Decimal
    ) -> None:
        """Open an account created through the API on the paper venue, while the service runs
        (`services.accounts.PaperOpener`; see `app.paper_accounts`). Safe from any thread.

        Raises ValidationError (field "exchange") when this service has no paper venue (its
        config lists no paper markets and no paper account), ExchangeUnavailable when it is not
        running (not started yet, or stopping: the venue's file is being closed)."""
        if not self._uses_paper():
            raise ValidationError(
                "this server has no paper exchange (its config file lists no paper markets), "
                "so it cannot hold a paper account",
                field="exchange",
            )
        with self._paper_lock:  # stop() closes the venue under it too
            if self.venue is None or self.stopping.is_set():
                raise ExchangeUnavailable("the service is not running: try again once it is")
            open_paper_account(self.venue, key, balances, fee_rate)

    @property
    def paper_opener(self) -> Callable[[str, Mapping[str, Decimal], Decimal], None] | None:
        """What the web hands `create_account` as `open_paper`: None when this service has no
        paper venue, so a paper account is refused before anything is written."""
        return self.open_paper_account if self._uses_paper() else None

    # --- parts ---------------------------------------------------------------------------

    def _pruning(self) -> Pruning | None:
        """The writer's periodic prune of old events and audit rows, as `retention:` says."""
        settings = self.config.retention
        policy = retention_policy(settings)
        if not settings.enabled or not policy.cutoffs(datetime.now(UTC)):
            return None
        pruner = SqlPruner(self._engine, batch_rows=policy.batch_rows)
        return Pruning(pruner, policy, first_after_s=self.tuning.prune_first_after)

    def _uses_paper(self) -> bool:
        """The config has paper markets (accounts the API creates trade on them) or a paper
        account: the venue is opened, even with no paper account yet."""
        return bool(self.config.markets) or any(
            isinstance(a, PaperAccount) for u in self.config.users for a in u.accounts
        )

    def _open_venue(self) -> HostedVenue:
        """The config's paper venue: served by another process (`paper.venue_url`), with the
        config's paper accounts opened on it and its markets checked against the config's;
        else the venue file `paper.state_file`, this process its one owner."""
        paper = self.config.paper
        if paper.venue_url is None:
            return open_paper_venue(self.config)
        token = resolve_paper_token(self.config, serving=False)
        venue = RemoteVenue(paper.venue_url, token, name=PAPER)
        try:
            venue.ping()  # unreachable or a wrong token: the start fails, naming the setting
            check_served_markets(venue, self.config)
            open_config_accounts(venue, self.config)
        except BaseException:
            venue.close()
            raise
        log.info("paper venue served at", url=paper.venue_url)
        return venue

    def _feeds(self) -> list[FeedSpec]:
        """The paper markets of the config file; live markets get theirs on demand
        (`_live_feed`), from the account rows of the engines trading them. On a served venue
        the paper markets' prices are polled from it, like a live venue's."""
        if isinstance(self.venue, PaperVenue):
            return paper_feed_specs(self.config, self.venue)
        if self.venue is not None:
            return served_feed_specs(self.config, self.venue, self.tuning.live_poll_interval)
        return []

    def exchange_factory(self, repo: SqlRepository) -> Callable[[int], Exchange]:
        """Each account's client, on the environment its database row names (sandbox /
        base_url), so the client and the account's price feed always agree."""
        return account_exchanges(repo, vault=self.vault, venue=self.venue)
