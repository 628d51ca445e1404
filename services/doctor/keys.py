"""The doctor's look at the master key and the credentials it guards.

- the master key: present where the service looks (master_key_file, else $MARTINGALE_MASTER_KEY,
  never both), well-formed, and needed at all (stored API keys, signal secrets or notification
  URLs, or live accounts in the config);
- its file: a regular file that only its owner may access, owned by the user running the
  doctor (run it as the service's user: a file the service cannot read stops it at start);
- every stored credential opens with it. The accounts' API keys are checked here, the signal
  secrets and notification URLs sealed under the same key in `services.doctor.sealed`;
  passwords and API tokens are stored as one-way hashes, nothing to decrypt.

Rows that do not open are named by user, account and account id, never by content: a
ciphertext is no secret to a thief with the key, and the key never appears at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config.secrets import private_file_problem
from domain.errors import CredentialError, MartingaleError
from domain.secrets import Credentials
from persistence.records import AccountRecord
from persistence.repository import Repository
from persistence.vault import MASTER_KEY_ENV, Vault, load_keyring
from services.doctor.report import Check, fail, na, ok, skip

GENERATE = "create one with `martingale keys generate` (chmod 600 for a key file)"


@dataclass(frozen=True, slots=True)
class OpenedKey:
    """A live account whose stored key opened: what the exchange checks need."""

    label: str  # "user/account"
    account: AccountRecord
    credentials: Credentials


def master_key_checks(
    *, key_file: Path | None, env_value: str | None, needed: bool | None
) -> tuple[list[Check], Vault | None]:
    """The master key and key file checks, and the vault (None without a usable key).
    `needed`: whether anything needs a key (None: unknown, the database could not be read)."""
    checks = [key_file_check(key_file)]
    if key_file is not None and env_value:
        checks.insert(
            0,
            fail(
                "master_key",
                f"both master_key_file and ${MASTER_KEY_ENV} are set; the service refuses "
                "to guess between them",
                f"unset {MASTER_KEY_ENV} or remove master_key_file",
            ),
        )
        return checks, None
    if key_file is None and not env_value:
        if needed is False:
            checks.insert(0, na("master_key", "none configured, and nothing needs one"))
        elif needed is None:
            checks.insert(
                0, skip("master_key", "none configured; whether one is needed is unknown")
            )
        else:
            checks.insert(
                0,
                fail(
                    "master_key",
                    f"none configured (master_key_file or ${MASTER_KEY_ENV}), but stored secrets "
                    "(API keys, signal secrets, notification URLs) or configured live API keys "
                    "need one",
                    GENERATE,
                ),
            )
        return checks, None
    try:
        keyring = load_keyring(env_value=env_value, key_file=key_file)
    except (CredentialError, UnicodeDecodeError) as error:
        why = str(error) if isinstance(error, CredentialError) else "the file is not UTF-8 text"
        checks.insert(0, fail("master_key", why, GENERATE))
        return checks, None
    source = f"file {key_file}" if key_file is not None else f"${MASTER_KEY_ENV}"
    versions = ", ".join(map(str, keyring.versions))
    checks.insert(0, ok("master_key", f"read from {source} (key versions: {versions})"))
    return checks, Vault(keyring)


def key_file_check(path: Path | None, *, uid: int | None = None) -> Check:
    name = "master_key_file"
    if path is None:
        return na(name, f"no key file (the key, if any, comes from ${MASTER_KEY_ENV})")
    problem = private_file_problem(path)
    if problem is not None:
        return fail(name, f"{path}: {problem}")
    owner, me = path.stat().st_uid, os.geteuid() if uid is None else uid
    if owner != me:
        return fail(
            name,
            f"{path} is owned by uid {owner}, not by the user running this check (uid {me})",
            "run the doctor as the service's user, and chown the file to that user",
        )
    return ok(name, f"{path} is private to its owner (uid {owner})")


def credential_checks(repo: Repository, vault: Vault | None) -> tuple[Check, list[OpenedKey]]:
    """Whether every stored API key opens, and the keys that did (for the exchange checks)."""
    name = "credentials"
    try:
        stored = repo.list_credentials()
    except MartingaleError as error:
        return fail(name, f"cannot read the stored API keys: {error}"), []
    if not stored:
        return na(name, "no API keys are stored"), []
    if vault is None:
        return skip(name, f"{len(stored)} stored API key(s), but no usable master key"), []
    opened: list[OpenedKey] = []
    failed: list[str] = []
    for row in stored:
        account = repo.get_account(row.account_id)
        label = f"{user_name(repo, row.user_id)}/{account.name}"
        try:
            keys = vault.open(row.sealed, user_id=row.user_id, account_id=row.account_id)
        except CredentialError:
            failed.append(
                f"{label} (account {row.account_id}, key version {row.sealed.key_version})"
            )
            continue
        opened.append(OpenedKey(label, account, keys))
    if failed:
        return fail(
            name,
            f"{len(failed)} of {len(stored)} stored API key(s) do not decrypt: {listed(failed)}",
            "configure the master key they were sealed with (older versions after the current "
            "one), or store those accounts' keys again",
        ), opened
    return ok(name, f"all {len(stored)} stored API key(s) decrypt"), opened


def user_name(repo: Repository, user_id: int) -> str:
    try:
        return repo.get_user(user_id).name
    except MartingaleError:
        return f"user {user_id}"


def listed(items: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
