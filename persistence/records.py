"""The values the repository hands out: frozen dataclasses, never ORM objects.

Orders and fills are `domain.orders.Order` / `Fill`; everything else the service reads about
users, accounts, strategies, cycles and the journal is defined here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

from domain.errors import ValidationError
from domain.events import StopMode
from domain.money import ZERO
from domain.orders import Fill, Order
from domain.venues import venue_key


class DesiredState(enum.StrEnum):
    """What the user asked for."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class ActualState(enum.StrEnum):
    """What the engine reports; FAULTED is set by the supervisor past its restart limit."""

    STARTING = "starting"
    RUNNING = "running"
    WAITING = "waiting"  # running, waiting for its start condition (strategy.start)
    PAUSED = "paused"
    STOPPED = "stopped"
    DEGRADED = "degraded"
    FAULTED = "faulted"
    FINISHED = "finished"


# What an engine last said of its strategy: state, when, and its error (None: none).
StateReport = tuple[ActualState, datetime, str | None]


class CycleStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # sold at take-profit (or exited); realized_profit is final
    ABORTED = "aborted"  # abandoned without a sale (e.g. the user stopped and flattened nothing)


ROLES = frozenset({"admin", "user"})  # admin manages users; user manages only what it owns
TOKEN_KINDS = frozenset({"api", "session"})  # API tokens; dashboard sessions


