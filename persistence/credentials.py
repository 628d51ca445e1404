"""Credential operations that need both the vault and the repository.

Master key rotation is row by row: each row is re-encrypted and swapped in its own transaction,
guarded by its old ciphertext, so an interrupted run leaves every row readable (old rows under
the old key, which stays configured until a run reports nothing remaining) and a rerun simply
continues. A key replaced meanwhile by `replace_credentials` is never overwritten. Each swapped
row is read back and decrypted under the new key before the next one: a row the database did
not keep as written (a column too short, a charset mangling the text) gets its old ciphertext
back and the rotation stops, so it never leaves a key that nothing can open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.errors import CredentialError
from domain.secrets import Credentials
from persistence.errors import NotFound
from persistence.notify_targets import rotate_targets
from persistence.records import AccountRecord, StoredCredentials
from persistence.repository import Repository
from persistence.repository_accounts import AccountsRepository
from persistence.vault import Vault


def store_credentials(
    repo: AccountsRepository,
    vault: Vault,
    account_id: int,
    credentials: Credentials,
    *,
    now: datetime,
) -> AccountRecord:
    """Seal and store an account's credentials (first time, or the same as replacing)."""
    account = repo.get_account(account_id)
    sealed = vault.seal(credentials, user_id=account.user_id, account_id=account.id)
    return repo.save_credentials(account.id, sealed, now=now)


def replace_credentials(
    repo: AccountsRepository,
    vault: Vault,
    account_id: int,
    credentials: Credentials,
    *,
    now: datetime,
) -> AccountRecord:
    """Swap one account's exchange key for a new one; the account must already have one."""
    if repo.load_credentials(account_id) is None:
        raise NotFound(f"account {account_id} has no credentials to replace; store them first")
    return store_credentials(repo, vault, account_id, credentials, now=now)


def load_credentials(repo: AccountsRepository, vault: Vault, account_id: int) -> Credentials | None:
    account = repo.get_account(account_id)
    sealed = repo.load_credentials(account_id)
    if sealed is None:
        return None
    return vault.open(sealed, user_id=account.user_id, account_id=account.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationReport:
    resealed: int  # rows this run moved to the current key
    changed_meanwhile: int  # rows replaced by someone else during the run (left as they are)
    remaining: int  # rows still under an older key: keep the old key and run again

    @property
    def done(self) -> bool:
        return self.remaining == 0


def rotate_master(
    repo: Repository,
    vault: Vault,
    *,
    on_row: Callable[[StoredCredentials], None] | None = None,
) -> RotationReport:
    """Re-encrypt every row not yet under the vault's current key, one transaction per row."""
    resealed = changed = 0
    for stored in repo.list_credentials(not_key_version=vault.current_version):
        if on_row is not None:
            on_row(stored)
        ids = {"user_id": stored.user_id, "account_id": stored.account_id}
        plain = vault.open(stored.sealed, **ids)
        fresh = vault.seal(plain, **ids)
        if repo.reseal_credentials(
            stored.account_id, expected_ciphertext=stored.sealed.ciphertext, sealed=fresh
        ):
            _check_written(repo, vault, stored, plain)
            resealed += 1
        else:
            changed += 1
    remaining = len(repo.list_credentials(not_key_version=vault.current_version))
    # Notification targets' URLs (bot tokens, passwords) are sealed under the same key.
    targets = rotate_targets(repo, vault)
    return RotationReport(
        resealed=resealed + targets[0],
        changed_meanwhile=changed + targets[1],
        remaining=remaining + targets[2],
    )


def _check_written(
    repo: AccountsRepository, vault: Vault, stored: StoredCredentials, plain: Credentials
) -> None:
    """Read the swapped row back and open it; on any difference put the old ciphertext back."""
    written = repo.load_credentials(stored.account_id)
    if written is None:  # deleted meanwhile: nothing left to protect
        return
    try:
        same = vault.open(written, user_id=stored.user_id, account_id=stored.account_id) == plain
    except CredentialError:
        same = False
    if same:
        return
    repo.reseal_credentials(
        stored.account_id, expected_ciphertext=written.ciphertext, sealed=stored.sealed
    )
    raise CredentialError(
        f"rotation stopped at account {stored.account_id}: its key re-encrypted under version "
        f"{vault.current_version} did not decrypt back from the database, so its previous "
        f"ciphertext (version {stored.sealed.key_version}) was put back; check that the "
        "database stores the ciphertext whole, then run the rotation again"
    )
