"""Sync an onboarding file into the database: the file says who trades what, with which keys.

`load_config` has already validated the whole file. `sync_config` then reads every live
account's credentials (environment variables, files) before the first read of the database, and
writes everything inside one `repo.transaction()`: a conflict or a database failure half way
leaves nothing written. Keys are handled by `services.onboarding_keys` (the master key must open
every stored key; an account whose key sources are all absent keeps its stored key). Only what
differs from the stored rows is written, so a second run with the same file writes nothing at
all (no `updated_at` or version bump, no re-encryption).

What the file decides, on every sync:
- users by name (email included), accounts by (user, name), strategies by (user, name);
- a strategy's parameters, stored complete (defaults filled in) as decimal strings under the
  `martingale plan` names. A change is stored at once; the engine reads params when it opens
  its next cycle, so a cycle in progress keeps the ladder it was opened with and no resting
  order moves mid-cycle.

The database, not the file, is the source of truth for a strategy's runtime state: a pause,
resume, stop, stop-now or close-now recorded by `martingale strategy` (or the service itself)
stays across syncs and restarts. The file's `state:` / `enabled:` applies when the strategy is
created, and again only when the file's own value changes: the value last applied is kept in
strategies.config_state ("running", "paused", "stopped", or "disabled" for `enabled: false`,
which `martingale strategy resume` refuses to undo). A row synced before config_state existed
adopts the file's value without applying it, so an upgrade never undoes a recorded stop.

Removal never deletes: orders, fills and cycles are the trading record. A strategy missing from
the file is asked to stop once (desired state STOPPED, config_state "removed"); a user missing
from the file has every one of its strategies stopped, and the user row stays visible so
`martingale status` still shows them. Naming it in the file again applies the file's state.
Only what the file manages is stopped this way: a strategy the file never applied a state to
(config_state None: created through the REST API) and a user created through the API or
`martingale users add` (users.source "api") are not the file's, and a sync leaves them alone.
A user the file names is the file's from then on (source "config").
A disabled user (`services.users.set_disabled`) stays disabled whatever the file says, and
none of its strategies is started by a sync: a new one is created stopped, and a change of the
file's state is recorded (config_state) but not applied, as if the user had stopped them by
hand; after an admin enables the user, the user resumes them.
Moving a strategy to another symbol or account, or an account to another exchange, is refused
with the file path of the entry: its history belongs to the old one, so it needs a new name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from config.loader import ConfigError, ConfigProblem, format_path
from config.notify_secrets import UrlLookup, lookup_notification_urls
from config.schema import LiveAccount, ServiceConfig, StrategyConfig
from config.secrets import AccountKey, lookup_credentials
from domain.errors import CredentialError
from domain.secrets import Credentials
from persistence.records import AccountRecord, DesiredState, StrategyRecord, UserRecord
from persistence.repository import Repository
from persistence.vault import Vault
from services.database import is_new_sqlite, prepare_database
from services.onboarding_keys import (
    check_vault_opens_stored,
    config_file,
    has_live_accounts,
    store_if_changed,
    vault_for,
)
from services.onboarding_notify import NotifySync, check_vault_opens_targets
from services.plan import stored_params
from strategy.params import MartingaleParams

__all__ = [
    "SyncReport",
    "has_live_accounts",
    "is_new_sqlite",
    "prepare_database",
    "strategy_params",
    "sync_config",
    "vault_for",
]

Loc = tuple[str | int, ...]
# strategies.config_state of a strategy the file stopped naming (see `_Sync.removed`).
REMOVED = "removed"


@dataclass(slots=True)
class Tally:
    """How many rows of one kind the sync created, changed, left alone or asked to stop."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stopped: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.stopped


@dataclass(slots=True, kw_only=True)
class SyncReport:
    users: Tally = field(default_factory=Tally)
    accounts: Tally = field(default_factory=Tally)
    credentials: Tally = field(default_factory=Tally)
    strategies: Tally = field(default_factory=Tally)
    notifications: Tally = field(default_factory=Tally)  # "stopped": deleted from the file

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self._kinds().values())

    def _kinds(self) -> dict[str, Tally]:
        return {
            "users": self.users,
            "accounts": self.accounts,
            "credentials": self.credentials,
            "strategies": self.strategies,
            "notifications": self.notifications,
        }

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            kind: {
                "created": t.created,
                "updated": t.updated,
                "unchanged": t.unchanged,
                "stopped": t.stopped,
            }
            for kind, t in self._kinds().items()
        }

    def summary(self) -> str:
        """One aligned line per kind, e.g. ``strategies   created 2  updated 0  ...``."""
        lines = []
        for kind, t in self._kinds().items():
            lines.append(
                f"{kind:<12} created {t.created:>4}  updated {t.updated:>4}  "
                f"unchanged {t.unchanged:>4}  stopped {t.stopped:>4}"
            )
        return "\n".join(lines)


