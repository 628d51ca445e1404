"""Live accounts' API keys during an onboarding sync: the master key, and which keys to store.

Rules, in the order a sync meets them:
- The master key must open every key the database already holds. A wrong or incomplete master
  key would otherwise seal the file's keys under a key the stored rows do not share, leaving a
  database whose keys no single master key opens; the sync is refused before it writes.
- A key the file's sources provide replaces the stored one only when it differs (the stored
  ciphertext is opened and compared; nothing is re-encrypted for nothing).
- A live account whose sources are all absent (variables unset, files not there) keeps the
  key the database holds, so `martingale run` does not need them again once they are stored;
  with nothing stored either, the missing sources are reported as for any bad file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NoReturn

from config.loader import ConfigError, ConfigProblem, format_path
from config.notify_secrets import has_notifications
from config.schema import MASTER_KEY_ENV, LiveAccount, ServiceConfig
from config.secrets import resolve_master_key
from domain.errors import CredentialError
from domain.secrets import Credentials
from persistence.records import AccountRecord
from persistence.repository import Repository
from persistence.vault import Vault, fingerprint, parse_keyring

Loc = tuple[str | int, ...]


def has_live_accounts(config: ServiceConfig) -> bool:
    return any(isinstance(a, LiveAccount) for u in config.users for a in u.accounts)


def vault_for(config: ServiceConfig, *, env: Mapping[str, str] | None = None) -> Vault | None:
    """The vault of the configured master key; None when no key is configured and every
    account of the config is on paper. A key configured for a paper-only config still gives a
    vault: accounts added later through the API or the dashboard store their keys with it.

    Raises ConfigError when a live account exists but no master key is configured (or it is
    configured twice), and CredentialError when the key is malformed (the message names its
    source, never the key).
    """
    key = resolve_master_key(config, env=env)
    if key is None and not has_live_accounts(config) and not has_notifications(config):
        return None
    if key is None:
        refuse(
            config,
            _first_live_account(config) or _first_notification(config),
            f"a live account's keys and notification URLs are stored encrypted, which "
            f"needs the master key: "
            f"set {MASTER_KEY_ENV} or master_key_file (create a key with "
            "`martingale keys generate`)",
        )
    source = "master_key_file" if config.master_key_file is not None else MASTER_KEY_ENV
    return Vault(parse_keyring(key.reveal(), source=source))


def check_vault_opens_stored(repo: Repository, vault: Vault) -> None:
    """Refuse a master key that cannot open every key the database holds (see module doc)."""
    for stored in repo.list_credentials():
        try:
            vault.open(stored.sealed, user_id=stored.user_id, account_id=stored.account_id)
        except CredentialError:
            account = repo.get_account(stored.account_id)
            user = repo.get_user(stored.user_id)
            raise CredentialError(
                f"the configured master key cannot open the stored API key of account "
                f"{user.name}/{account.name} (sealed under key version "
                f"{stored.sealed.key_version}; configured: "
                f"{', '.join(map(str, vault.key_versions))}); nothing was written: set "
                f"{MASTER_KEY_ENV} or master_key_file to the key this database uses (during a "
                "rotation: the new key first, then the old one)"
            ) from None


def store_if_changed(
    repo: Repository,
    vault: Vault,
    account: AccountRecord,
    credentials: Credentials,
    *,
    now: datetime,
) -> str:
    """Seal and store the file's key unless the stored one is the same; returns "created",
    "updated" or "unchanged".

    The fingerprint covers the API key alone, so on a match the stored ciphertext is opened
    and the secret and passphrase compared too.
    """
    stored = repo.load_credentials(account.id)
    if stored is not None and stored.fingerprint == fingerprint(credentials):
        same = vault.open(stored, user_id=account.user_id, account_id=account.id)
        if same == credentials:
            return "unchanged"
    sealed = vault.seal(credentials, user_id=account.user_id, account_id=account.id)
    repo.save_credentials(account.id, sealed, now=now)
    return "created" if stored is None else "updated"


def config_file(config: ServiceConfig) -> str:
    return str(config.source_file) if config.source_file is not None else "config"


def refuse(config: ServiceConfig, where: Loc, message: str) -> NoReturn:
    """Raise a ConfigError naming the file, the entry's path and its line. Raised inside a
    sync's transaction (a change the stored history forbids), it rolls back whatever that sync
    wrote before."""
    raise ConfigError(
        config_file(config),
        [ConfigProblem(format_path(where), message, config.source_line(where))],
    )


def _first_notification(config: ServiceConfig) -> Loc:
    for i, user in enumerate(config.users):
        if user.notifications:
            return ("users", i, "notifications", 0)
    return ()


def _first_live_account(config: ServiceConfig) -> Loc:
    for i, user in enumerate(config.users):
        for j, account in enumerate(user.accounts):
            if isinstance(account, LiveAccount):
                return ("users", i, "accounts", j)
    return ()
