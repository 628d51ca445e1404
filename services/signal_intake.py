"""A webhook signal arriving: authenticate it, check it is fresh and new, and record it.

The web writes the row and nothing else; the service's engines take it from the database
(`Repository.unconsumed_signals` / `consume_signal`). What is checked, in this order:

1. The body is one JSON object (TradingView posts the alert's message as it is).
2. Authentication. The URL token finds the strategy's key; the request proves it knows the
   key's shared secret, either with ``X-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
   or, for senders that cannot sign (TradingView), with a ``secret`` field in the body. Both are
   compared in constant time. A malformed or unknown token, a deleted strategy, a deleted or
   disabled owner and a wrong secret or signature all fail the same way (`SignalRefused`), so
   the answer says nothing about which tokens exist.
3. Only then what needs the strategy: its start condition must be `signal`
   (`SignalNotExpected`); the timestamp (``time``, ISO-8601 as TradingView's ``{{timenow}}``,
   or ``timestamp``, epoch seconds) must be at most `max_lag` seconds old and at most
   `FUTURE_SKEW` ahead; the nonce (``nonce`` or ``id``; else the SHA-256 of the body) must be
   new for the strategy (`SignalReplayed`). A stale timestamp also bounds how long a nonce must
   be remembered: a signal older than `max_lag` is refused anyway, so pruning old rows is safe.

No message here quotes the body, the secret or the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import ValidationError
from persistence.errors import DuplicateSignal, NotFound
from persistence.records_signal import SignalRecord
from persistence.repository import Repository
from persistence.vault import Vault
from services.account_input import MasterKeyProblem
from services.signals import TOKEN_PREFIX, open_secret
from services.tokens import token_digest
from strategy.options import StartKind
from strategy.params import MartingaleParams

MAX_BODY_BYTES = 8 * 1024
FUTURE_SKEW = timedelta(seconds=5)
NONCE_MAX = 64
SIGNATURE_HEADER = "X-Signature"
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{32,64}}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
REFUSED = "signal refused: unknown URL, or wrong secret or signature"


class SignalRefused(Exception):
    """Not authenticated (401); the same whatever was wrong."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class SignalReplayed(Exception):
    """The strategy already received a signal with this nonce (409)."""


class SignalNotExpected(Exception):
    """The strategy's start condition is not `signal` (400)."""


def accept_signal(
    repo: Repository,
    vault: Vault | None,
    token: str,
    body: bytes,
    *,
    signature: str | None,
    now: datetime,
) -> SignalRecord:
    """Check a webhook request (see the module doc) and record its signal."""
    data = _json_object(body)
    key = repo.find_signal_key(token_digest(token)) if _TOKEN.match(token) else None
    if key is None:
        _compare(secrets.token_bytes(32), body, signature, data)  # the same work as a real one
        raise SignalRefused
    try:
        strategy = repo.get_strategy(key.strategy_id)
        user = repo.get_user(strategy.user_id)
    except NotFound:
        raise SignalRefused from None
    if strategy.deleted_at is not None or user.deleted or user.disabled:
        raise SignalRefused
    if vault is None:
        raise MasterKeyProblem(
            "this server has no master key, so it cannot check signals; configure the "
            "service's master key"
        )
    secret = open_secret(vault, key).reveal().encode()
    if not _compare(secret, body, signature, data):
        raise SignalRefused
    params = MartingaleParams.from_mapping(strategy.params)
    condition = params.start_condition
    if condition.kind is not StartKind.SIGNAL:
        raise SignalNotExpected(
            f"strategy {strategy.name!r} starts its cycles on {condition.kind.value}, not on a "
            "signal: set its start_condition to signal to use this URL"
        )
    signal_at = signal_time(data, now=now, max_lag=condition.max_lag)
    nonce = signal_nonce(data, body)
    try:
        return repo.record_signal(strategy.id, nonce=nonce, signal_at=signal_at, now=now)
    except DuplicateSignal:
        raise SignalReplayed(
            "this signal was already received (same nonce, or the same body): a replay is "
            "refused; give each signal its own nonce or id"
        ) from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValidationError(
            'must be a JSON object, e.g. {"secret": "...", "time": "{{timenow}}"}', field="body"
        ) from None
    if not isinstance(data, dict):
        raise ValidationError("must be a JSON object, not a list or a value", field="body")
    return data


def _compare(secret: bytes, body: bytes, signature: str | None, data: dict[str, Any]) -> bool:
    """True if the request proves it knows `secret`; constant time in what it compares."""
    if signature is not None:
        match = _SIGNATURE.match(signature.strip())
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        presented = match[1].lower() if match else ""
        return hmac.compare_digest(expected.encode(), presented.encode()) and match is not None
    given = data.get("secret")
    if not isinstance(given, str):
        hmac.compare_digest(secret, secret)
        return False
    return hmac.compare_digest(secret, given.encode("utf-8", "replace"))


def signal_time(data: dict[str, Any], *, now: datetime, max_lag: int) -> datetime:
    """The signal's time, checked against `now`: at most `max_lag` seconds old, at most
    `FUTURE_SKEW` ahead (a sender's clock may run a little fast)."""
    if data.get("time") is not None:
        name, at = "time", _iso_time(data["time"])
    elif data.get("timestamp") is not None:
        name, at = "timestamp", _epoch_time(data["timestamp"])
    else:
        raise ValidationError(
            'is required: "time" (ISO-8601, e.g. TradingView\'s {{timenow}}) or "timestamp" '
            "(epoch seconds)",
            field="time",
        )
    if at < now - timedelta(seconds=max_lag):
        age = int((now - at).total_seconds())
        raise ValidationError(
            f"the signal is stale: {age} s old, and the strategy's start_condition.max_lag "
            f"accepts {max_lag} s",
            field=name,
        )
    if at > now + FUTURE_SKEW:
        ahead = int((at - now).total_seconds())
        raise ValidationError(
            f"the signal is {ahead} s in the future (at most {int(FUTURE_SKEW.total_seconds())}"
            " s is allowed): check the sender's clock",
            field=name,
        )
    return at


def _iso_time(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError("must be an ISO-8601 time, e.g. 2026-01-02T03:04:05Z", field="time")
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            "must be an ISO-8601 time, e.g. 2026-01-02T03:04:05Z", field="time"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("must carry a time zone (Z or +00:00)", field="time")
    return at.astimezone(UTC)


def _epoch_time(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError("must be epoch seconds, a number", field="timestamp")
    try:
        seconds = Decimal(str(value).strip())
        if not seconds.is_finite() or not 0 < seconds < 10**11:
            raise InvalidOperation
        return datetime.fromtimestamp(int(seconds), UTC) + timedelta(
            microseconds=int((seconds % 1) * 1_000_000)
        )
    except (InvalidOperation, ValueError, OverflowError):
        raise ValidationError("must be epoch seconds, a number", field="timestamp") from None


def signal_nonce(data: dict[str, Any], body: bytes) -> str:
    """The sender's `nonce` (or `id`), else the SHA-256 of the body: one signal, one row."""
    for name in ("nonce", "id"):
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("must be a string or a whole number", field=name)
        text = str(value)
        if not 1 <= len(text) <= NONCE_MAX or not text.isprintable():
            raise ValidationError(f"must be 1 to {NONCE_MAX} printable characters", field=name)
        return text
    return hashlib.sha256(body).hexdigest()
