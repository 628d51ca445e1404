"""Passwords: argon2id hashes, the rules a new password must meet, the login itself, and a user
changing its own password.

The hasher uses argon2-cffi's RFC 9106 "low memory" profile: argon2id, t=3 passes over m=64 MiB
with p=4 lanes. That exceeds OWASP's minimum for argon2id (m=19 MiB, t=2, p=1) on every axis,
and costs about 0.15 s per hash on one core of a small server: slow for a guesser, bearable for
a login. The parameters live in each stored PHC string, so they can be raised later: a login
with a hash made under other parameters stores a new one (`check_needs_rehash`).
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import DatabaseUnavailable, ValidationError
from persistence.errors import NotFound
from persistence.repository import Repository
from services.login_limit import LoginLimiter
from services.principal import LOGIN_FAILED, AuthenticationFailed, Principal

HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
MIN_LENGTH = 12
MAX_LENGTH = 1024  # long enough for any passphrase, short enough not to be a way to load us
WRONG_PASSWORD = "the current password is wrong; nothing was changed"  # noqa: S105 (a message)


def check_password_rules(password: str) -> None:
    """A new password: 12 to 1024 characters, not only whitespace. (Length is what makes a
    password hard to guess; composition rules mostly make it hard to remember.)"""
    if not isinstance(password, str):
        raise ValidationError("the password must be text", field="password")
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"the password must be at least {MIN_LENGTH} characters long", field="password"
        )
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            f"the password must be at most {MAX_LENGTH} characters long", field="password"
        )
    if not password.strip():
        raise ValidationError("the password must not be only whitespace", field="password")


def hash_password(password: str, *, hasher: PasswordHasher = HASHER) -> str:
    """The argon2id PHC string of a new password (its rules checked first)."""
    check_password_rules(password)
    return hasher.hash(password)


def set_password(
    repo: Repository,
    user_id: int,
    password: str,
    *,
    now: datetime,
    hasher: PasswordHasher = HASHER,
    replacing: str | None = None,
) -> bool:
    """Set (or replace) a user's password and end the user's dashboard sessions: whoever changes
    a password because it leaked wants the sessions opened with it gone. API tokens stay.

    With `replacing` (a stored hash), only while that hash is still the stored one: False, and
    nothing written, when the password was changed meanwhile. True when set."""
    new_hash = hash_password(password, hasher=hasher)  # before the transaction: it is slow
    with repo.transaction():
        user = repo.get_user(user_id)
        if user.deleted:
            raise NotFound(f"user {user_id} does not exist")
        if not repo.set_password_hash(user_id, new_hash, now=now, replacing=replacing):
            return False
        repo.revoke_tokens(user_id, kind="session", now=now)
    return True


def change_password(
    repo: Repository,
    limiter: LoginLimiter,
    user_id: int,
    current: str,
    new: str,
    *,
    address: str,
    now: datetime,
    hasher: PasswordHasher = HASHER,
) -> None:
    """A user changes its own password, proving it knows the current one.

    The current password is checked as a login checks it: throttled first (`LoginThrottled`),
    and a wrong one counted as a failed login under the user's name and the address, so this
    is no way around the login's limits for whoever holds a stolen session or token. Then the
    new password must meet the rules and differ from the current one (ValidationError,
    field "new_password"). Setting it ends every dashboard session of the user, the caller's
    too (`set_password`); a password changed by someone else since it was checked is not
    overwritten (`AuthenticationFailed`, as for a wrong one: the one given is no longer it).
    """
    user = repo.get_user(user_id)
    if user.deleted:
        raise NotFound(f"user {user_id} does not exist")
    reservation = limiter.reserve(user.name, address)
    try:
        stored = None if user.disabled else repo.load_password_hash(user.id)
        verified = _verify(hasher, stored, current)
    except BaseException:
        limiter.release(reservation)  # no verdict (database down): not the caller's failure
        raise
    if not verified or stored is None:
        raise AuthenticationFailed(WRONG_PASSWORD)  # the reservation stays, as a failure
    limiter.record_success(user.name, address, reservation=reservation)
    try:
        check_password_rules(new)
    except ValidationError as exc:
        raise ValidationError(
            str(exc).replace("the password", "the new password"), field="new_password"
        ) from None
    if new == current:
        raise ValidationError(
            "the new password must differ from the current one", field="new_password"
        )
    if not set_password(repo, user_id, new, now=now, hasher=hasher, replacing=stored):
        raise AuthenticationFailed(WRONG_PASSWORD)


def authenticate_password(
    repo: Repository,
    limiter: LoginLimiter,
    name: str,
    password: str,
    *,
    address: str,
    now: datetime,
    hasher: PasswordHasher = HASHER,
) -> Principal:
    """Log in with a user name and password.

    `LoginThrottled` comes first, before any verification. Then an unknown user, a deleted one,
    a disabled one, one without a password and a wrong password all raise the same
    `AuthenticationFailed`, after the same argon2 verification (against a dummy hash when there
    is nothing to verify against), so neither the message nor the time tells a guesser which
    names exist, or that a user is disabled.
    """
    reservation = limiter.reserve(name, address)
    try:
        user = repo.find_user(name) if isinstance(name, str) else None
        stored = None
        if user is not None and not user.deleted and not user.disabled:
            stored = repo.load_password_hash(user.id)
        verified = _verify(hasher, stored, password)
    except BaseException:
        limiter.release(reservation)  # no verdict (database down): not the caller's failure
        raise
    if not verified or user is None or stored is None:
        raise AuthenticationFailed(LOGIN_FAILED)  # the reservation stays, as a failure
    limiter.record_success(name, address, reservation=reservation)
    if hasher.check_needs_rehash(stored):
        # Parameters were raised since this hash was made: store one under the current ones,
        # unless the password was changed meanwhile (its new hash must not be overwritten).
        # Best effort: the password was right, and the next login tries again.
        with suppress(DatabaseUnavailable):
            repo.set_password_hash(user.id, hasher.hash(password), now=now, replacing=stored)
    return Principal(
        user_id=user.id, name=user.name, role=user.role, token_id=None, kind="password"
    )


def _verify(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    """argon2 verification, against a dummy hash when there is no stored one, so that both
    paths cost the same. A password too long to be anyone's is refused without hashing it."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    try:
        hasher.verify(stored or _dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash made with the hasher's own parameters (so it costs what a real one does) of a
    password nobody knows."""
    return hasher.hash(secrets.token_urlsafe(32))