def strategy_params(strategy: StrategyConfig) -> dict[str, str]:
    """Every Martingale parameter of a file entry, defaults included (`plan.stored_params`:
    pinned in the database, so later defaults never change a running strategy)."""
    return stored_params(MartingaleParams.from_mapping(strategy.parameters()))


def sync_config(
    config: ServiceConfig,
    repo: Repository,
    vault: Vault | None,
    *,
    now: datetime,
    env: Mapping[str, str] | None = None,
) -> SyncReport:
    """Make the database say what the file says; see the module docstring for the rules.

    Credentials and params are resolved before the database is read, so an unreadable key file
    raises ConfigError with nothing touched. Everything else happens in one transaction, which
    a refusal found on the way (a master key that cannot open the stored keys, an account with
    neither key sources nor a stored key, a moved strategy) rolls back whole.
    """
    keys = lookup_credentials(config, env=env)
    if (keys.found or keys.absent) and vault is None:
        raise CredentialError("the config has live accounts but no vault was given to seal keys")
    urls = lookup_notification_urls(config, env=env)
    params = {
        (user.name, strategy.name): strategy_params(strategy)
        for user in config.users
        for strategy in user.strategies
    }
    sync = _Sync(
        config=config,
        repo=repo,
        vault=vault,
        now=now,
        credentials=keys.found,
        absent=keys.absent,
        params=params,
        urls=urls,
    )
    with repo.transaction():
        if vault is not None:
            check_vault_opens_stored(repo, vault)
            check_vault_opens_targets(repo, vault)
        for index in range(len(config.users)):
            sync.user(index)
        sync.stop_removed_users()
        if sync.missing:
            raise ConfigError(config_file(config), sync.missing)
    return sync.report


