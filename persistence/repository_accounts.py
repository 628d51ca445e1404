"""The repository's users, exchange accounts and their sealed credentials (see
`persistence.repository` for the contract every method keeps).

Credentials come here as ciphertext only: the vault seals and opens them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from persistence.records import AccountRecord, SealedCredentials, StoredCredentials, UserRecord


class AccountsRepository(Protocol):
    """Who trades (users) and where (accounts, with their keys): what onboarding writes and what
    a running service polls to swap in a replaced key."""

    # --- users and accounts ----------------------------------------------------------------
    def upsert_user(
        self, name: str, *, now: datetime, email: str | None = None, source: str | None = None
    ) -> UserRecord:
        """`email` None keeps the stored one; `source` ("config" or "api": who manages the
        user) None keeps the stored one, and a new user gets "config"."""
        ...

    def get_user(self, user_id: int) -> UserRecord: ...
    def find_user(self, name: str) -> UserRecord | None: ...
    def list_users(self, *, include_deleted: bool = False) -> list[UserRecord]: ...
    def delete_user(self, user_id: int, *, now: datetime) -> None:
        """Soft delete: hide the user, ask its strategies to stop; keep all history.

        Each strategy not deleted gets a stop command (a counted one: `command_seq`, so a
        running service's poll sees it) in mode CANCEL: resting orders are cancelled and the
        position is kept, since nobody is left to decide what to sell. A stop in mode SELL the
        user had asked for is kept (a market exit may already be under way).
        """
        ...

    def deployment_tag(self) -> str:
        """This database's deployment tag: four lowercase letters, fixed for its lifetime."""
        ...

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
        """`sandbox` and `base_url` (the venue environment) are stored or updated; changing
        `exchange` is refused (the account's history and keys belong to the old one)."""
        ...

    def get_account(self, account_id: int) -> AccountRecord: ...
    def list_accounts(self, user_id: int) -> list[AccountRecord]: ...

    # --- credentials (ciphertext only; the vault seals and opens) -------------------------
    def save_credentials(
        self, account_id: int, sealed: SealedCredentials, *, now: datetime
    ) -> AccountRecord:
        """Store or replace an account's sealed credentials (sets created or rotated time)."""
        ...

    def load_credentials(self, account_id: int) -> SealedCredentials | None: ...
    def list_credentials(self, *, not_key_version: int | None = None) -> list[StoredCredentials]:
        """All stored credentials, or only those sealed under a key other than the one given."""
        ...

    def reseal_credentials(
        self, account_id: int, *, expected_ciphertext: str, sealed: SealedCredentials
    ) -> bool:
        """Swap the ciphertext if it is still `expected_ciphertext`; False if it changed."""
        ...

    # --- what a running service polls (issue 12) --------------------------------------------
    def list_changed_accounts(
        self, *, changed_since: datetime | None = None
    ) -> list[AccountRecord]:
        """Accounts of users not deleted, by id, created or whose credentials were stored or
        replaced (`created_at`, `credentials_created_at`, `credentials_rotated_at`) at or after
        `changed_since`; every one when None. What the root supervisor polls to swap in a
        replaced key while the account's strategies keep running.
        """
        ...
