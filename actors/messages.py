"""Messages between actors: frozen dataclasses (pykka does not copy messages).

Commands are imperative (`Boot`, `RestartEngine`); events are past tense (`ChildFailed`).
Parents may ask children; children only tell parents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.events import StopMode
from persistence.records import DesiredState

# --- to an engine ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Boot:
    """Load, reconcile, act: the one start path (cold start, restart, resume, retry)."""

    reason: str = "start"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wake:
    """A timer fired: `what` is "cooldown", "start" (a candle closed: look at the start
    condition) or "retry". `counted`: a market's alarm (see
    `FeedLink.set_alarm`), which the engine settles with the market once handled."""

    what: str
    counted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceCrossed:
    """The price reached one of the levels the engine watches; low/high bound the move."""

    price: Decimal
    low: Decimal
    high: Decimal
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalArrived:
    """A webhook signal the web recorded (a `signals` row not yet consumed), on its way from
    the root's poll through the user actor to the strategy's engine (`actors.signal_inbox`)."""

    strategy_id: int
    signal_id: int
    signal_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StartConditionChanged:
    """The stored start condition of a strategy changed (the API, a config sync), seen by the
    root's poll (`actors.root_poll`), on its way through the user actor to the engine: a
    waiting engine takes it at once (`actors.engine_start.StartWaits.start_changed`)."""

    strategy_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    mode: StopMode


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketHealthChanged:
    """The price feed of (venue, symbol) went down (`error`: why) or recovered (None).

    Root -> users -> the engines on that market; an engine shows it as DEGRADED / RUNNING.
    """

    venue: str
    symbol: str
    error: str | None


# --- to a user actor -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSpec:
    """What a user actor needs to run one strategy's engine (built by the root)."""

    strategy_id: int
    account_id: int
    venue: str  # the account's venue key (domain.venues): its market is (venue, symbol)
    symbol: str
    desired: DesiredState = DesiredState.RUNNING
    stop_mode: StopMode | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildFailed:
    """A child died (tell handler raised, or on_start failed)."""

    child_id: int
    incarnation: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineFinished:
    strategy_id: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsRejected:
    strategy_id: int
    account_id: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartChild:
    child_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckHeartbeats:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredChanged:
    """The database holds a new command for a strategy: a desired state, a stop mode, or the
    same again (a resume of a finished strategy already wanted running).

    `spec`: how to run it, for a strategy the user actor may not know yet (created while the
    service runs, or left out at start as stopped, finished or faulted); None when the
    strategy is not to run (stopped, or still finished or faulted).
    """

    strategy_id: int
    desired: str
    stop_mode: StopMode | None = None
    spec: EngineSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsChanged:
    """The account's stored API key was replaced: swap in a client built on it."""

    account_id: int
    attempt: int = 0  # clients that could not be built yet (backoff)


# --- to a feed actor -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pump:
    """Publish the next tick of the feed's source."""


# --- to the root -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PollDesired:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class UserWentIdle:
    """Nothing of the user runs any more (every engine finished, stopped or faulted), with
    `commands` DesiredChanged handled by this actor: the root stops a deleted user's actor
    once it has handled every command the root sent it (`actors.root_deleted`)."""

    user_id: int
    commands: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedFailed:
    """A feed actor died (a bug in the feed itself: its source's errors never kill it)."""

    venue: str
    symbol: str
    incarnation: int
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedHealth:
    """A feed's prices stopped (`error`: why) or flow again (`error` None)."""

    venue: str
    symbol: str
    incarnation: int
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartFeed:
    venue: str
    symbol: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckTree:
    """Asked (with a timeout) by the health check: the root answers with a `TreeHealth`. An
    answer at all proves the root's thread is not stuck."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeHealth:
    """The root's view of its children. `users_expected`: users it supervises;
    `users_alive`: those with a live actor now; `users_given_up`: past the restart limit (their
    strategies are FAULTED until a restart of the service)."""

    users_expected: int
    users_alive: int
    users_given_up: int
    repository_alive: bool
    stopping: bool


# --- leases (several service processes on one database) -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersClaimed:
    """The lease keeper claimed these users: start their actors (the normal start path)."""

    user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersLost:
    """These users' leases are gone (expired, or claimed by another process): stop their
    actors now; the database refuses their writes already."""

    user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShedUsers:
    """Hand these users to other processes: stop their actors gracefully, then release the
    leases (`LeaseKeeper.release_when_stopped`)."""

    user_ids: tuple[int, ...]
