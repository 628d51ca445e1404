"""In-memory repository, auth side: roles, the disabled flag, password hashes, API tokens and
dashboard sessions (the same contract as `persistence.sql_auth`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from persistence.errors import NotFound, PersistenceError
from persistence.memory_accounts import MemoryAccounts
from persistence.memory_state import opt_utc, utc
from persistence.records import TokenRecord, UserRecord, checked_role, checked_token_kind


class MemoryAuth(MemoryAccounts):
    """Mixed into `MemoryRepository`."""

    # --- roles, the disabled flag and passwords ---------------------------------------------
    def set_user_role(self, user_id: int, role: str, *, now: datetime) -> UserRecord:
        checked_role(role)
        with self._tx() as s:
            user = replace(self.get_user(user_id), role=role)
            s.users[user_id] = user
            return user

    def set_user_disabled(self, user_id: int, disabled: bool, *, now: datetime) -> UserRecord:
        with self._tx() as s:
            user = self.get_user(user_id)
            if not disabled:
                user = replace(user, disabled_at=None)
            elif user.disabled_at is None:  # the first time stays
                user = replace(user, disabled_at=utc(now))
            s.users[user_id] = user
            return user

    def set_password_hash(
        self,
        user_id: int,
        password_hash: str | None,
        *,
        now: datetime,
        replacing: str | None = None,
    ) -> bool:
        with self._tx() as s:
            user = self.get_user(user_id)
            if replacing is not None and s.password_hashes.get(user_id) != replacing:
                return False
            if password_hash is None:
                s.password_hashes.pop(user_id, None)
            else:
                s.password_hashes[user_id] = password_hash
            s.users[user_id] = replace(user, has_password=password_hash is not None)
            return True

    def load_password_hash(self, user_id: int) -> str | None:
        self.get_user(user_id)
        return self._s.password_hashes.get(user_id)

    # --- tokens and sessions ----------------------------------------------------------------
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
        checked_token_kind(kind)
        with self._tx() as s:
            self.get_user(user_id)
            if token_hash in s.token_ids:  # the unique index of the SQL table
                raise PersistenceError("database error during create token (duplicate hash)")
            record = TokenRecord(
                id=self._id(),
                user_id=user_id,
                kind=kind,
                name=name,
                prefix=prefix,
                created_at=utc(now),
                expires_at=opt_utc(expires_at),
            )
            s.tokens[record.id] = record
            s.token_ids[token_hash] = record.id
            return record

    def find_token(self, token_hash: str) -> tuple[TokenRecord, UserRecord] | None:
        with self._lock:
            token_id = self._s.token_ids.get(token_hash)
            if token_id is None:
                return None
            token = self._s.tokens[token_id]
            return token, self._s.users[token.user_id]

    def list_tokens(self, user_id: int, *, kind: str | None = "api") -> list[TokenRecord]:
        with self._lock:
            tokens = [
                t
                for t in self._s.tokens.values()
                if t.user_id == user_id and kind in (None, t.kind)
            ]
        return sorted(tokens, key=lambda t: (t.created_at, t.id), reverse=True)

    def _token(self, token_id: int) -> TokenRecord:
        token = self._s.tokens.get(token_id)
        if token is None:
            raise NotFound(f"token {token_id} does not exist")
        return token

    def revoke_token(self, token_id: int, *, now: datetime) -> None:
        with self._tx() as s:
            token = self._token(token_id)
            if token.revoked_at is None:
                s.tokens[token_id] = replace(token, revoked_at=utc(now))

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        with self._tx() as s:
            token = s.tokens.get(token_id)
            if token is not None and (token.last_used_at is None or token.last_used_at < now):
                s.tokens[token_id] = replace(token, last_used_at=utc(now))

    def purge_sessions(self, user_id: int, *, before: datetime) -> int:
        cutoff = utc(before)
        with self._tx() as s:
            gone = [
                t.id
                for t in s.tokens.values()
                if t.user_id == user_id
                and t.kind == "session"
                and (
                    (t.expires_at is not None and t.expires_at < cutoff)
                    or (t.revoked_at is not None and t.revoked_at < cutoff)
                )
            ]
            for token_id in gone:
                del s.tokens[token_id]
            return len(gone)

    def revoke_tokens(self, user_id: int, *, kind: str | None = None, now: datetime) -> int:
        with self._tx() as s:
            revoked = [
                t
                for t in s.tokens.values()
                if t.user_id == user_id and t.revoked_at is None and kind in (None, t.kind)
            ]
            for token in revoked:
                s.tokens[token.id] = replace(token, revoked_at=utc(now))
            return len(revoked)
