"""What a user may ask for when they create an exchange account through the API, checked.

The API is not the config file: the file names key *sources* (variables, files beside it),
while a request carries the key and secret themselves. So every value is checked here before
anything is written, and no message ever repeats a key, a secret or a passphrase. `base_url`
is where the service will send the key: through the API it must be https and on the server's
allow-list, or a user could point their account (and the service's requests) at any host.

A paper account has no key but starting `balances` and a `fee_rate`, checked as the config
file's PaperAccount checks them (asset names, amounts the database can hold, a fee fraction);
a live account's balances are the exchange's, so it refuses both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

from config.fields import NAME_RULE, is_name
from config.numbers import number_problem, shown
from config.schema import MASTER_KEY_ENV, base_url_problem
from domain.errors import CredentialError, ValidationError
from domain.secrets import Credentials, Secret, register_credentials
from domain.venues import PAPER_VENUE
from exchange.ccxt_adapter import is_known_exchange
from persistence.records import StoredCredentials
from persistence.repository import Repository
from persistence.vault import Vault

# Longest key material accepted: an RSA-4096 private key in PEM (binance accepts RSA and
# Ed25519 keys as the "secret") is about 3.3 kB; anything longer is a paste gone wrong.
MAX_SECRET_LENGTH = 8192
# A paper account's starting assets: a few in practice; a bound keeps a request from making the
# venue write thousands of balance rows.
MAX_PAPER_ASSETS = 50
_ASSET = re.compile(r"[A-Z0-9]{1,16}")  # the config file's rule (config.schema.PaperAccount)
DEFAULT_PAPER_FEE_RATE = Decimal("0.001")  # the config file's default (binance spot's base rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInput:
    """A new account as the API receives it; the key material stays `Secret` (masked)."""

    name: str
    exchange: str  # "paper" or a ccxt exchange id
    sandbox: bool = False
    base_url: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    secret: Secret | None = field(default=None, repr=False)
    passphrase: Secret | None = field(default=None, repr=False)
    balances: Mapping[str, Decimal] = field(default_factory=dict)  # paper only: asset -> amount
    fee_rate: Decimal | None = None  # paper only; None: DEFAULT_PAPER_FEE_RATE

    @property
    def is_paper(self) -> bool:
        return self.exchange == PAPER_VENUE

    @property
    def paper_fee_rate(self) -> Decimal:
        return DEFAULT_PAPER_FEE_RATE if self.fee_rate is None else self.fee_rate


class MasterKeyProblem(CredentialError):
    """The server cannot store keys: it has no master key, or one that does not open the keys
    the database already holds. A server-side problem, not the request's: the web answers 503.
    """


def check_name(name: str) -> None:
    if not is_name(name):
        raise ValidationError(f"not a valid account name: {NAME_RULE}", field="name")


def check_exchange(data: AccountInput) -> None:
    """Paper takes no key and no endpoint; anything else must be an exchange ccxt knows."""
    if data.is_paper:
        if any(v is not None for v in (data.api_key, data.secret, data.passphrase)):
            raise ValidationError(
                "a paper account has no API key: leave out api_key, secret and passphrase",
                field="api_key",
            )
        if data.base_url is not None:
            raise ValidationError("a paper account has no endpoint", field="base_url")
        if data.sandbox:
            raise ValidationError("a paper account has no sandbox", field="sandbox")
        check_paper_balances(data.balances)
        check_fee_rate(data.fee_rate)
        return
    if not is_known_exchange(data.exchange):
        raise ValidationError(
            "not an exchange this service knows: use 'paper' or a ccxt exchange id such as "
            "'binance'",
            field="exchange",
        )
    if data.balances:
        raise ValidationError(
            "only a paper account takes balances: a live account's are the exchange's",
            field="balances",
        )
    if data.fee_rate is not None:
        raise ValidationError(
            "only a paper account takes a fee rate: a live account pays the exchange's",
            field="fee_rate",
        )


def check_paper_balances(balances: Mapping[str, Decimal]) -> None:
    """Upper-case asset names (as in the config file), each amount an exact Decimal >= 0 the
    database can hold, at most MAX_PAPER_ASSETS of them."""
    if not isinstance(balances, Mapping):
        raise ValidationError("must map asset names to amounts", field="balances")
    if len(balances) > MAX_PAPER_ASSETS:
        raise ValidationError(
            f"at most {MAX_PAPER_ASSETS} assets, got {len(balances)}", field="balances"
        )
    for asset, amount in balances.items():
        if not isinstance(asset, str) or _ASSET.fullmatch(asset) is None:
            raise ValidationError(
                f"asset {shown(asset)} must be 1-16 upper-case letters or digits, e.g. BTC",
                field="balances",
            )
        problem = _amount_problem(amount)
        if problem is None and amount < 0:
            problem = "must not be negative"
        if problem is not None:
            raise ValidationError(f"{asset}: {shown(amount)} {problem}", field="balances")


def check_fee_rate(fee_rate: Decimal | None) -> None:
    """None (the default rate) or a fraction in [0, 1), as the config file's fee_rate."""
    if fee_rate is None:
        return
    problem = _amount_problem(fee_rate)
    if problem is None and not 0 <= fee_rate < 1:
        problem = "must be a fraction in [0, 1) such as 0.001 for 0.1%"
    if problem is not None:
        raise ValidationError(f"{shown(fee_rate)} {problem}", field="fee_rate")


