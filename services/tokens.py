"""API tokens and dashboard sessions: bearer secrets that are shown once and stored hashed.

A secret is "mgt_" + 256 random bits (URL-safe base64). Only its SHA-256 is stored: a fast hash
is enough for a secret nobody can guess (argon2 is for passwords, which people choose), and it
lets a request find its token with one indexed lookup. The "mgt_" prefix makes a leaked token
easy to spot (secret scanners, logs); `prefix`, its next 8 characters, tells tokens apart.

Sessions are the same rows with kind "session" and an expiry; the dashboard's CSRF token is
derived from the session secret, so it needs no storage and dies with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.records import TokenRecord
from persistence.repository import Repository
from services.principal import TOKEN_FAILED, AuthenticationFailed, Principal

TOKEN_PREFIX = "mgt_"  # noqa: S105 (marks our tokens; not a secret)
PREFIX_CHARS = 8
NAME_MAX = 64
SESSION_TTL = timedelta(hours=12)
SESSION_KEPT = timedelta(days=30)  # an ended session row, before a login deletes it
# last_used_at is for people ("used yesterday"), not an audit trail: one write a minute per
# token at most, not one per request.
TOUCH_EVERY = timedelta(minutes=1)
_SECRET = re.compile(r"^mgt_[A-Za-z0-9_-]{32,128}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A new token and its secret: hand the secret to its owner once; it is stored nowhere."""

    record: TokenRecord
    secret: str = field(repr=False)


def token_digest(secret: str) -> str:
    """What the database stores of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_token_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise ValidationError(f"a token name must be 1 to {NAME_MAX} characters", field="name")
    if not name.strip() or not name.isprintable():
        raise ValidationError(
            "a token name must be printable text, not only whitespace", field="name"
        )
    return name


def issue_token(
    repo: Repository,
    user_id: int,
    *,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
    kind: str = "api",
) -> IssuedToken:
    """A new token for a user that exists and is not deleted (NotFound otherwise)."""
    check_token_name(name)
    if expires_at is not None:
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValidationError("the expiry must carry a time zone", field="expires_at")
        if expires_at <= now:
            raise ValidationError("the expiry must be in the future", field="expires_at")
    if repo.get_user(user_id).deleted:
        raise NotFound(f"user {user_id} does not exist")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = repo.create_token(
        user_id,
        kind=kind,
        name=name,
        token_hash=token_digest(secret),
        prefix=secret[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + PREFIX_CHARS],
        now=now,
        expires_at=expires_at,
    )
    return IssuedToken(record=record, secret=secret)


def authenticate_token(
    repo: Repository, secret: str, *, now: datetime, kind: str = "api"
) -> Principal:
    """The principal a bearer secret stands for. Unknown, revoked, expired, of another kind
    (a session cookie is no API token), or of a deleted or disabled user: one
    `AuthenticationFailed`. (Disabling revokes the user's tokens; checking the user too refuses
    any token made while it was disabled, and does not depend on that revocation.)"""
    if not isinstance(secret, str) or not _SECRET.match(secret):
        raise AuthenticationFailed(TOKEN_FAILED)
    found = repo.find_token(token_digest(secret))
    if found is None:
        raise AuthenticationFailed(TOKEN_FAILED)
    token, user = found
    if token.kind != kind or token.revoked or token.expired(now) or user.deleted or user.disabled:
        raise AuthenticationFailed(TOKEN_FAILED)
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        repo.touch_token(token.id, now=now)
    return Principal(user_id=user.id, name=user.name, role=user.role, token_id=token.id, kind=kind)


def list_tokens(repo: Repository, user_id: int) -> list[TokenRecord]:
    """The user's API tokens, revoked ones too, newest first (no secret, no hash: none is kept)."""
    return repo.list_tokens(user_id, kind="api")


def revoke_token(repo: Repository, user_id: int, token_id: int, *, now: datetime) -> None:
    """Revoke one of the user's own API tokens. Another user's token, a session and a token
    that does not exist all raise the same NotFound: whose ids exist is nobody's business."""
    if not any(t.id == token_id for t in repo.list_tokens(user_id, kind="api")):
        raise NotFound(f"token {token_id} does not exist")
    repo.revoke_token(token_id, now=now)


# --- dashboard sessions -------------------------------------------------------------------------
def issue_session(
    repo: Repository,
    user_id: int,
    *,
    now: datetime,
    ttl: timedelta = SESSION_TTL,
    name: str = "dashboard",
) -> IssuedToken:
    """A session after a successful login; its secret goes in the cookie, and nowhere else.

    Each login leaves a row, so each login also deletes the user's sessions that ended more
    than SESSION_KEPT ago (kept that long for whoever reads who logged in when): the table
    grows with the logins of a month, not of the service's whole life."""
    if ttl <= timedelta(0):
        raise ValidationError("a session must last some time", field="ttl")
    issued = issue_token(repo, user_id, name=name, now=now, expires_at=now + ttl, kind="session")
    repo.purge_sessions(user_id, before=now - SESSION_KEPT)
    return issued


def authenticate_session(repo: Repository, secret: str, *, now: datetime) -> Principal:
    return authenticate_token(repo, secret, now=now, kind="session")


def end_session(repo: Repository, secret: str, *, now: datetime) -> None:
    """Log out: revoke the session. Nothing happens for a secret that is no live session (a
    logout twice, or with a stale cookie, is not an error)."""
    if not isinstance(secret, str) or not _SECRET.match(secret):
        return
    found = repo.find_token(token_digest(secret))
    if found is not None and found[0].kind == "session" and not found[0].revoked:
        repo.revoke_token(found[0].id, now=now)


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 keyed by the session secret. A page embeds it in
    its forms; a cross-site form cannot know it, and it does not reveal the secret."""
    return hmac.new(session_secret.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


def check_csrf(session_secret: str, presented: str | None) -> bool:
    """True if `presented` is this session's CSRF token (compared in constant time)."""
    if not isinstance(presented, str):
        return False
    expected = csrf_token(session_secret).encode("ascii")
    return hmac.compare_digest(expected, presented.encode("utf-8", "replace"))
