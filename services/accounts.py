"""A user's exchange accounts, for the REST API: create, list, replace the key, key report and
balances.

Every call is scoped to one user: another user's account answers `NotFound`, exactly as a
missing one does, and that check comes before anything else (an exchange call, a complaint
about the request body). Key material arrives as `Secret`, is sealed by the vault bound to its
user and account (a ciphertext copied to another row does not open), and never leaves: the
`AccountView` shows which key an account has (its fingerprint and master key version), never
the key.

Writes are whole or nothing: a new account row and its sealed key commit in one transaction,
after every check has passed. A paper account also needs its account on the server's paper
venue (a file of its own, outside that transaction): see `create_account` for the order that
keeps the two in step. Replacing a key only writes the account's row (new ciphertext,
fingerprint and rotation time); switching a running service's client over to it, with the
user's strategies running on, is the service's part, not this module's.

Errors for the web to map: `ValidationError` (its `field` names the input), `NotFound`,
`MasterKeyProblem` (the server's master key: 503), and for the exchange calls the
`domain.errors` the Exchange port raises (e.g. `AuthenticationFailed` for a refused key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.errors import CredentialError, ValidationError
from domain.keys import KeyReport
from domain.market import Balance
from domain.secrets import Credentials, Secret
from domain.venues import PAPER_VENUE, paper_account_key
from exchange.port import Exchange
from persistence.errors import NotFound
from persistence.records import AccountRecord
from persistence.repository import Repository
from persistence.vault import Vault, fingerprint
from services.account_input import (
    AccountInput,
    MasterKeyProblem,
    check_base_url,
    check_exchange,
    check_name,
    credentials,
    usable_vault,
)

__all__ = [
    "AccountInput",
    "AccountView",
    "MasterKeyProblem",
    "PaperOpener",
    "balances",
    "create_account",
    "get_account",
    "key_report",
    "list_accounts",
    "replace_credentials",
]

ExchangeFor = Callable[[int], Exchange]
# Opens (or, when it exists, keeps) an account on the server's paper venue: (venue account key,
# starting balances, fee rate). The running service's `Service.open_paper_account`.
PaperOpener = Callable[[str, Mapping[str, Decimal], Decimal], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    """An account as the API shows it: which key it has, never the key."""

    id: int
    name: str
    exchange: str
    sandbox: bool
    base_url: str | None
    credentials_fingerprint: str | None  # a one-way tag of the API key, to tell keys apart
    credentials_key_version: int | None  # the master key version the key is sealed under
    created_at: datetime
    credentials_created_at: datetime | None
    credentials_rotated_at: datetime | None

    @classmethod
    def of(cls, account: AccountRecord) -> AccountView:
        return cls(
            id=account.id,
            name=account.name,
            exchange=account.exchange,
            sandbox=account.sandbox,
            base_url=account.base_url,
            credentials_fingerprint=account.credentials_fingerprint,
            credentials_key_version=account.credentials_key_version,
            created_at=account.created_at,
            credentials_created_at=account.credentials_created_at,
            credentials_rotated_at=account.credentials_rotated_at,
        )


def create_account(
    repo: Repository,
    vault: Vault | None,
    user_id: int,
    data: AccountInput,
    *,
    now: datetime,
    allowed_hosts: frozenset[str],
    open_paper: PaperOpener | None = None,
) -> AccountRecord:
    """A new account of `user_id`, with its key sealed (live) or its paper venue account opened
    with `data.balances` (paper; refused, field "exchange", when `open_paper` is None: this
    server has no paper exchange).

    Everything is checked before the transaction; inside it, a name the user already has is
    refused (field "name"), whatever the database's collation counts as the same name.

    A paper account's venue account is opened inside the transaction, after the row is written
    and before it commits, so the row never exists without it (an engine of the account would
    find no venue account and stop). If the opening fails, the row is rolled back: nothing is
    written. If the commit fails after it, the venue account is left without a row: harmless
    (nothing trades an account without a row) and taken over by the next attempt, which
    `open_paper` opens again with that attempt's balances. Whatever the opener raises goes
    to the caller (`ExchangeUnavailable` when the venue's file cannot be written).
    """
    check_name(data.name)
    check_exchange(data)
    if data.is_paper:
        if open_paper is None:
            raise ValidationError(
                "this server has no paper exchange (its config file lists no paper markets), "
                "so it cannot hold a paper account",
                field="exchange",
            )
        keys = None
    else:
        check_base_url(data.base_url, allowed_hosts)
        keys = credentials(data.api_key, data.secret, data.passphrase)
        vault = usable_vault(repo, vault)
    user = repo.get_user(user_id)
    if user.deleted:
        raise NotFound(f"user {user_id} does not exist")
    with repo.transaction():
        before = {a.id: a.name for a in repo.list_accounts(user_id)}
        if data.name in before.values():
            raise _taken(data.name)
        account = repo.upsert_account(
            user_id,
            data.name,
            exchange=data.exchange,
            now=now,
            sandbox=data.sandbox,
            base_url=data.base_url,
        )
        if account.id in before:  # the database compares names more loosely than Python
            raise _taken(data.name)
        if keys is not None:
            assert vault is not None
            sealed = vault.seal(keys, user_id=user_id, account_id=account.id)
            account = repo.save_credentials(account.id, sealed, now=now)
        if open_paper is not None and data.is_paper:
            key = paper_account_key(user.name, account.name)
            open_paper(key, dict(data.balances), data.paper_fee_rate)
    return account


def _taken(name: str) -> ValidationError:
    return ValidationError(f"you already have an account named {name!r}", field="name")


def replace_credentials(
    repo: Repository,
    vault: Vault | None,
    user_id: int,
    account_id: int,
    *,
    api_key: Secret | None,
    secret: Secret | None,
    passphrase: Secret | None = None,
    now: datetime,
) -> AccountRecord:
    """Swap a live account's key for a new one (the same key again writes nothing); only the
    row changes here (see the module docstring)."""
    account = get_account(repo, user_id, account_id)
    if account.exchange == PAPER_VENUE:
        raise ValidationError("a paper account has no API key to replace", field="exchange")
    keys = credentials(api_key, secret, passphrase)
    vault = usable_vault(repo, vault, replacing=account_id)
    with repo.transaction():
        account = get_account(repo, user_id, account_id)
        if _holds(repo, vault, account, keys):
            return account
        sealed = vault.seal(keys, user_id=user_id, account_id=account_id)
        return repo.save_credentials(account_id, sealed, now=now)


def _holds(repo: Repository, vault: Vault, account: AccountRecord, keys: Credentials) -> bool:
    """True if the account already has exactly these keys. A stored key that does not open (a
    damaged row) is simply replaced: that is what the user is here to do."""
    stored = repo.load_credentials(account.id)
    if stored is None or stored.fingerprint != fingerprint(keys):
        return False
    try:
        return vault.open(stored, user_id=account.user_id, account_id=account.id) == keys
    except CredentialError:
        return False


def list_accounts(repo: Repository, user_id: int) -> list[AccountRecord]:
    """The user's accounts, oldest first."""
    return repo.list_accounts(user_id)


def get_account(repo: Repository, user_id: int, account_id: int) -> AccountRecord:
    """The user's account `account_id`; NotFound for a missing one and for another user's
    alike (the message does not say which)."""
    try:
        account = repo.get_account(account_id)
    except NotFound:
        account = None
    if account is None or account.user_id != user_id:
        raise NotFound(f"account {account_id} does not exist")
    return account


def key_report(
    repo: Repository, user_id: int, account_id: int, exchange_for: ExchangeFor
) -> KeyReport | None:
    """What the exchange says the account's key may do, with warnings; None when the exchange
    does not tell. The owner is checked before the exchange is asked."""
    get_account(repo, user_id, account_id)
    with _client(exchange_for, account_id) as exchange:
        return exchange.key_report()


def balances(
    repo: Repository, user_id: int, account_id: int, exchange_for: ExchangeFor
) -> dict[str, Balance]:
    """The account's balances per currency, as the exchange reports them now."""
    get_account(repo, user_id, account_id)
    with _client(exchange_for, account_id) as exchange:
        return exchange.fetch_balances()


@contextmanager
def _client(exchange_for: ExchangeFor, account_id: int) -> Iterator[Exchange]:
    """A client for one request, closed after it (`exchange_for` builds a new one per call)."""
    exchange = exchange_for(account_id)
    try:
        yield exchange
    finally:
        exchange.close()