def _amount_problem(value: object) -> str | None:
    """Why `value` is not an exact, finite Decimal of the size the database holds; None if it
    is. Floats are refused: they are already inexact."""
    if not isinstance(value, Decimal):
        return "must be a decimal number (not a float)"
    if not value.is_finite():
        return "is not a finite number"
    return number_problem(value)


def check_base_url(base_url: str | None, allowed_hosts: Iterable[str]) -> None:
    """https only, no query or fragment, and the host (with its port, if the URL names one)
    exactly one of `allowed_hosts`, compared without regard to case."""
    if base_url is None:
        return
    problem = base_url_problem(base_url)
    if problem is not None:
        raise ValidationError(problem, field="base_url")
    parts = urlsplit(base_url)
    if parts.scheme != "https":
        raise ValidationError("must be an https URL: the API key is sent to it", field="base_url")
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        raise ValidationError("must not have a query or a fragment", field="base_url")
    allowed = sorted({host.strip().lower() for host in allowed_hosts if host.strip()})
    if parts.netloc.lower() not in allowed:
        hosts = ", ".join(allowed) if allowed else "none: this server accepts no base_url"
        raise ValidationError(
            f"the host is not on this server's allow-list (allowed: {hosts})", field="base_url"
        )


def credentials(
    api_key: Secret | None, secret: Secret | None, passphrase: Secret | None
) -> Credentials:
    """The key material of a live account, trimmed of surrounding blanks as the config file's
    are; api_key and secret are required. Registered with the log redactor at once."""
    key = _trimmed(api_key, "api_key")
    if key is not None and any(c.isspace() or not c.isprintable() for c in key.reveal()):
        raise ValidationError(
            "must not contain spaces, line breaks or control characters", field="api_key"
        )
    sec = _trimmed(secret, "secret")
    for value, name in ((key, "api_key"), (sec, "secret")):
        if value is None:
            raise ValidationError(f"a live account needs its {name}", field=name)
    assert key is not None and sec is not None
    found = Credentials(api_key=key, secret=sec, passphrase=_trimmed(passphrase, "passphrase"))
    register_credentials(found)
    return found


def _trimmed(value: Secret | None, name: str) -> Secret | None:
    if value is None:
        return None
    text = value.reveal().strip()
    if not text:
        return None
    if len(text) > MAX_SECRET_LENGTH:
        raise ValidationError(f"longer than {MAX_SECRET_LENGTH} characters", field=name)
    if any(not c.isprintable() and c not in "\r\n" for c in text):
        raise ValidationError("must not contain control characters", field=name)
    return Secret(text)


def usable_vault(repo: Repository, vault: Vault | None, *, replacing: int | None = None) -> Vault:
    """The vault, if it can store keys that the rest of the service will open: one that opens
    a stored key of every master key version in use (the keys of one version share one master
    key, so one per version proves it). A server whose master key differs from the service's
    would otherwise store keys the service can never open. The key of account `replacing` is
    not counted: it is about to go, and a damaged one is a reason to replace it."""
    if vault is None:
        raise MasterKeyProblem(
            "this server has no master key, so it cannot store API keys: set "
            f"{MASTER_KEY_ENV} or master_key_file (create a key with `martingale keys generate`)"
        )
    by_version: dict[int, list[StoredCredentials]] = {}
    for stored in repo.list_credentials():
        if stored.account_id == replacing:
            continue
        by_version.setdefault(stored.sealed.key_version, []).append(stored)
    for version, rows in sorted(by_version.items()):
        if not any(_opens(vault, row) for row in rows):
            # No account named: the rows may be other users' accounts.
            raise MasterKeyProblem(
                f"this server's master key (versions {', '.join(map(str, vault.key_versions))})"
                f" cannot open the API keys the database holds under key version {version}; "
                "nothing was written: configure the server with the database's master key"
            )
    return vault


def _opens(vault: Vault, stored: StoredCredentials) -> bool:
    try:
        vault.open(stored.sealed, user_id=stored.user_id, account_id=stored.account_id)
    except CredentialError:
        return False
    return True