def checked_role(role: str) -> str:
    """Both repositories refuse a role nobody checks for (a typo would lock its user out)."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {sorted(ROLES)}, got {role!r}", field="role")
    return role


def checked_token_kind(kind: str) -> str:
    if kind not in TOKEN_KINDS:
        raise ValidationError(
            f"token kind must be one of {sorted(TOKEN_KINDS)}, got {kind!r}", field="kind"
        )
    return kind


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRecord:
    """A user; `has_password` says whether a password is set, never what its hash is."""

    id: int
    name: str
    created_at: datetime
    deleted_at: datetime | None = None
    email: str | None = None
    role: str = "user"
    has_password: bool = False
    # "config": a config file's sync manages it (and stops the strategies of a user the file
    # no longer names); "api": created through the REST API or `martingale users add`.
    source: str = "config"
    # Set while an admin has the user disabled (services.users.set_disabled).
    disabled_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """An API token or a dashboard session, without its secret or its hash (neither leaves the
    repository: `prefix` is what lets an owner tell tokens apart)."""

    id: int
    user_id: int
    kind: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRecord:
    """An exchange account. `has_credentials` and the fingerprint, never the key itself."""

    id: int
    user_id: int
    name: str
    exchange: str
    created_at: datetime
    credentials_fingerprint: str | None = None
    credentials_key_version: int | None = None
    credentials_created_at: datetime | None = None
    credentials_rotated_at: datetime | None = None
    sandbox: bool = False  # the exchange's test environment
    base_url: str | None = None  # an explicit API endpoint (overrides sandbox)

    @property
    def has_credentials(self) -> bool:
        return self.credentials_fingerprint is not None

    @property
    def venue(self) -> str:
        """The market this account trades on (`domain.venues.venue_key`)."""
        return venue_key(self.exchange, sandbox=self.sandbox, base_url=self.base_url)


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedCredentials:
    """What the vault produces and the repository stores: ciphertext plus metadata."""

    ciphertext: str
    key_version: int
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCredentials:
    """One stored credential row, as the master key rotation walks them."""

    account_id: int
    user_id: int
    sealed: SealedCredentials


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRecord:
    """A strategy row without its (large) snapshot; `params` is JSON-safe (decimal strings)."""

    id: int
    user_id: int
    account_id: int
    name: str
    symbol: str
    params: Mapping[str, Any]
    desired_state: DesiredState
    actual_state: ActualState
    restart_count: int
    version: int
    created_at: datetime
    updated_at: datetime
    last_error: str | None = None
    last_heartbeat: datetime | None = None
    stop_mode: StopMode | None = None  # how a STOPPED strategy stops; None: after the cycle
    # The `state:` the config file last applied (running/paused/stopped/disabled); None: the
    # strategy did not come from a file, or the file gave none. The app compares the file's
    # value with it, so a re-sync does not undo a state set since by hand.
    config_state: str | None = None
    # Bumped by every runtime command (`set_desired_state`), even one repeating the desired
    # state, so the supervisor's poll sees each command (see DesiredStateRecord).
    command_seq: int = 0
    # Soft delete (`Repository.delete_strategy`, only ever of a stopped strategy): hidden from
    # lists and from users, its orders, fills and cycles kept. Engines may still read the row.
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredStateRecord:
    """What the root supervisor polls: a strategy's wanted state, without the rest of its row."""

    strategy_id: int
    user_id: int
    desired_state: DesiredState
    stop_mode: StopMode | None = None
    # The strategy's command count: a resume of a finished strategy already wanted running
    # changes nothing else, and must still reach the running service.
    command_seq: int = 0
    # Its user was deleted: the service stops it (the delete asked for that) and runs nothing
    # of the user again.
    user_deleted: bool = False
    # The stored `start_condition` parameter as the database gives it (its one-line text; a
    # MySQL JSON path read may give it JSON-quoted): the poll compares it with the last one it
    # saw, so a waiting engine learns at once that its condition changed.
    start_condition: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleRecord:
    """One cycle of a strategy; `number` is unique per strategy and starts at 1."""

    number: int
    status: CycleStatus
    opened_at: datetime
    amount: Decimal = ZERO
    cost: Decimal = ZERO
    base_price: Decimal | None = None
    average_price: Decimal | None = None
    realized_profit: Decimal | None = None
    safety_orders_filled: int = 0
    closed_at: datetime | None = None
    # What this cycle, once closed, handed to the next one (dust, or the position a stop kept),
    # at its cost; amount/cost above stay the cycle's own figures.
    carried_amount: Decimal = ZERO
    carried_cost: Decimal = ZERO
    # What the cycle's sells received so far, net of fees paid in quote: an open cycle's result
    # at a price p is amount * p + received - cost.
    received: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """An order to record before the exchange is called (rule 3: write intent first)."""

    cycle: int
    leg: str
    order: Order


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """An event to append: any `domain.codec`-registered dataclass, stored as codec JSON."""

    strategy_id: int
    event: object
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """A stored journal row; decode `payload` with `domain.codec.loads`."""

    id: int
    strategy_id: int
    type: str
    payload: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    at: datetime
    level: str
    event: str
    message: str
    user_id: int | None = None
    strategy_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    id: int
    entry: AuditEntry


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    version: int  # the strategy's new version: pass it as expected_version next time
    new_trade_ids: tuple[str, ...]  # fills stored by this step (replays are left out)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepWrite:
    """One engine step for `Repository.save_steps`: the arguments of `save_step`, as a value."""

    strategy_id: int
    snapshot: str
    expected_version: int
    new_version: int
    now: datetime
    new_orders: tuple[OrderIntent, ...] = ()
    order_updates: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    cycle: CycleRecord | None = None
    events: tuple[object, ...] = ()
    audits: tuple[AuditEntry, ...] = ()  # audit rows committed with the step (or not at all)

    @classmethod
    def build(
        cls,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int | None = None,
        new_orders: Iterable[OrderIntent] = (),
        order_updates: Iterable[Order] = (),
        fills: Iterable[Fill] = (),
        cycle: CycleRecord | None = None,
        events: Iterable[object] = (),
        audits: Iterable[AuditEntry] = (),
    ) -> StepWrite:
        """A step from `save_step`'s arguments (the next version by default)."""
        return cls(
            strategy_id=strategy_id,
            snapshot=snapshot,
            expected_version=expected_version,
            new_version=expected_version + 1 if new_version is None else new_version,
            now=now,
            new_orders=tuple(new_orders),
            order_updates=tuple(order_updates),
            fills=tuple(fills),
            cycle=cycle,
            events=tuple(events),
            audits=tuple(audits),
        )

    def save_step_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `save_step(strategy_id, **...)` for this step."""
        return {
            "snapshot": self.snapshot,
            "expected_version": self.expected_version,
            "new_version": self.new_version,
            "now": self.now,
            "new_orders": self.new_orders,
            "order_updates": self.order_updates,
            "fills": self.fills,
            "cycle": self.cycle,
            "events": self.events,
            "audits": self.audits,
        }


# What `save_steps` answers per step: its result, or the error that refused it (a
# `MartingaleError`, or the ValueError/TypeError of a money value or timestamp that does not fit).
StepOutcome: TypeAlias = StepResult | Exception


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineState:
    """Everything an engine needs to (re)start: crash-only, same path as a cold start."""

    strategy: StrategyRecord
    snapshot: str | None
    live_orders: tuple[Order, ...]
    current_cycle: CycleRecord | None
    known_trade_ids: frozenset[str]  # fills already applied in the current cycle
    deployment_tag: str  # this database's tag ([a-z]{4}): every client order id carries it

    @property
    def version(self) -> int:
        return self.strategy.version


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyStatus:
    strategy: StrategyRecord
    cycles_completed: int
    realized_profit: Decimal
    open_orders: int
    current_cycle: int | None
    latest_cycle: CycleRecord | None = None  # the record of `current_cycle` (position, prices)
    # The price of the newest take-profit order that may still rest on the book, if any.
    take_profit: Decimal | None = None
