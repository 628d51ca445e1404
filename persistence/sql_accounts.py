"""SQL repository, onboarding side: users, exchange accounts and their sealed credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, select, update

from domain.errors import ValidationError
from domain.events import StopMode
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound
from persistence.records import (
    AccountRecord,
    DesiredState,
    SealedCredentials,
    StoredCredentials,
    UserRecord,
)
from persistence.sql_base import USER_BY_ID, get_row
from persistence.sql_reads import SqlReads


class SqlAccounts(SqlReads):
    """Users, accounts, credentials; `SqlRepository` adds strategies and trading."""

    # --- users and accounts ----------------------------------------------------------------
    def upsert_user(
        self, name: str, *, now: datetime, email: str | None = None, source: str | None = None
    ) -> UserRecord:
        with self._write("upsert user") as s:
            row = s.scalar(select(m.User).where(m.User.name == name))
            if row is None:
                row = m.User(name=name, created_at=now, source=source or "config")
                s.add(row)
            row.deleted_at = None
            if email is not None:
                row.email = email
            if source is not None:
                row.source = source
            s.flush()
            return sql_rows.user(row)

    def get_user(self, user_id: int) -> UserRecord:
        with self._rows("get user") as conn:
            row = conn.execute(USER_BY_ID, {"b_id": user_id}).first()
            if row is None:
                raise NotFound(f"user {user_id} does not exist")
            return sql_rows.user(row)

    def find_user(self, name: str) -> UserRecord | None:
        with self._read("find user") as s:
            row = s.scalar(select(m.User).where(m.User.name == name))
            return None if row is None else sql_rows.user(row)

    def list_users(self, *, include_deleted: bool = False) -> list[UserRecord]:
        with self._read("list users") as s:
            query = select(m.User).order_by(m.User.id)
            if not include_deleted:
                query = query.where(m.User.deleted_at.is_(None))
            return [sql_rows.user(r) for r in s.scalars(query)]

    def delete_user(self, user_id: int, *, now: datetime) -> None:
        with self._write("delete user") as s:
            row = get_row(s, m.User, user_id, "user")
            row.deleted_at = now
            strategy = m.Strategy
            keeps_sell = and_(
                strategy.desired_state == DesiredState.STOPPED.value,
                strategy.stop_mode == StopMode.SELL.value,
            )
            # stop_mode first: MySQL assigns left to right, and later expressions see the new
            # values of earlier columns (the CASE must read the desired state before the stop).
            s.execute(
                update(strategy)
                .where(strategy.user_id == user_id, strategy.deleted_at.is_(None))
                .ordered_values(
                    (
                        strategy.stop_mode,
                        case((keeps_sell, StopMode.SELL.value), else_=StopMode.CANCEL.value),
                    ),
                    (strategy.desired_state, DesiredState.STOPPED.value),
                    (strategy.command_seq, strategy.command_seq + 1),
                    (strategy.updated_at, now),
                )
            )

    def upsert_account(
        self,
        user_id: int,
        name: str,
        *,
        exchange: str,
        now: datetime,
        sandbox: bool = False,
        base_url: str | None = None,
    ) -> AccountRecord:
        base_url = base_url or None
        with self._write("upsert account") as s:
            get_row(s, m.User, user_id, "user")
            row = s.scalar(
                select(m.Account).where(m.Account.user_id == user_id, m.Account.name == name)
            )
            if row is None:
                row = m.Account(
                    user_id=user_id,
                    name=name,
                    exchange=exchange,
                    sandbox=sandbox,
                    base_url=base_url,
                    created_at=now,
                )
                s.add(row)
            elif row.exchange != exchange:
                raise ValidationError(
                    f"account {name!r} already trades on {row.exchange!r}; its history and keys "
                    "belong there, so give the new exchange a new account name",
                    field="exchange",
                )
            elif bool(row.sandbox) != sandbox or row.base_url != base_url:
                row.sandbox, row.base_url = sandbox, base_url
            s.flush()
            return sql_rows.account(row)

    def get_account(self, account_id: int) -> AccountRecord:
        with self._read("get account") as s:
            return sql_rows.account(get_row(s, m.Account, account_id, "account"))

    def list_accounts(self, user_id: int) -> list[AccountRecord]:
        with self._read("list accounts") as s:
            query = select(m.Account).where(m.Account.user_id == user_id).order_by(m.Account.id)
            return [sql_rows.account(r) for r in s.scalars(query)]

    # --- credentials ------------------------------------------------------------------------
    def save_credentials(
        self, account_id: int, sealed: SealedCredentials, *, now: datetime
    ) -> AccountRecord:
        with self._write("save credentials") as s:
            row = get_row(s, m.Account, account_id, "account")
            if row.credentials_ciphertext is None:
                row.credentials_created_at = now
                row.credentials_rotated_at = None
            else:
                row.credentials_rotated_at = now
            row.credentials_ciphertext = sealed.ciphertext
            row.credentials_key_version = sealed.key_version
            row.credentials_fingerprint = sealed.fingerprint
            s.flush()
            return sql_rows.account(row)

    def load_credentials(self, account_id: int) -> SealedCredentials | None:
        with self._read("load credentials") as s:
            return sql_rows.sealed(get_row(s, m.Account, account_id, "account"))

    def list_credentials(self, *, not_key_version: int | None = None) -> list[StoredCredentials]:
        with self._read("list credentials") as s:
            query = select(m.Account).where(m.Account.credentials_ciphertext.is_not(None))
            if not_key_version is not None:
                query = query.where(m.Account.credentials_key_version != not_key_version)
            out = []
            for row in s.scalars(query.order_by(m.Account.id)):
                sealed = sql_rows.sealed(row)
                assert sealed is not None
                out.append(StoredCredentials(account_id=row.id, user_id=row.user_id, sealed=sealed))
            return out

    def reseal_credentials(
        self, account_id: int, *, expected_ciphertext: str, sealed: SealedCredentials
    ) -> bool:
        with self._write("reseal credentials") as s:
            result = s.execute(
                update(m.Account)
                .where(
                    m.Account.id == account_id,
                    m.Account.credentials_ciphertext == expected_ciphertext,
                )
                .values(
                    credentials_ciphertext=sealed.ciphertext,
                    credentials_key_version=sealed.key_version,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]
