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

Users and accounts are synced here; strategies by `services.onboarding_strategies`, keys by
`services.onboarding_keys`, notification targets by `services.onboarding_notify`, and the
counts by `services.onboarding_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from config.loader import ConfigError, ConfigProblem
from config.notify_secrets import UrlLookup, lookup_notification_urls
from config.schema import LiveAccount, ServiceConfig
from config.secrets import AccountKey, lookup_credentials
from config.strategy_schema import StrategyConfig
from domain.errors import CredentialError
from domain.secrets import Credentials
from persistence.records import AccountRecord, UserRecord
from persistence.repository import Repository
from persistence.vault import Vault
from services.database import is_new_sqlite, prepare_database
from services.onboarding_keys import (
    Loc,
    check_vault_opens_stored,
    config_file,
    has_live_accounts,
    refuse,
    store_if_changed,
    vault_for,
)
from services.onboarding_notify import NotifySync, check_vault_opens_targets
from services.onboarding_report import SyncReport, Tally
from services.onboarding_strategies import REMOVED, StrategySync
from services.plan import stored_params
from strategy.params import MartingaleParams

__all__ = [
    "REMOVED",
    "SyncReport",
    "Tally",
    "has_live_accounts",
    "is_new_sqlite",
    "prepare_database",
    "strategy_params",
    "sync_config",
    "vault_for",
]


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
    report = SyncReport()
    sync = _Sync(
        config=config,
        repo=repo,
        vault=vault,
        now=now,
        credentials=keys.found,
        absent=keys.absent,
        params=params,
        urls=urls,
        report=report,
        strategies=StrategySync(config=config, repo=repo, now=now, tally=report.strategies),
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
    report: SyncReport
    strategies: StrategySync
    urls: UrlLookup = field(default_factory=UrlLookup)
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
            self.strategies.strategy(
                where,
                user_id=record.id,
                disabled=record.disabled,
                strategy=strategy,
                wanted=wanted,
                found=found,
                account_ids=account_ids,
            )
        for removed in stored.values():
            self.strategies.removed(removed)
        NotifySync(
            repo=self.repo,
            vault=self.vault,
            urls=self.urls,
            now=self.now,
            count=self.report.notifications.add,
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
                refuse(
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

    def account_credentials(self, account: AccountRecord, credentials: Credentials) -> None:
        vault = self.vault
        assert vault is not None  # sync_config refuses live accounts without a vault
        outcome = store_if_changed(self.repo, vault, account, credentials, now=self.now)
        self.report.credentials.add(outcome)

    def stop_removed_users(self) -> None:
        named = {u.name for u in self.config.users}
        for user in self.repo.list_users():
            if user.name in named or user.source != "config":
                continue  # an API user is not the file's to stop
            stopped = [
                s for s in self.repo.list_strategies(user_id=user.id) if self.strategies.removed(s)
            ]
            if stopped:
                self.report.users.stopped += 1
