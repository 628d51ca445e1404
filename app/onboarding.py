"""Sync an onboarding file into the database: the file says who trades what, with which keys.

`load_config` has already validated the whole file. `sync_config` then resolves every live
account's credentials (environment variables, files) before the first read of the database, and
writes everything inside one `repo.transaction()`: a conflict or a database failure half way
leaves nothing written. Only what differs from the stored rows is written, so a second run with
the same file writes nothing at all (no `updated_at` or version bump, no re-encryption).

What the file decides, on every sync:
- users by name (email included), accounts by (user, name), strategies by (user, name);
- a strategy's desired state (`enabled` / `state`): re-running the file re-applies it;
- a strategy's parameters, stored complete (defaults filled in) as decimal strings under the
  `martingale plan` names. A change is stored at once; the engine reads params when it opens
  its next cycle, so a cycle in progress keeps the ladder it was opened with and no resting
  order moves mid-cycle.

Removal never deletes: orders, fills and cycles are the trading record. A strategy missing from
the file is asked to stop (desired state STOPPED); a user missing from the file has every one of
its strategies stopped, and the user row stays visible so `martingale status` still shows them.
Moving a strategy to another symbol or account, or an account to another exchange, is refused
with the file path of the entry: its history belongs to the old one, so it needs a new name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from config.loader import ConfigError, ConfigProblem, format_path
from config.schema import MASTER_KEY_ENV, LiveAccount, ServiceConfig, StrategyConfig
from config.secrets import resolve_all_credentials, resolve_master_key
from domain.errors import CredentialError
from domain.money import fmt
from domain.secrets import Credentials
from persistence.database import parse_url
from persistence.migrate import check_at_head, upgrade
from persistence.records import AccountRecord, DesiredState, StrategyRecord, UserRecord
from persistence.repository import Repository
from persistence.vault import Vault, fingerprint, parse_keyring
from strategy.params import MartingaleParams

Loc = tuple[str | int, ...]


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

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self._kinds().values())

    def _kinds(self) -> dict[str, Tally]:
        return {
            "users": self.users,
            "accounts": self.accounts,
            "credentials": self.credentials,
            "strategies": self.strategies,
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
    """Every Martingale parameter, defaults included, as strings (decimals without exponent).

    Resolving defaults here pins them in the database: a later release with other defaults
    cannot silently change a running strategy, and writing a default explicitly in the file is
    not a change.
    """
    params = MartingaleParams.from_mapping(strategy.parameters())
    out: dict[str, str] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        if value is None:
            continue
        if isinstance(value, Decimal):
            out[f.name] = fmt(value)
        elif isinstance(value, enum.Enum):
            out[f.name] = str(value.value)
        else:
            out[f.name] = str(value)
    return out


def has_live_accounts(config: ServiceConfig) -> bool:
    return any(isinstance(a, LiveAccount) for u in config.users for a in u.accounts)


def vault_for(config: ServiceConfig, *, env: Mapping[str, str] | None = None) -> Vault | None:
    """The vault for a config's live accounts; None when every account is on paper.

    Raises ConfigError when a live account exists but no master key is configured, and
    CredentialError when the key is malformed (the message names its source, never the key).
    """
    if not has_live_accounts(config):
        return None
    key = resolve_master_key(config, env=env)
    if key is None:
        where = _first_live_account(config)
        raise ConfigError(
            _file(config),
            [
                ConfigProblem(
                    format_path(where),
                    f"a live account's keys are stored encrypted, which needs the master key: "
                    f"set {MASTER_KEY_ENV} or master_key_file (create a key with "
                    "`martingale keys generate`)",
                    config.source_line(where),
                )
            ],
        )
    source = "master_key_file" if config.master_key_file is not None else MASTER_KEY_ENV
    return Vault(parse_keyring(key.reveal(), source=source))


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
    or a missing variable raises ConfigError with nothing touched. Everything else happens in
    one transaction.
    """
    credentials = resolve_all_credentials(config, env=env)
    if credentials and vault is None:
        raise CredentialError("the config has live accounts but no vault was given to seal keys")
    params = {
        (user.name, strategy.name): strategy_params(strategy)
        for user in config.users
        for strategy in user.strategies
    }
    sync = _Sync(
        config=config, repo=repo, vault=vault, now=now, credentials=credentials, params=params
    )
    with repo.transaction():
        for index in range(len(config.users)):
            sync.user(index)
        sync.stop_removed_users()
    return sync.report


