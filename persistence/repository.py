"""The repository interface the rest of the service uses, whatever the database.

Two implementations pass one contract suite: `SqlRepository` (SQLite/MySQL) and
`MemoryRepository` (a fake for fast tests). Every method is one transaction: it commits whole or
not at all. Time is passed in (`now`), never read here, so tests and replays are deterministic.

Semantics every implementation keeps:
- Onboarding upserts by natural key: user by name, account by (user, name), strategy by
  (user, name). Upserting a soft-deleted user brings it back. An upsert that changes nothing
  writes nothing (a strategy's `updated_at` stays, so the supervisor's poll sees no change).
- `save_steps` writes many steps in one transaction, each as `save_step` would: a refused
  step gets its error in its slot and writes nothing, the others commit.
- `save_step` checks `expected_version` against the strategy's version and replaces it (with
  `new_version`, else expected + 1); a mismatch raises `VersionConflict` and writes nothing.
  Writers pass unique `new_version` tokens so two writers can never line up on each other's
  counters (a late write of a replaced engine must not land on top of its successor's).
- A fill is unique per (account, symbol, trade id): a replay is a no-op, reported as "not
  new". (Exchanges such as binance number trades per symbol.)
- A step's audit rows commit with it: a refused step writes none of them.
- Every database has its own deployment tag ([a-z]{4}, made by migration 0004); every client
  order id carries it, so two deployments on one exchange account never share ids.
- Order updates follow the order state machine; an illegal move raises `IllegalTransition`.
- Fills are records of trades; the order's `filled`/`cost` come from order updates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from domain.events import StopMode
from domain.notifications import NotifyEvent
from domain.orders import Fill, Order
from persistence.records import (
    AccountRecord,
    ActualState,
    AuditEntry,
    AuditRecord,
    CycleRecord,
    CycleStatus,
    DesiredState,
    DesiredStateRecord,
    EngineState,
    EventRecord,
    JournalEntry,
    OrderIntent,
    SealedCredentials,
    StepOutcome,
    StepResult,
    StepWrite,
    StoredCredentials,
    StrategyRecord,
    StrategyStatus,
    TokenRecord,
    UserRecord,
)
from persistence.records_history import DailyProfit, FillRecord, OrderRecord
from persistence.records_notify import NotificationTarget, SealedUrl
from persistence.records_signal import SignalKeyRecord, SignalRecord


class Repository(Protocol):
    # --- users and accounts ----------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        """A unit of work: the calls made inside (from this thread) commit together or not at all.

        For multi-step writes such as onboarding sync; nesting joins the outer transaction.
        """
        ...

    def upsert_user(
        self, name: str, *, now: datetime, email: str | None = None, source: str | None = None
    ) -> UserRecord:
        """`email` None keeps the stored one; `source` ("config" or "api": who manages the
        user) None keeps the stored one, and a new user gets "config"."""
        ...

    def get_user(self, user_id: int) -> UserRecord: ...
    def find_user(self, name: str) -> UserRecord | None: ...
    def list_users(self, *, include_deleted: bool = False) -> list[UserRecord]: ...
    def delete_user(self, user_id: int, *, now: datetime) -> None:
        """Soft delete: hide the user, ask its strategies to stop; keep all history.

        Each strategy not deleted gets a stop command (a counted one: `command_seq`, so a
        running service's poll sees it) in mode CANCEL: resting orders are cancelled and the
        position is kept, since nobody is left to decide what to sell. A stop in mode SELL the
        user had asked for is kept (a market exit may already be under way).
        """
        ...

    def deployment_tag(self) -> str:
        """This database's deployment tag: four lowercase letters, fixed for its lifetime."""
        ...

    def upsert_account(
        self,
        user_id: int,
        name: str,
        *,
        exchange: str,
        now: datetime,
        sandbox: bool = False,
        base_url: str | None = None,
    ) -> AccountRecord:
        """`sandbox` and `base_url` (the venue environment) are stored or updated; changing
        `exchange` is refused (the account's history and keys belong to the old one)."""
        ...

    def get_account(self, account_id: int) -> AccountRecord: ...
    def list_accounts(self, user_id: int) -> list[AccountRecord]: ...

    # --- credentials (ciphertext only; the vault seals and opens) -------------------------
    def save_credentials(
        self, account_id: int, sealed: SealedCredentials, *, now: datetime
    ) -> AccountRecord:
        """Store or replace an account's sealed credentials (sets created or rotated time)."""
        ...

    def load_credentials(self, account_id: int) -> SealedCredentials | None: ...
    def list_credentials(self, *, not_key_version: int | None = None) -> list[StoredCredentials]:
        """All stored credentials, or only those sealed under a key other than the one given."""
        ...

    def reseal_credentials(
        self, account_id: int, *, expected_ciphertext: str, sealed: SealedCredentials
    ) -> bool:
        """Swap the ciphertext if it is still `expected_ciphertext`; False if it changed."""
        ...

    # --- strategies -------------------------------------------------------------------------
    def upsert_strategy(
        self,
        user_id: int,
        name: str,
        *,
        account_id: int,
        symbol: str,
        params: Mapping[str, Any],
        desired_state: DesiredState,
        now: datetime,
        config_state: str | None = None,
    ) -> StrategyRecord:
        """`config_state` is stored as given: the `state:` the config file applied (None: none).

        Nothing is written when params, desired state and config state are all unchanged.
        """
        ...

    def get_strategy(self, strategy_id: int) -> StrategyRecord: ...
    def list_strategies(self, *, user_id: int | None = None) -> list[StrategyRecord]: ...
    def list_desired_states(
        self, *, changed_since: datetime | None = None
    ) -> list[DesiredStateRecord]:
        """Desired state, stop mode, command count and start condition of every strategy not
        deleted, by id; with `changed_since`, only strategies whose row changed at or after it
        (`updated_at`).
        A deleted strategy is left out, so the poll never runs it again. A deleted user's
        strategies are listed, with `user_deleted`: the stop its deletion asked for must reach a
        service that runs them.

        Cheap (six short columns, the start condition read out of the params' JSON): what the
        root supervisor polls every couple of seconds.
        """
        ...

    def set_desired_state(
        self,
        strategy_id: int,
        state: DesiredState,
        *,
        now: datetime,
        stop_mode: StopMode | None = None,
    ) -> None:
        """`stop_mode` says how a STOPPED strategy stops (kept only with STOPPED). Every call
        bumps the strategy's `command_seq`, even one that repeats the desired state: each
        command is a change the supervisor's poll sees."""
        ...

    def set_actual_state(
        self,
        strategy_id: int,
        state: ActualState,
        *,
        now: datetime,
        last_error: str | None = None,
    ) -> None:
        """Record the engine's state; `last_error` replaces the stored one (None clears it)."""
        ...

    def increment_restart_count(self, strategy_id: int, *, now: datetime) -> int: ...
    def record_heartbeats(self, beats: Mapping[int, datetime]) -> None: ...

    # --- trading --------------------------------------------------------------------------
    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int | None = None,
        new_orders: Sequence[OrderIntent] = (),
        order_updates: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        cycle: CycleRecord | None = None,
        events: Sequence[object] = (),
        audits: Sequence[AuditEntry] = (),
    ) -> StepResult:
        """One engine step in one transaction; `audits` are committed with it or not at all
        (e.g. `cycle_closed` with the close: a crash cannot keep one without the other)."""
        ...

    def save_steps(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        """Many steps (of one or several strategies) in one transaction; one outcome per step.

        Each step is checked as `save_step` would check it, in order, against what the steps
        before it in the batch wrote (two steps of one strategy chain their versions). A step
        that `save_step` would refuse gets that error in its slot and writes nothing; the others
        are committed together. `DatabaseUnavailable` raises for the whole batch (nothing
        written).
        """
        ...

    def record_order_intent(
        self, strategy_id: int, intent: OrderIntent, *, now: datetime
    ) -> Order: ...
    def update_order(self, strategy_id: int, order: Order, *, now: datetime) -> Order: ...
    def apply_fill(self, strategy_id: int, fill: Fill, *, now: datetime) -> bool: ...
    def upsert_cycle(self, strategy_id: int, cycle: CycleRecord) -> CycleRecord: ...
    def close_cycle(
        self,
        strategy_id: int,
        number: int,
        *,
        realized_profit: Decimal,
        now: datetime,
        status: CycleStatus = CycleStatus.CLOSED,
    ) -> CycleRecord: ...
    def append_events(self, entries: Sequence[JournalEntry]) -> int: ...
    def append_audit(self, entries: Sequence[AuditEntry]) -> int: ...

    # --- reads ----------------------------------------------------------------------------
    def load_engine_state(self, strategy_id: int) -> EngineState: ...
    def list_status(self, *, user_id: int | None = None) -> list[StrategyStatus]: ...
    def list_orders(self, strategy_id: int, *, cycle: int | None = None) -> list[Order]: ...
    def list_fills(self, strategy_id: int, *, cycle: int | None = None) -> list[Fill]: ...
    def list_cycles(self, strategy_id: int) -> list[CycleRecord]: ...
    def recent_events(self, strategy_id: int, *, limit: int = 100) -> list[EventRecord]: ...
    def recent_audit(
        self, *, limit: int = 100, user_id: int | None = None
    ) -> list[AuditRecord]: ...

    # --- users' roles, passwords, API tokens and sessions (issue 12) ----------------------
    # Only argon2id PHC strings and SHA-256 digests of tokens come here, never a secret; no
    # read hands a hash back except `load_password_hash`, which the login needs.
    def set_user_role(self, user_id: int, role: str, *, now: datetime) -> UserRecord:
        """`role` in `records.ROLES` (ValidationError field="role"); NotFound for no user."""
        ...

    def set_user_disabled(self, user_id: int, disabled: bool, *, now: datetime) -> UserRecord:
        """Set `disabled_at` to `now`, or clear it; the flag only (the rules, the tokens and the
        strategies are `services.users.set_disabled`'s). Disabling a disabled user keeps its
        first time. NotFound for no user."""
        ...

    def set_password_hash(
        self,
        user_id: int,
        password_hash: str | None,
        *,
        now: datetime,
        replacing: str | None = None,
    ) -> bool:
        """Store or (None) clear the user's password hash; `UserRecord.has_password` follows.

        With `replacing`, only if the stored hash is still that one (atomically): a login that
        re-hashes under new parameters must not undo a password change made meanwhile. True
        when written.
        """
        ...

    def load_password_hash(self, user_id: int) -> str | None: ...
    def create_token(
        self,
        user_id: int,
        *,
        kind: str,
        name: str,
        token_hash: str,
        prefix: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """`kind` "api" or "session" (ValidationError field="kind"); a token hash already
        stored is refused (PersistenceError: the column is unique)."""
        ...

    def find_token(self, token_hash: str) -> tuple[TokenRecord, UserRecord] | None:
        """The token with that hash and its user, in one query, whatever their state (revoked,
        expired, deleted user): the caller decides what to refuse."""
        ...

    def list_tokens(self, user_id: int, *, kind: str | None = "api") -> list[TokenRecord]:
        """All the user's tokens of `kind` (None: every kind), revoked ones too, newest first."""
        ...

    def revoke_token(self, token_id: int, *, now: datetime) -> None:
        """Idempotent: a revoked token keeps its first revocation time. NotFound for no token."""
        ...

    def purge_sessions(self, user_id: int, *, before: datetime) -> int:
        """Delete the user's dashboard sessions that expired or were revoked before `before`
        (API tokens stay: their owner lists and revokes them). The number deleted."""
        ...

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        """Set the last-used time; only forwards, and nothing for a token that does not exist."""
        ...

    def revoke_tokens(self, user_id: int, *, kind: str | None = None, now: datetime) -> int:
        """Revoke the user's live tokens of `kind` (None: all); how many were revoked."""
        ...

    # --- what a running service polls (issue 12) --------------------------------------------
    def list_changed_accounts(
        self, *, changed_since: datetime | None = None
    ) -> list[AccountRecord]:
        """Accounts of users not deleted, by id, created or whose credentials were stored or
        replaced (`created_at`, `credentials_created_at`, `credentials_rotated_at`) at or after
        `changed_since`; every one when None. What the root supervisor polls to swap in a
        replaced key while the account's strategies keep running.
        """

    # --- notification targets (issue 16; ciphertext only, the vault seals and opens) ------
    def save_notification_target(
        self,
        user_id: int,
        name: str,
        *,
        scheme: str,
        sealed: SealedUrl,
        events: frozenset[NotifyEvent],
        enabled: bool,
        now: datetime,
        source: str = "api",
    ) -> NotificationTarget:
        """Create the user's target `name`, or replace it whole (its `created_at` stays).
        `source` "config" or "api" (ValidationError field="source"); NotFound for no user."""
        ...

    def list_notification_targets(
        self, *, user_id: int | None = None, not_key_version: int | None = None
    ) -> list[NotificationTarget]:
        """The targets of one user (None: of every user not deleted), by user then name; with
        `not_key_version`, only those sealed under another master key version, deleted users'
        too (a rotation must move every row before the old key goes)."""
        ...

    def delete_notification_target(self, user_id: int, name: str) -> bool:
        """Delete the user's target `name`; False when it has none of that name."""
        ...

    def reseal_notification_target(
        self, target_id: int, *, expected_ciphertext: str, sealed: SealedUrl
    ) -> bool:
        """Swap the ciphertext if it is still `expected_ciphertext`; False if it changed."""
        ...

    # --- observability (the service's /metrics) ---------------------------------------------
    def count_strategies_by_state(self) -> dict[ActualState, int]:
        """How many strategies are in each actual state, every state present (0 when none);
        the strategies `list_strategies()` returns (not deleted, of users not deleted)."""
        ...

    # --- history: the REST API's pages and profit summary, and the soft delete ------------
    # Pages are newest first and keyset on the row id (cycles: on their number): rows with an
    # id below `before_id` (all when None), at most `limit`. A strategy with no rows, or no
    # such strategy, gives []. Owner checks are the caller's (services.history).
    def page_orders(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[OrderRecord]: ...
    def page_fills(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[FillRecord]: ...
    def page_events(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[EventRecord]: ...
    def page_audit(
        self, strategy_id: int, *, before_id: int | None, limit: int
    ) -> list[AuditRecord]:
        """The strategy's audit rows: those with its id and its owner's user_id (the engine
        writes both)."""
        ...

    def page_cycles(
        self, strategy_id: int, *, before_number: int | None, limit: int
    ) -> list[CycleRecord]: ...
    def profit_by_day(self, user_id: int, *, since: datetime | None = None) -> list[DailyProfit]:
        """Realized profit per (symbol, UTC day) of the user's cycles closed with a realized
        profit, at or after `since` (deleted strategies count: the profit was made). Summed in
        the database, exactly (one row per group, not per cycle); by symbol, then day."""
        ...

    def delete_strategy(self, strategy_id: int, *, now: datetime) -> None:
        """Soft delete: sets deleted_at and renames the strategy (`records_history.deleted_name`)
        so its name can be used again; orders, fills, cycles, events and audit rows stay. Only a
        stopped strategy (desired STOPPED, actual STOPPED/FINISHED/FAULTED): else
        ValidationError(field="state"), nothing written. NotFound if missing or deleted."""
        ...

    # --- webhook signals (issue 16): a strategy's signal key, and the signals received ------
    # The URL token comes here as its SHA-256 only, the shared secret as vault ciphertext.
    def save_signal_key(
        self,
        strategy_id: int,
        *,
        token_hash: str,
        secret_ciphertext: str,
        key_version: int,
        now: datetime,
    ) -> SignalKeyRecord:
        """Create the strategy's signal key, or replace it whole (a rotation: `rotated_at` set
        to `now`, `created_at` kept), so the old token and secret stop working at once.
        NotFound for no strategy, or a deleted one."""
        ...

    def get_signal_key(self, strategy_id: int) -> SignalKeyRecord | None: ...
    def find_signal_key(self, token_hash: str) -> SignalKeyRecord | None:
        """The key whose token has that hash (one indexed read: every webhook request)."""
        ...

    def list_signal_keys(self, *, not_key_version: int | None = None) -> list[SignalKeyRecord]:
        """Every signal key by strategy id, or those sealed under a key other than the one
        given (a master key rotation)."""
        ...

    def reseal_signal_key(
        self,
        strategy_id: int,
        *,
        expected_ciphertext: str,
        secret_ciphertext: str,
        key_version: int,
    ) -> bool:
        """Swap the secret's ciphertext if it is still `expected_ciphertext`; False if it
        changed (rotated meanwhile) or the key is gone."""
        ...

    def delete_signal_key(self, strategy_id: int) -> bool:
        """Remove the strategy's signal key (a revocation: its URL and secret stop working at
        once); True if there was one. The signals received stay."""
        ...

    def recent_signals(self, strategy_id: int, *, limit: int) -> list[SignalRecord]:
        """The strategy's `limit` newest signals (highest id first), consumed or not."""
        ...

    def record_signal(
        self, strategy_id: int, *, nonce: str, signal_at: datetime, now: datetime
    ) -> SignalRecord:
        """Store an accepted signal (`received_at` = `now`). A nonce the strategy already has
        raises `DuplicateSignal` and writes nothing. NotFound for no strategy."""
        ...

    def unconsumed_signals(self, strategy_ids: Collection[int] | None = None) -> list[SignalRecord]:
        """The signals no engine has taken yet (of those strategies; of all with None), oldest
        (lowest id) first. None reads through the (consumed_at, strategy_id) index without an
        id list, which is what a poll over thousands of running strategies wants."""
        ...

    def consume_signal(self, signal_id: int, at: datetime) -> bool:
        """Mark the signal taken at `at`; True if this call took it, False if it was already
        consumed (its first time stays) or does not exist (pruned): idempotent."""
        ...
