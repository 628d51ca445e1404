"""SQL repository, auth side: roles, the disabled flag, password hashes, API tokens and sessions.

No secret reaches this module: services hand it argon2id PHC strings and SHA-256 digests of
tokens. Every authenticated request looks a token up by its digest, then its user: two indexed
Core reads on one connection, no ORM session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, or_, select, update

from persistence import models as m
from persistence import sql_rows
from persistence.records import TokenRecord, UserRecord, checked_role, checked_token_kind
from persistence.sql_base import USER_BY_ID, SqlBase, get_row

_TOKEN_BY_HASH = select(m.API_TOKENS).where(m.API_TOKENS.c.token_hash == bindparam("b_hash"))


class SqlAuth(SqlBase):
    """Mixed into `SqlRepository`; see `persistence.repository` for the contract."""

    # --- roles, the disabled flag and passwords ---------------------------------------------
    def set_user_role(self, user_id: int, role: str, *, now: datetime) -> UserRecord:
        """`now` is not stored (users have no updated_at), taken for the usual signature."""
        checked_role(role)
        with self._write("set user role") as s:
            row = get_row(s, m.User, user_id, "user")
            row.role = role
            s.flush()
            return sql_rows.user(row)

    def set_user_disabled(self, user_id: int, disabled: bool, *, now: datetime) -> UserRecord:
        with self._write("set user disabled") as s:
            row = get_row(s, m.User, user_id, "user")
            if not disabled:
                row.disabled_at = None
            elif row.disabled_at is None:  # the first time stays
                row.disabled_at = now
            s.flush()
            return sql_rows.user(row)

    def set_password_hash(
        self,
        user_id: int,
        password_hash: str | None,
        *,
        now: datetime,
        replacing: str | None = None,
    ) -> bool:
        with self._write("set password hash") as s:
            if replacing is None:
                get_row(s, m.User, user_id, "user").password_hash = password_hash
                return True
            # One conditional UPDATE: a password changed by another transaction meanwhile is
            # never overwritten (a read, then a write, could interleave with it on MySQL).
            result = s.execute(
                update(m.User)
                .where(m.User.id == user_id, m.User.password_hash == replacing)
                .values(password_hash=password_hash)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return True
            get_row(s, m.User, user_id, "user")  # NotFound for no such user
            return False

    def load_password_hash(self, user_id: int) -> str | None:
        with self._read("load password hash") as s:
            return get_row(s, m.User, user_id, "user").password_hash

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
        with self._write("create token") as s:
            get_row(s, m.User, user_id, "user")
            row = m.ApiToken(
                user_id=user_id,
                kind=kind,
                name=name,
                token_hash=token_hash,
                prefix=prefix,
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            return sql_rows.token(row)

    def find_token(self, token_hash: str) -> tuple[TokenRecord, UserRecord] | None:
        with self._rows("find token") as conn:
            token = conn.execute(_TOKEN_BY_HASH, {"b_hash": token_hash}).first()
            if token is None:
                return None
            user = conn.execute(USER_BY_ID, {"b_id": token.user_id}).one()
            return sql_rows.token(token), sql_rows.user(user)

    def list_tokens(self, user_id: int, *, kind: str | None = "api") -> list[TokenRecord]:
        with self._read("list tokens") as s:
            query = (
                select(m.ApiToken)
                .where(m.ApiToken.user_id == user_id)
                .order_by(m.ApiToken.created_at.desc(), m.ApiToken.id.desc())
            )
            if kind is not None:
                query = query.where(m.ApiToken.kind == kind)
            return [sql_rows.token(r) for r in s.scalars(query)]

    def revoke_token(self, token_id: int, *, now: datetime) -> None:
        with self._write("revoke token") as s:
            row = get_row(s, m.ApiToken, token_id, "token")
            if row.revoked_at is None:  # the first revocation's time stays
                row.revoked_at = now

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        table = m.ApiToken
        with self._write("touch token") as s:
            # Only forwards: a late request of another thread never moves the time back.
            s.execute(
                update(table)
                .where(
                    table.id == token_id,
                    or_(table.last_used_at.is_(None), table.last_used_at < now),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )

    def purge_sessions(self, user_id: int, *, before: datetime) -> int:
        table = m.ApiToken
        with self._write("purge sessions") as s:
            result = s.execute(
                delete(table)
                .where(
                    table.user_id == user_id,
                    table.kind == "session",
                    or_(table.expires_at < before, table.revoked_at < before),
                )
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_tokens(self, user_id: int, *, kind: str | None = None, now: datetime) -> int:
        table = m.ApiToken
        with self._write("revoke tokens") as s:
            query = update(table).where(table.user_id == user_id, table.revoked_at.is_(None))
            if kind is not None:
                query = query.where(table.kind == kind)
            result = s.execute(
                query.values(revoked_at=now).execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
