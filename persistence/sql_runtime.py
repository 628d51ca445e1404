"""SQL repository, what a running service polls besides desired states: accounts whose
credentials were stored or replaced (a key replaced while its strategies keep running)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, or_, select

from persistence import models as m
from persistence import sql_rows
from persistence.records import AccountRecord
from persistence.sql_base import SqlBase

ACCOUNTS = cast(Table, m.Account.__table__)
USERS = cast(Table, m.User.__table__)
_ACCOUNTS = (
    select(ACCOUNTS)
    .join(USERS, USERS.c.id == ACCOUNTS.c.user_id)
    .where(USERS.c.deleted_at.is_(None))
    .order_by(ACCOUNTS.c.id)
)


class SqlRuntime(SqlBase):
    def list_changed_accounts(
        self, *, changed_since: datetime | None = None
    ) -> list[AccountRecord]:
        query = _ACCOUNTS
        if changed_since is not None:
            query = query.where(
                or_(
                    ACCOUNTS.c.created_at >= changed_since,
                    ACCOUNTS.c.credentials_created_at >= changed_since,
                    ACCOUNTS.c.credentials_rotated_at >= changed_since,
                )
            )
        with self._read("list changed accounts") as s:
            return [sql_rows.account(row) for row in s.connection().execute(query)]
