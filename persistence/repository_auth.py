"""The repository's side of logging in: users' roles, the disabled flag, password hashes, API
tokens and dashboard sessions (issue 12; see `persistence.repository` for the contract).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from persistence.records import TokenRecord, UserRecord


class AuthRepository(Protocol):
    """Who may do what through the REST API and the dashboard."""

    # --- users' roles, passwords, API tokens and sessions (issue 12) ----------------------
    # Only argon2id PHC strings and SHA-256 digests of tokens come here, never a secret; no
    # read hands a hash back except `load_password_hash`, which the login needs.
    def set_user_role(self, user_id: int, role: str, *, now: datetime) -> UserRecord:
        """`role` in `records.ROLES` (ValidationError field="role"); NotFound for no user."""
        ...

    def set_user_disabled(self, user_id: int, disabled: bool, *, now: datetime) -> UserRecord:
        """Set `disabled_at` to `now`, or clear it; the flag only (the rules, the tokens and the
        strategies are `services.users.set_disabled`'s). Disabling a disabled user keeps its
        first time. NotFound for no user."""
        ...

    def set_password_hash(
        self,
        user_id: int,
        password_hash: str | None,
        *,
        now: datetime,
        replacing: str | None = None,
    ) -> bool:
        """Store or (None) clear the user's password hash; `UserRecord.has_password` follows.

        With `replacing`, only if the stored hash is still that one (atomically): a login that
        re-hashes under new parameters must not undo a password change made meanwhile. True
        when written.
        """
        ...

    def load_password_hash(self, user_id: int) -> str | None: ...
    def create_token(
        self,
        user_id: int,
        *,
        kind: str,
        name: str,
        token_hash: str,
        prefix: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> TokenRecord:
        """`kind` "api" or "session" (ValidationError field="kind"); a token hash already
        stored is refused (PersistenceError: the column is unique)."""
        ...

    def find_token(self, token_hash: str) -> tuple[TokenRecord, UserRecord] | None:
        """The token with that hash and its user, in one query, whatever their state (revoked,
        expired, deleted user): the caller decides what to refuse."""
        ...

    def list_tokens(self, user_id: int, *, kind: str | None = "api") -> list[TokenRecord]:
        """All the user's tokens of `kind` (None: every kind), revoked ones too, newest first."""
        ...

    def revoke_token(self, token_id: int, *, now: datetime) -> None:
        """Idempotent: a revoked token keeps its first revocation time. NotFound for no token."""
        ...

    def purge_sessions(self, user_id: int, *, before: datetime) -> int:
        """Delete the user's dashboard sessions that expired or were revoked before `before`
        (API tokens stay: their owner lists and revokes them). The number deleted."""
        ...

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        """Set the last-used time; only forwards, and nothing for a token that does not exist."""
        ...

    def revoke_tokens(self, user_id: int, *, kind: str | None = None, now: datetime) -> int:
        """Revoke the user's live tokens of `kind` (None: all); how many were revoked."""
        ...
