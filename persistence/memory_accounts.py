"""In-memory repository, base and onboarding side: the atomic state swap, users, exchange
accounts and their sealed credentials (see `persistence.memory`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from domain.errors import ValidationError
from domain.events import StopMode
from persistence.deployment import checked_deployment_tag, new_deployment_tag
from persistence.errors import NotFound
from persistence.memory_reads import MemoryReads
from persistence.memory_state import State, utc
from persistence.records import (
    AccountRecord,
    DesiredState,
    SealedCredentials,
    StoredCredentials,
    UserRecord,
)


class MemoryAccounts(MemoryReads):
    """Users, accounts, credentials; `MemoryRepository` adds strategies and trading."""

    def __init__(self, *, deployment_tag: str | None = None) -> None:
        """`deployment_tag`: this fake database's tag; random (as a migration makes it) if None."""
        self._s = State()
        self._lock = threading.RLock()
        self._tag = checked_deployment_tag(deployment_tag or new_deployment_tag())

    def deployment_tag(self) -> str:
        return self._tag

    @contextmanager
    def _tx(self) -> Iterator[State]:
        with self._lock:
            saved = self._s.copy()
            try:
                yield self._s
            except BaseException:
                self._s = saved
                raise

    def _id(self) -> int:
        self._s.next_id += 1
        return self._s.next_id - 1

    # --- users and accounts ----------------------------------------------------------------
    def upsert_user(
        self, name: str, *, now: datetime, email: str | None = None, source: str | None = None
    ) -> UserRecord:
        with self._tx() as s:
            found = self.find_user(name)
            user = found or UserRecord(id=self._id(), name=name, created_at=utc(now))
            user = replace(user, deleted_at=None)
            if email is not None:
                user = replace(user, email=email)
            if source is not None:
                user = replace(user, source=source)
            s.users[user.id] = user
            return user

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All calls inside commit together or not at all (nested operations join it)."""
        with self._tx():
            yield

    def get_user(self, user_id: int) -> UserRecord:
        if user_id not in self._s.users:
            raise NotFound(f"user {user_id} does not exist")
        return self._s.users[user_id]

    def find_user(self, name: str) -> UserRecord | None:
        return next((u for u in self._s.users.values() if u.name == name), None)

    def list_users(self, *, include_deleted: bool = False) -> list[UserRecord]:
        users = sorted(self._s.users.values(), key=lambda u: u.id)
        return [u for u in users if include_deleted or not u.deleted]

    def delete_user(self, user_id: int, *, now: datetime) -> None:
        with self._tx() as s:
            s.users[user_id] = replace(self.get_user(user_id), deleted_at=utc(now))
            for sid, strategy in s.strategies.items():
                if strategy.user_id != user_id or strategy.deleted_at is not None:
                    continue
                selling = (strategy.desired_state, strategy.stop_mode) == (
                    DesiredState.STOPPED,
                    StopMode.SELL,
                )
                s.strategies[sid] = replace(
                    strategy,
                    desired_state=DesiredState.STOPPED,
                    stop_mode=StopMode.SELL if selling else StopMode.CANCEL,
                    command_seq=strategy.command_seq + 1,
                    updated_at=utc(now),
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
        with self._tx() as s:
            self.get_user(user_id)
            for account in s.accounts.values():
                if account.user_id == user_id and account.name == name:
                    if account.exchange != exchange:
                        raise ValidationError(
                            f"account {name!r} already trades on {account.exchange!r}; its "
                            "history and keys belong there, so give the new exchange a new "
                            "account name",
                            field="exchange",
                        )
                    if (account.sandbox, account.base_url) != (sandbox, base_url):
                        moved = replace(account, sandbox=sandbox, base_url=base_url)
                        s.accounts[account.id] = moved
                        return moved
                    return account
            record = AccountRecord(
                id=self._id(),
                user_id=user_id,
                name=name,
                exchange=exchange,
                created_at=utc(now),
                sandbox=sandbox,
                base_url=base_url,
            )
            s.accounts[record.id] = record
            return record

    def get_account(self, account_id: int) -> AccountRecord:
        if account_id not in self._s.accounts:
            raise NotFound(f"account {account_id} does not exist")
        return self._s.accounts[account_id]

    def list_accounts(self, user_id: int) -> list[AccountRecord]:
        return sorted(
            (a for a in self._s.accounts.values() if a.user_id == user_id), key=lambda a: a.id
        )

    # --- credentials ------------------------------------------------------------------------
    def save_credentials(
        self, account_id: int, sealed: SealedCredentials, *, now: datetime
    ) -> AccountRecord:
        with self._tx() as s:
            account = self.get_account(account_id)
            first = account_id not in s.sealed
            account = replace(
                account,
                credentials_fingerprint=sealed.fingerprint,
                credentials_key_version=sealed.key_version,
                credentials_created_at=utc(now) if first else account.credentials_created_at,
                credentials_rotated_at=None if first else utc(now),
            )
            s.accounts[account_id] = account
            s.sealed[account_id] = sealed
            return account

    def load_credentials(self, account_id: int) -> SealedCredentials | None:
        self.get_account(account_id)
        return self._s.sealed.get(account_id)

    def list_credentials(self, *, not_key_version: int | None = None) -> list[StoredCredentials]:
        return [
            StoredCredentials(account_id=aid, user_id=self._s.accounts[aid].user_id, sealed=sealed)
            for aid, sealed in sorted(self._s.sealed.items())
            if not_key_version is None or sealed.key_version != not_key_version
        ]

    def reseal_credentials(
        self, account_id: int, *, expected_ciphertext: str, sealed: SealedCredentials
    ) -> bool:
        with self._tx() as s:
            current = s.sealed.get(account_id)
            if current is None or current.ciphertext != expected_ciphertext:
                return False
            s.sealed[account_id] = replace(
                current, ciphertext=sealed.ciphertext, key_version=sealed.key_version
            )
            s.accounts[account_id] = replace(
                s.accounts[account_id], credentials_key_version=sealed.key_version
            )
            return True
