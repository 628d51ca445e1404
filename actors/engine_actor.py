"""EngineActor: the thin pykka shell around `actors.engine.Engine` (no trading logic here).

Error policy, the one place it is decided for an engine:
- `DatabaseUnavailable`: nothing was committed, so nothing is sent; retry the start path later
  (fail closed).
- Any other `TemporaryError` (exchange down, rate limited, unknown outcome): DEGRADED, retry the
  start path after the wait the venue asked for (Retry-After, an open circuit's next probe),
  else with backoff; never a crash loop.
- `AuthenticationFailed`: the parent is told; it stops every strategy on that account.
- Anything else is a bug or a fatal state: the actor dies, `on_failure` tells the parent, and the
  parent's restart policy decides (crash-only: the restart is the same start path).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pykka
import structlog

from actors import metrics
from actors.admission import BootGate, Liveness
from actors.boot_loads import SiblingLoads
from actors.engine import Engine
from actors.engine_market import MarketSide
from actors.engine_reports import EngineReports
from actors.engine_waits import WatchedExchange, WatchedStore, describe, retry_delay
from actors.feed import PriceBoard
from actors.feed_link import FeedLink
from actors.messages import (
    Boot,
    ChildFailed,
    CredentialsRejected,
    EngineFinished,
    MarketHealthChanged,
    Pause,
    PriceCrossed,
    Resume,
    SignalArrived,
    StartConditionChanged,
    Stop,
    Wake,
)
from actors.notify_queue import Notifications
from actors.pool import ActorPool, PooledActor
from actors.reconcile import Holdings, Reconcile, Reconciled
from actors.repository import RepoClient
from actors.sends import SendLog
from actors.telemetry import Telemetry
from actors.timers import TimerService
from domain.errors import (
    AuthenticationFailed,
    DatabaseUnavailable,
    LeaseLost,
    TemporaryError,
)
from domain.events import StopRequested
from exchange.port import Exchange
from persistence.records import ActualState

log = structlog.get_logger(__name__)

RETRY_BASE = 1.0
RETRY_CAP = 60.0


class Fenced(Exception):
    """This engine instance was replaced (its parent gave up waiting for it); it must not act."""


class EngineActor(MarketSide, EngineReports, PooledActor):
    def __init__(
        self,
        *,
        strategy_id: int,
        user_id: int,
        account_id: int,
        symbol: str,
        venue: str,
        exchange: Exchange,
        repo: RepoClient,
        parent: pykka.ActorRef[Any],
        feed: FeedLink | None,
        timers: TimerService,
        prices: PriceBoard,
        fence: threading.Event,
        stopping: threading.Event | None = None,
        incarnation: int = 0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        paused: bool = False,
        stop_mode: Any = None,
        resubmit_grace: float = 60.0,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        gate: BootGate | None = None,
        liveness: Liveness | None = None,
        sends: SendLog | None = None,
        telemetry: Telemetry | None = None,
        notifications: Notifications | None = None,
        lease_ok: Callable[[], bool] | None = None,
        pool: ActorPool | None = None,
        loads: SiblingLoads | None = None,
    ) -> None:
        """`venue`: the account's venue key (domain.venues); prices are read for (venue,
        symbol). `feed`: the handle on that market's feed (levels, market clock, health).
        `telemetry`: the service's counts (orders, fills, errors, tick-to-order).
        `notifications`: the user's notifications' inbox (None: none are sent).
        `lease_ok()`: with several service processes on the database, whether this one surely
        still holds the user's lease (None: the single-process mode). `pool`: the workers
        that run this engine's messages, with its user's other engines in one lane (None: a
        thread of its own); a pooled engine takes no `gate`, the pool admits its boots.
        `loads`: the states read for the user's engines at once (`actors.boot_loads`)."""
        super().__init__()
        self.use_pool(pool, lane=user_id)
        self._telemetry = telemetry or Telemetry()
        self._gate = gate
        self.liveness = liveness or Liveness()
        self.strategy_id = strategy_id
        self.user_id = user_id
        self.account_id = account_id
        self.symbol = symbol
        self.venue = venue
        self._exchange = exchange
        self._repo = repo
        self._parent = parent
        self._feed = feed
        self._timers = timers
        self._start_timer = None
        self._prices = prices
        self._fence = fence
        self._lease_ok = lease_ok
        self._stopping = stopping or threading.Event()
        self.incarnation = incarnation
        self._clock = clock
        self._paused = paused
        self._pending_stop = stop_mode
        self._ready = False
        self._failures = 0
        self._actual: ActualState | None = None
        self._holdings: str | None = None  # the account's holdings fall short (reconcile)
        self._resume_after_stop = False
        self._last_watch: tuple[Decimal | None, Decimal | None] | None = None
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._rng = random.Random(strategy_id)
        self._log = log.bind(user=user_id, strategy=strategy_id, symbol=symbol)
        self.engine = Engine(
            strategy_id=strategy_id,
            exchange=cast(
                Exchange,
                WatchedExchange(exchange, self.liveness, telemetry=self._telemetry, venue=venue),
            ),
            store=WatchedStore(
                repo, self.liveness, telemetry=self._telemetry, venue=venue, loads=loads
            ),
            host=self,
            clock=clock,
            price=self._current_price,
            resubmit_grace=resubmit_grace,
            sends=sends,
            waiting=self.liveness.waiting,
            market_clock=self._market_now,
        )
        self._notifications = notifications
        if notifications is not None:
            self.engine.notice = self._notice

    # --- pykka hooks ---------------------------------------------------------------------

    @property
    def pool_heavy(self) -> bool:
        return not self._ready  # its next turn runs the start path (actors.pool)

    def on_start(self) -> None:
        self.actor_ref.tell(Boot(reason="start"))

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self._parent.tell(  # first: nothing below may keep the parent from hearing of it
            ChildFailed(
                child_id=self.strategy_id, incarnation=self.incarnation, error=describe(exc_value)
            )
        )
        self._telemetry.error("engine", exc_value)
        self._unwatch()

    def on_stop(self) -> None:
        self._unwatch()

    def on_receive(self, message: Any) -> Any:
        try:
            if self._fence.is_set() or self._stopping.is_set():
                return None
            with self.liveness.busy():
                self._handle(message)
            return None
        finally:
            if isinstance(message, PriceCrossed):
                metrics.AWAKE.done()
            if self._feed is not None and (
                isinstance(message, PriceCrossed) or (isinstance(message, Wake) and message.counted)
            ):
                self._feed.settle()  # a lockstep replay waits for every wake-up it told

    def _handle(self, message: Any) -> None:
        try:
            self._dispatch(message)
        except Fenced as exc:
            # Replaced, or the service is stopping: what was committed but not sent stays
            # PENDING_SUBMIT, and the next start resolves it by client order id.
            self._ready = False
            self._log.info("engine: not acting any more", reason=str(exc))
        except DatabaseUnavailable as exc:
            self._ready = False
            self._telemetry.error("engine", exc)
            self._log.warning(
                "engine: database unavailable; no orders until it is back", error=str(exc)
            )
            self._retry_later()
        except AuthenticationFailed as exc:
            self._ready = False
            self._telemetry.error("engine", exc)
            self._unwatch()
            self._parent.tell(
                CredentialsRejected(
                    strategy_id=self.strategy_id, account_id=self.account_id, error=str(exc)
                )
            )
        except TemporaryError as exc:
            self._ready = False
            self._telemetry.error("engine", exc)
            self._set_actual(ActualState.DEGRADED, describe(exc))
            self._log.warning("engine: degraded", error=describe(exc))
            self._retry_later(exc)

    # --- messages ------------------------------------------------------------------------

    def _dispatch(self, message: Any) -> None:
        if isinstance(message, Boot) or (isinstance(message, Wake) and message.what == "retry"):
            if self.engine.finished and self._ready:
                return  # a finished strategy starts again only on an explicit resume
            self._boot()
        elif isinstance(message, Pause):
            self._paused = True
            self._ready = False
            self._unwatch()
            self._set_actual(ActualState.PAUSED, None)
        elif isinstance(message, Resume):
            self._paused = False
            if self._pending_stop is not None:
                # A stop asked earlier is revoked: a cycle being closed by stop-now or
                # close-now ends as asked, then a fresh one starts (see `_after_step`).
                self._pending_stop = None
                self._resume_after_stop = True
            self._boot()
        elif isinstance(message, Stop):
            self._pending_stop = message.mode
            self._paused = False  # stop-now / close-now must act on a paused strategy too
            if self._ready:
                self.engine.request_stop(StopRequested(at=self._market_now(), mode=message.mode))
                self._after_step()
            else:
                self._boot()
        elif isinstance(message, Reconcile):
            self._reconcile(message)
        elif isinstance(message, Holdings):
            self._on_holdings(message.problem)
        elif isinstance(message, MarketHealthChanged):
            self._show_health()
        elif not self._ready:
            return  # ticks and timers are ignored until the start path succeeds
        elif isinstance(message, PriceCrossed):
            self._last_watch = None  # the feed dropped our levels when it woke us: re-send them
            self.engine.ordered_at = None
            self.engine.on_range(message.low, message.high, self._market_now(), message.price)
            metrics.tick_handled(
                message.at, self.engine.ordered_at, also=self._telemetry.tick_to_order
            )
            self._after_step()
        elif isinstance(message, Wake) and message.what == "cooldown":
            self.engine.on_cooldown()
            self._after_step()
        elif isinstance(message, Wake) and message.what == "sync":
            self.engine.sync()
            self._after_step()
        elif isinstance(message, Wake) and message.what == "start":
            self.engine.on_start_check()
            self._after_step()
        elif isinstance(message, SignalArrived):
            self._signal(message)
        elif isinstance(message, StartConditionChanged):
            self.engine.start_changed()
            self._after_step()

    def _signal(self, message: SignalArrived) -> None:
        """A webhook signal (`actors.signal_inbox`): delivered, the step committed, then the
        row marked consumed; a paused engine leaves it for a later poll."""
        if self._paused:
            return
        started = self.engine.deliver_signal(message.signal_at)
        self._repo.call("consume_signal", message.signal_id, self._clock())
        self._log.info("engine: signal", signal=message.signal_id, started=started)
        self._after_step()

    def _reconcile(self, message: Reconcile) -> None:
        """The account's periodic pass (actors.reconcile): sync against its open orders, then
        answer with the position, whatever happens (an unknown position skips the check)."""
        synced = False
        try:
            if self._ready and not self._paused and not self.engine.finished:
                self.engine.sync(open_orders=message.open_orders, as_of=message.fetched_at)
                self._after_step()
                synced = not self.engine.finished
        finally:
            state = self.engine.state
            self._parent.tell(
                Reconciled(
                    strategy_id=self.strategy_id,
                    account_id=self.account_id,
                    pass_id=message.pass_id,
                    currency=state.rules.base if state is not None else "",
                    position=state.book.position if synced and state is not None else None,
                    step=state.rules.step_size if state is not None else Decimal(0),
                )
            )

    def _on_holdings(self, problem: str | None) -> None:
        if problem == self._holdings:
            return
        self._holdings = problem
        if problem is not None:
            self._log.warning("engine: holdings short", problem=problem)
        self._show_health()

    def _boot(self) -> None:
        if self._paused:
            self._set_actual(ActualState.PAUSED, None)
            return
        if self._feed is not None:
            self._feed.hold()  # a lockstep replay waits for a starting engine too
        try:
            if self._gate is None:
                self._start_engine()
                return
            with self._gate.admit(self._cancelled, liveness=self.liveness) as admitted:
                if not admitted:
                    raise Fenced("replaced or stopping while waiting for a boot slot")
                self._start_engine()
        finally:
            if self._feed is not None:
                self._feed.settle()

    def _cancelled(self) -> bool:
        return self._fence.is_set() or self._stopping.is_set()

    def _start_engine(self) -> None:
        self._last_watch = None
        mode = self._pending_stop
        self.engine.start(None if mode is None else StopRequested(at=self._market_now(), mode=mode))
        self._ready = True
        self._failures = 0
        # Alive and trading from now: its first beat need not wait for the user's next check
        # (the heartbeat interval), which would make a restart or a failover look that late.
        self._repo.tell_heartbeats({self.strategy_id: self._clock()})
        self._after_step()
        self._show_health()

    def _after_step(self) -> None:
        if self.engine.finished and self._resume_after_stop:
            self._resume_after_stop = False
            self._boot()  # finished by the stop a resume revoked: the start path goes on
            return
        if self.engine.finished:
            self._unwatch()
            state = self.engine.state
            reason = state.finished_reason if state is not None else None
            self._set_actual(
                ActualState.STOPPED if self._pending_stop else ActualState.FINISHED, None
            )
            self._parent.tell(
                EngineFinished(strategy_id=self.strategy_id, reason=reason or "finished")
            )
        elif self._ready and (self._actual is ActualState.WAITING) != (
            self.engine.waiting is not None
        ):
            self._show_health()  # into or out of WAITING

    def _retry_later(self, exc: BaseException | None = None) -> None:
        self._failures += 1
        delay = retry_delay(
            exc, self._failures, base=self._retry_base, cap=self._retry_cap, rng=self._rng
        )
        self._timers.tell_later(delay, self.actor_ref, Wake(what="retry"))

    # --- Host protocol (called by the Engine) --------------------------------------------

    def guard(self, *, exchange: bool = True) -> None:
        if self._fence.is_set():
            raise Fenced(f"engine {self.strategy_id} was replaced")
        if exchange and self._stopping.is_set():
            raise Fenced("the service is stopping")
        if exchange and self._lease_ok is not None and not self._lease_ok():
            # Temporary: the start path runs again later, if this process still holds the
            # user then (a renewal late but in time); else the root stops this engine.
            raise LeaseLost(
                f"strategy {self.strategy_id}: this process's lease of its user ran out"
            )