@dataclass(slots=True, kw_only=True)
class _Sync:
    """One sync run: the inputs, and the report it fills in as it goes."""

    config: ServiceConfig
    repo: Repository
    vault: Vault | None
    now: datetime
    credentials: Mapping[tuple[str, str], Credentials]
    params: Mapping[tuple[str, str], dict[str, str]]
    report: SyncReport = field(default_factory=SyncReport)

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
                strategy=strategy,
                wanted=wanted,
                found=found,
                account_ids=account_ids,
            )
        for removed in stored.values():
            if _stop(self.repo, removed, self.now):
                self.report.strategies.stopped += 1

    def user_row(self, name: str, email: str) -> UserRecord:
        found = self.repo.find_user(name)
        if found is not None and not found.deleted and found.email == email:
            self.report.users.unchanged += 1
            return found
        record = self.repo.upsert_user(name, now=self.now, email=email)
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
            if stored is None:
                stored = self.repo.upsert_account(
                    user_id,
                    account.name,
                    exchange=account.exchange,
                    now=self.now,
                    sandbox=sandbox,
                    base_url=base_url,
                )
                self.report.accounts.created += 1
            elif stored.sandbox != sandbox or stored.base_url != (base_url or None):
                stored = self.repo.upsert_account(
                    user_id,
                    account.name,
                    exchange=account.exchange,
                    now=self.now,
                    sandbox=sandbox,
                    base_url=base_url,
                )
                self.report.accounts.updated += 1
            else:
                self.report.accounts.unchanged += 1
            ids[account.name] = stored.id
            creds = self.credentials.get((user.name, account.name))
            if creds is not None:
                self.account_credentials(stored, creds)
        return ids

    def strategy(
        self,
        where: Loc,
        *,
        user_id: int,
        strategy: StrategyConfig,
        wanted: dict[str, str],
        found: StrategyRecord | None,
        account_ids: Mapping[str, int],
    ) -> None:
        account_id = account_ids[strategy.account]
        desired = DesiredState(strategy.desired_state)
        if found is not None:
            _check_strategy_moves(self.config, where, found, strategy, account_id)
            if dict(found.params) == wanted and found.desired_state is desired:
                self.report.strategies.unchanged += 1
                return
        self.repo.upsert_strategy(
            user_id,
            strategy.name,
            account_id=account_id,
            symbol=strategy.symbol,
            params=wanted,
            desired_state=desired,
            now=self.now,
        )
        if found is None:
            self.report.strategies.created += 1
        else:
            self.report.strategies.updated += 1

    def account_credentials(self, account: AccountRecord, credentials: Credentials) -> None:
        """Seal and store the key only when it differs from the stored one.

        The fingerprint covers the API key alone, so on a match the stored ciphertext is
        opened and the secret and passphrase compared too. A ciphertext the configured master
        keys cannot open is replaced: the file is the source of truth for the key, and keeping
        an unreadable row would only stop the account later.
        """
        vault = self.vault
        assert vault is not None  # sync_config refuses live accounts without a vault
        stored = self.repo.load_credentials(account.id)
        if stored is not None and stored.fingerprint == fingerprint(credentials):
            try:
                same = vault.open(stored, user_id=account.user_id, account_id=account.id)
            except CredentialError:
                same = None
            if same == credentials:
                self.report.credentials.unchanged += 1
                return
        sealed = vault.seal(credentials, user_id=account.user_id, account_id=account.id)
        self.repo.save_credentials(account.id, sealed, now=self.now)
        if stored is None:
            self.report.credentials.created += 1
        else:
            self.report.credentials.updated += 1

    def stop_removed_users(self) -> None:
        named = {u.name for u in self.config.users}
        for user in self.repo.list_users():
            if user.name in named:
                continue
            strategies = self.repo.list_strategies(user_id=user.id)
            stopped = [s for s in strategies if _stop(self.repo, s, self.now)]
            self.report.strategies.stopped += len(stopped)
            if stopped:
                self.report.users.stopped += 1


def _stop(repo: Repository, strategy: StrategyRecord, now: datetime) -> bool:
    if strategy.desired_state is DesiredState.STOPPED:
        return False
    repo.set_desired_state(strategy.id, DesiredState.STOPPED, now=now)
    return True


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
        _file(config), [ConfigProblem(format_path(where), message, config.source_line(where))]
    )


def _first_live_account(config: ServiceConfig) -> Loc:
    for i, user in enumerate(config.users):
        for j, account in enumerate(user.accounts):
            if isinstance(account, LiveAccount):
                return ("users", i, "accounts", j)
    return ()


def _file(config: ServiceConfig) -> str:
    return str(config.source_file) if config.source_file is not None else "config"


def is_new_sqlite(url: str) -> bool:
    """True for a SQLite database file that does not exist yet (or is empty)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return True
    if database.startswith("file:"):
        return False
    path = Path(database).expanduser()
    return not path.exists() or (path.is_file() and path.stat().st_size == 0)


def prepare_database(url: str) -> bool:
    """Create a brand-new SQLite database at head; refuse any existing database that is behind.

    Creating a file nobody has yet cannot hurt anyone, and it is what makes the paper example
    run out of the box. An existing database (any MySQL one, or a SQLite file with data) is
    only ever migrated by `martingale db upgrade`, a step the operator takes on purpose after a
    backup. Returns True when the database was created here.
    """
    if is_new_sqlite(url):
        upgrade(url)
        return True
    check_at_head(url)
    return False
