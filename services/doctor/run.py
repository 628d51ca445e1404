"""`diagnose`: every check of `martingale doctor`, in order, each one line of the report.

Order matters only where one check needs another's result: the database is opened (read-only)
once the config named it, its rows are read only at the migration head (this version's models
cannot read an older schema), and the exchanges are asked only about keys that opened. A check
that cannot run for that reason is reported as skipped, beside the failure that caused it.

The exchange clients come from the caller (`VenueClients`): only app/ chooses adapters, and
tests hand in clients pointed at a loopback venue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.loader import load_config
from config.schema import MASTER_KEY_ENV, LiveAccount, ServiceConfig
from config.secrets import lookup_credentials, resolved_url
from domain.errors import ConfigurationError, MartingaleError
from domain.venues import PAPER_VENUE
from persistence.readonly import ReadOnlyDatabase
from persistence.repository import Repository
from services.database import check_config_url
from services.doctor.database import mysql_checks, open_database
from services.doctor.keys import OpenedKey, credential_checks, master_key_checks
from services.doctor.report import Check, Report, Status, fail, na, ok, skip
from services.doctor.sealed import notification_url_check, sealed_count, signal_secret_check
from services.doctor.venues import ClockFor, KeyedFor, Venue, clock_checks, key_checks
from services.market_files import check_market_files


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorInput:
    config_path: str | None = None
    db_url: str | None = None  # the database to check when no config file is given
    master_key_file: Path | None = None  # instead of the config's master_key_file
    env: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueClients:
    clock_for: ClockFor
    keyed_for: KeyedFor


def diagnose(
    given: DoctorInput,
    clients: VenueClients,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    checks: list[Check] = []
    config_check, config = check_config(given.config_path, given.env)
    checks.append(config_check)
    url = _url(config, given) if config is not None else given.db_url
    with _opened(url, checks) as database:
        at_head = database is not None and _passed(checks, "schema")
        repo = database.repository() if database is not None and at_head else None
        if database is not None:
            checks.extend(mysql_checks(database))
        else:
            checks.append(skip("mysql", "no database"))
        checks.extend(_keys_and_venues(given, config, repo, clients, now))
    return Report.of(checks)


def check_config(path: str | None, env: Mapping[str, str]) -> tuple[Check, ServiceConfig | None]:
    """The file as `martingale run` checks it before it writes anything: schema, database URL,
    candle files, and the credential sources it names (read, never shown)."""
    if path is None:
        return na(
            "config", "no --config given; checking the database of --db (or its default)"
        ), None
    try:
        config = load_config(path)
    except ConfigurationError as error:
        return _config_failure(error), None
    try:
        check_config_url(config)
        check_market_files(config)
        lookup_credentials(config, env=env)
        resolved_url(config, env)  # database.password_env/_file, read, never shown
    except ConfigurationError as error:
        return _config_failure(error), config
    users = len(config.users)
    accounts = sum(len(u.accounts) for u in config.users)
    strategies = sum(len(u.strategies) for u in config.users)
    return ok(
        "config", f"{path} is valid ({users} users, {accounts} accounts, {strategies} strategies)"
    ), config


def _url(config: ServiceConfig, given: DoctorInput) -> str | None:
    """The config's database URL with its password; None when the password cannot be read
    (the config line says why)."""
    try:
        return resolved_url(config, given.env)
    except ConfigurationError:
        return None


def _config_failure(error: ConfigurationError) -> Check:
    problems = "; ".join(line.strip() for line in str(error).splitlines())
    return fail("config", problems, "fix the file; `martingale run` refuses it as it is")


@contextmanager
def _opened(url: str | None, checks: list[Check]) -> Iterator[ReadOnlyDatabase | None]:
    if url is None:
        checks.append(skip("database", "the config file names none it could be read from"))
        checks.append(skip("schema", "no database"))
        yield None
        return
    found, database = open_database(url)
    checks.extend(found)
    try:
        yield database
    finally:
        if database is not None:
            database.close()


def _passed(checks: list[Check], name: str) -> bool:
    return any(c.name == name and c.status is Status.OK for c in checks)


def _keys_and_venues(
    given: DoctorInput,
    config: ServiceConfig | None,
    repo: Repository | None,
    clients: VenueClients,
    now: Callable[[], datetime],
) -> list[Check]:
    checks: list[Check] = []
    stored = _stored_count(repo)
    live_in_config = config is not None and any(
        isinstance(a, LiveAccount) for u in config.users for a in u.accounts
    )
    needed = True if live_in_config or stored else (None if stored is None else False)
    key_file = given.master_key_file or (config.master_key_file if config else None)
    env_value = given.env.get(MASTER_KEY_ENV, "").strip() or None
    found, vault = master_key_checks(key_file=key_file, env_value=env_value, needed=needed)
    checks.extend(found)
    opened: list[OpenedKey] = []
    if repo is None:
        for name in ("credentials", "signal_secrets", "notification_urls"):
            checks.append(skip(name, "the database's rows cannot be read (see above)"))
    else:
        check, opened = credential_checks(repo, vault)
        checks.append(check)
        checks.append(signal_secret_check(repo, vault))
        checks.append(notification_url_check(repo, vault))
    venues, active = _venues(config, repo)
    checks.extend(clock_checks(venues, clients.clock_for, now))
    checks.extend(key_checks([k for k in opened if k.account.id in active], clients.keyed_for))
    return checks


def _stored_count(repo: Repository | None) -> int | None:
    """How many stored secrets need the master key: API keys, signal secrets, notification
    URLs (None: the rows cannot be read)."""
    if repo is None:
        return None
    try:
        return len(repo.list_credentials()) + sealed_count(repo)
    except MartingaleError:
        return None


def _venues(config: ServiceConfig | None, repo: Repository | None) -> tuple[list[Venue], set[int]]:
    """Every venue the config or the database's accounts trade on, and the ids of the accounts
    of users not deleted (a deleted user's key is asked nothing)."""
    venues: list[Venue] = []
    for user in config.users if config is not None else ():
        for account in user.accounts:
            if isinstance(account, LiveAccount):
                venues.append(
                    Venue(
                        exchange=account.exchange,
                        sandbox=account.sandbox,
                        base_url=account.base_url,
                    )
                )
            else:
                venues.append(Venue(exchange=PAPER_VENUE))
    active: set[int] = set()
    if repo is not None:
        try:
            for listed in repo.list_users():
                for row in repo.list_accounts(listed.id):
                    active.add(row.id)
                    venues.append(
                        Venue(exchange=row.exchange, sandbox=row.sandbox, base_url=row.base_url)
                    )
        except MartingaleError:
            pass  # the credentials check has already said the rows cannot be read
    return venues, active
