"""Webhook signal keys (issue 16): the URL and shared secret that let an outside sender (a
TradingView alert, a script) start a strategy's cycle when its start condition is `signal`.

A key is two secrets, both shown once, when it is made or rotated:
- the URL token ("mgw_" + 256 random bits) sits in the URL; only its SHA-256 is stored, so the
  webhook finds its strategy with one indexed read, and nobody can read the URL back;
- the shared secret ("mgs_" + 256 random bits) is what a request proves it knows: as a field
  of the JSON body (TradingView cannot sign) or as the key of an HMAC-SHA256 of the body. The
  HMAC needs the secret itself, so it is sealed with the vault (AES-GCM under the master key,
  bound to the strategy) rather than hashed.
A rotation replaces both at once: the old URL and secret stop working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from domain.errors import MartingaleError
from domain.secrets import Secret, register_secret
from persistence.records import StrategyRecord
from persistence.records_signal import SignalKeyRecord, SignalRecord
from persistence.repository import Repository
from persistence.vault import MASTER_KEY_ENV, Vault
from services.account_input import MasterKeyProblem
from services.tokens import token_digest
from strategy.options import StartKind
from strategy.params import MartingaleParams

TOKEN_PREFIX = "mgw_"  # noqa: S105 (marks a webhook URL token; not a secret)
SECRET_PREFIX = "mgs_"  # noqa: S105 (marks a signal secret; not a secret)
SIGNAL_PATH = "/api/v1/signals/"
PURPOSE = "signal-secret"
RECENT_SIGNALS = 20  # what the strategy page lists


class SignalKeyExists(MartingaleError):
    """The strategy already has a signal key; only a rotation replaces it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedSignalKey:
    """A new or rotated key: hand the token (in its URL) and the secret to the owner once."""

    record: SignalKeyRecord
    token: str = field(repr=False)
    secret: str = field(repr=False)

    @property
    def path(self) -> str:
        return SIGNAL_PATH + self.token


def _owner(strategy_id: int) -> str:
    return f"strategy={strategy_id}"


def seal_secret(vault: Vault, secret: str, strategy_id: int) -> str:
    return vault.seal_text(secret, purpose=PURPOSE, owner=_owner(strategy_id))


def open_secret(vault: Vault, key: SignalKeyRecord) -> Secret:
    """The key's shared secret, registered with the log redactor."""
    secret = vault.open_text(
        key.secret_ciphertext,
        purpose=PURPOSE,
        owner=_owner(key.strategy_id),
        what=f"the signal secret of strategy {key.strategy_id}",
    )
    register_secret(secret)
    return secret


def waits_for_signal(strategy: StrategyRecord) -> bool:
    """True when the strategy's start condition is `signal` (what a webhook may start)."""
    params = MartingaleParams.from_mapping(strategy.params)
    return params.start_condition.kind is StartKind.SIGNAL


def issue_signal_key(
    repo: Repository,
    vault: Vault | None,
    strategy: StrategyRecord,
    *,
    now: datetime,
    rotate: bool = False,
) -> IssuedSignalKey:
    """A new key for `strategy` (the caller checked it is the user's). Without `rotate`, a
    strategy that has one is refused (`SignalKeyExists`): replacing it breaks every alert that
    uses the old URL, so it must be asked for."""
    if vault is None:
        raise MasterKeyProblem(
            "this server has no master key, so it cannot store a signal secret: set "
            f"{MASTER_KEY_ENV} or master_key_file (create a key with `martingale keys generate`)"
        )
    if not rotate and repo.get_signal_key(strategy.id) is not None:
        raise SignalKeyExists(
            f"strategy {strategy.name!r} already has a signal URL; rotate it to get a new one "
            "(the old URL and secret then stop working)"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    register_secret(secret)
    record = repo.save_signal_key(
        strategy.id,
        token_hash=token_digest(token),
        secret_ciphertext=seal_secret(vault, secret, strategy.id),
        key_version=vault.current_version,
        now=now,
    )
    return IssuedSignalKey(record=record, token=token, secret=secret)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalKeyState:
    """What the owner may see of a strategy's signal key: whether there is one and when it
    was made (never its token or secret: neither is stored readable), and the signals it
    brought, newest first. Only accepted signals are stored: a refused one (wrong secret,
    stale, replayed) is answered to its sender and kept nowhere."""

    key: SignalKeyRecord | None
    waits_for_signal: bool
    recent: list[SignalRecord]


def signal_key_state(
    repo: Repository, strategy: StrategyRecord, *, limit: int = RECENT_SIGNALS
) -> SignalKeyState:
    """The state of `strategy`'s key (the caller checked it is the user's)."""
    return SignalKeyState(
        key=repo.get_signal_key(strategy.id),
        waits_for_signal=waits_for_signal(strategy),
        recent=repo.recent_signals(strategy.id, limit=limit),
    )


def revoke_signal_key(repo: Repository, strategy: StrategyRecord) -> bool:
    """Delete `strategy`'s key: its URL and secret stop working at once (the webhook then
    answers them as it answers an unknown URL). True if there was one to revoke."""
    return repo.delete_signal_key(strategy.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResealReport:
    resealed: int
    changed_meanwhile: int
    remaining: int


def rotate_signal_secrets(repo: Repository, vault: Vault) -> ResealReport:
    """Re-encrypt every signal secret not under the vault's current key (master key rotation),
    one row per transaction, each guarded by its old ciphertext like exchange keys."""
    resealed = changed = 0
    for key in repo.list_signal_keys(not_key_version=vault.current_version):
        plain = open_secret(vault, key)
        fresh = seal_secret(vault, plain.reveal(), key.strategy_id)
        if repo.reseal_signal_key(
            key.strategy_id,
            expected_ciphertext=key.secret_ciphertext,
            secret_ciphertext=fresh,
            key_version=vault.current_version,
        ):
            resealed += 1
        else:
            changed += 1
    remaining = len(repo.list_signal_keys(not_key_version=vault.current_version))
    return ResealReport(resealed=resealed, changed_meanwhile=changed, remaining=remaining)