@dataclass(slots=True, kw_only=True)
class _Sync:
    """One sync run: the inputs, and the report it fills in as it goes."""

    config: ServiceConfig
    repo: Repository
    vault: Vault | None
    now: datetime
    credentials: Mapping[AccountKey, Credentials]
    absent: Mapping[AccountKey, list[ConfigProblem]]
    params: Mapping[tuple[str, str], dict[str, str]]
    urls: UrlLookup = field(default_factory=UrlLookup)
    report: SyncReport = field(default_factory=SyncReport)
    missing: list[ConfigProblem] = field(default_factory=list)  # absent and nothing stored

    def user(self, index: int) -> None:
        user = self.config.users[index]
        record = self.user_row(user.name, user.email)
        account_ids = self.accounts(index, record.id)
        stored = {s.name: s for s in self.repo.list_strategies(user_id=record.id)}
        for j, strategy in enumerate(user.strategies):
            found = stored.pop(strategy.name, None)
            wanted = self.params[(user.name, strategy.name)]
            where: Loc = ("users", index, "strategies", j)
            self.strategy(
                where,
                user_id=record.id,
                disabled=record.disabled,
                strategy=strategy,
                wanted=wanted,
                found=found,
                account_ids=account_ids,
            )
        for removed in stored.values():
            self.removed(removed)
        NotifySync(
            repo=self.repo,
            vault=self.vault,
            urls=self.urls,
            now=self.now,
            count=lambda outcome: _count(self.report.notifications, outcome),
            missing=self.missing,
        ).user(user.name, record.id, user.notifications)

    def user_row(self, name: str, email: str) -> UserRecord:
        found = self.repo.find_user(name)
        if (
            found is not None
            and not found.deleted
            and found.email == email
            and found.source == "config"
        ):
            self.report.users.unchanged += 1
            return found
        record = self.repo.upsert_user(name, now=self.now, email=email, source="config")
        if found is None:
            self.report.users.created += 1
        else:
            self.report.users.updated += 1
        return record

    def accounts(self, index: int, user_id: int) -> dict[str, int]:
        user = self.config.users[index]
        stored_accounts = {a.name: a for a in self.repo.list_accounts(user_id)}
        ids: dict[str, int] = {}
        for j, account in enumerate(user.accounts):
            stored = stored_accounts.get(account.name)
            if stored is not None and stored.exchange != account.exchange:
                _conflict(
                    self.config,
                    ("users", index, "accounts", j, "exchange"),
                    f"account {account.name!r} already trades on {stored.exchange!r}; its "
                    "history and keys belong there, so give the new exchange a new account name",
                )
            # The row is where the service reads an account's environment (its client and its
            # price feed); the file's value is applied on every sync, as it always decided.
            sandbox = isinstance(account, LiveAccount) and account.sandbox
            base_url = account.base_url if isinstance(account, LiveAccount) else None
            created = stored is None
            if stored is None or stored.sandbox != sandbox or stored.base_url != (base_url or None):
                stored = self.repo.upsert_account(
                    user_id,
                    account.name,
                    exchange=account.exchange,
                    now=self.now,
                    sandbox=sandbox,
                    base_url=base_url,
                )
                if created:
                    self.report.accounts.created += 1
                else:
                    self.report.accounts.updated += 1
            else:
                self.report.accounts.unchanged += 1
            ids[account.name] = stored.id
            creds = self.credentials.get((user.name, account.name))
            if creds is not None:
                self.account_credentials(stored, creds)
            elif (user.name, account.name) in self.absent:
                if self.repo.load_credentials(stored.id) is None:
                    self.missing.extend(self.absent[(user.name, account.name)])
                else:
                    self.report.credentials.unchanged += 1  # the stored key stays in use
        return ids

    def strategy(
        self,
        where: Loc,
        *,
        user_id: int,
        disabled: bool,
        strategy: StrategyConfig,
        wanted: dict[str, str],
        found: StrategyRecord | None,
        account_ids: Mapping[str, int],
    ) -> None:
        """Params always follow the file; the desired state only when the file's own value
        changed since the last sync, and never for a disabled user, whose strategies stay
        stopped (see the module docstring)."""
        account_id = account_ids[strategy.account]
        file_state = strategy.config_state
        desired = DesiredState(strategy.desired_state)
        applies = (found is None or found.config_state not in (None, file_state)) and not disabled
        if found is None and disabled:
            desired = DesiredState.STOPPED
        if found is not None:
            _check_strategy_moves(self.config, where, found, strategy, account_id)
            if not applies:
                desired = found.desired_state  # the database's runtime state stays
            if (dict(found.params), found.desired_state, found.config_state) == (
                wanted,
                desired,
                file_state,
            ):
                self.report.strategies.unchanged += 1
                return
        record = self.repo.upsert_strategy(
            user_id,
            strategy.name,
            account_id=account_id,
            symbol=strategy.symbol,
            params=wanted,
            desired_state=desired,
            now=self.now,
            config_state=file_state,
        )
        if found is None:
            self.report.strategies.created += 1
            return
        if applies and found.stop_mode is not None:  # a stop-now's mode does not outlive it
            self.repo.set_desired_state(record.id, desired, now=self.now)
        self.report.strategies.updated += 1

    def account_credentials(self, account: AccountRecord, credentials: Credentials) -> None:
        vault = self.vault
        assert vault is not None  # sync_config refuses live accounts without a vault
        outcome = store_if_changed(self.repo, vault, account, credentials, now=self.now)
        tally = self.report.credentials
        setattr(tally, outcome, getattr(tally, outcome) + 1)

    def stop_removed_users(self) -> None:
        named = {u.name for u in self.config.users}
        for user in self.repo.list_users():
            if user.name in named or user.source != "config":
                continue  # an API user is not the file's to stop
            stopped = [s for s in self.repo.list_strategies(user_id=user.id) if self.removed(s)]
            if stopped:
                self.report.users.stopped += 1

    def removed(self, strategy: StrategyRecord) -> bool:
        """Stop a strategy the file no longer names, once: its state is marked REMOVED, so a
        later sync neither stops it again (a resume by hand stands) nor leaves it stopped when
        the file names it again (that is a change of the file's value). True if stopped here."""
        if strategy.config_state in (REMOVED, None):
            # None: the file never applied a state to it, so it is not the file's: created
            # through the REST API (services.strategies), it stays as its owner left it.
            return False
        self.repo.upsert_strategy(
            strategy.user_id,
            strategy.name,
            account_id=strategy.account_id,
            symbol=strategy.symbol,
            params=strategy.params,
            desired_state=DesiredState.STOPPED,
            now=self.now,
            config_state=REMOVED,
        )
        if strategy.desired_state is DesiredState.STOPPED:
            self.report.strategies.updated += 1
            return False
        self.report.strategies.stopped += 1
        return True


def _count(tally: Tally, outcome: str) -> None:
    setattr(tally, outcome, getattr(tally, outcome) + 1)


def _check_strategy_moves(
    config: ServiceConfig,
    where: Loc,
    found: StrategyRecord,
    strategy: StrategyConfig,
    account_id: int,
) -> None:
    if found.symbol != strategy.symbol:
        _conflict(
            config,
            (*where, "symbol"),
            f"strategy {strategy.name!r} already trades {found.symbol}; its orders and cycles "
            "belong there, so give the new symbol a new strategy name",
        )
    if found.account_id != account_id:
        _conflict(
            config,
            (*where, "account"),
            f"strategy {strategy.name!r} already trades on another account; its orders and "
            "cycles belong there, so give it a new strategy name",
        )


def _conflict(config: ServiceConfig, where: Loc, message: str) -> None:
    """Refuse a change the stored history forbids; raised inside the transaction, so it
    rolls back whatever this sync wrote before."""
    raise ConfigError(
        config_file(config),
        [ConfigProblem(format_path(where), message, config.source_line(where))],
    )
