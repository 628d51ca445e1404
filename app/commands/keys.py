"""`martingale keys`: make a master key, and re-encrypt every stored credential under a new one."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from app.commands.db_url import add_db_option, database_url
from config.secrets import private_file_problem
from domain.errors import CredentialError, MartingaleError
from persistence.credentials import rotate_master
from persistence.sql_repository import SqlRepository
from persistence.vault import (
    MASTER_KEY_ENV,
    Keyring,
    MasterKey,
    Vault,
    generate_key,
    load_keyring,
)
from services.database import open_repository, url_problem
from services.signals import rotate_signal_secrets

ROTATE_HELP = f"""\
Re-encrypt every stored exchange credential under a new master key.

The old key(s) come from ${MASTER_KEY_ENV} or --old-key-file (not both); the
new key from --new-key-file (make one with `martingale keys generate --version
N`, N higher than any version in use: a lower or equal version is refused).
Key files must be readable by their owner only (chmod 600). Each row is
re-encrypted and swapped in its own transaction, then read back and decrypted
with the new key (a row that does not decrypt gets its old ciphertext back and
the command stops), so the command can be interrupted and run again: no row is
ever unreadable, because the old key still opens the rows not yet done.

The service may keep running meanwhile, but it must be able to open rows
under both keys while this runs: BEFORE it, give the service both keys with
the old one first ("v1:<old>,v2:<new>": it still seals with v1) and restart
it. After it, put the new key first ("v2:<new>,v1:<old>": it seals with v2)
and restart. Once this command reports 0 rows remaining, the old key can be
dropped.
"""


def register(sub: Any) -> None:
    keys: argparse.ArgumentParser = sub.add_parser(
        "keys", help="master key tools (generate, rotate)", description="Master key tools."
    )
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen: argparse.ArgumentParser = keys_sub.add_parser(
        "generate",
        help="print a new random master key",
        description=(
            "Print a new random 256-bit master key as 'v<N>:<base64>'. Put it in "
            f"${MASTER_KEY_ENV} or in a key file readable only by the service user "
            "(e.g. `(umask 077; martingale keys generate --version 2 > new.key)`); a key file "
            "other users can read is refused."
        ),
    )
    gen.add_argument("--version", type=int, default=1, help="key version number (default 1)")
    gen.set_defaults(handler=handle_generate)

    rot: argparse.ArgumentParser = keys_sub.add_parser(
        "rotate-master",
        help="re-encrypt all stored credentials under a new master key",
        description=ROTATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_option(rot)
    rot.add_argument("--new-key-file", required=True, metavar="FILE", help="file with the new key")
    rot.add_argument(
        "--old-key-file",
        metavar="FILE",
        default=None,
        help=f"file with the current key(s), instead of ${MASTER_KEY_ENV} (not both)",
    )
    rot.set_defaults(handler=handle_rotate)


def handle_generate(args: argparse.Namespace) -> int:
    try:
        print(generate_key(args.version))
    except ValueError as error:
        print(f"martingale keys generate: {error}", file=sys.stderr)
        return 2
    return 0


def handle_rotate(args: argparse.Namespace) -> int:
    problem = url_problem(database_url(args))
    if problem is not None:
        print(f"martingale keys rotate-master: --db: {problem}", file=sys.stderr)
        return 2
    try:
        for option, path in (
            ("--new-key-file", args.new_key_file),
            ("--old-key-file", args.old_key_file),
        ):
            problem = private_file_problem(Path(path)) if path else None
            if problem is not None:
                raise CredentialError(f"{option}: {problem}")
        old = _keyring("--old-key-file", os.environ.get(MASTER_KEY_ENV), args.old_key_file)
        new = _keyring("--new-key-file", None, args.new_key_file).current
        url = database_url(args)
        with open_repository(url) as repo:  # read-only until the rotation: never create one
            _check_new_version(repo, old, new)
            vault = Vault(old.with_current(new))
            report = rotate_master(repo, vault)
            signals = rotate_signal_secrets(repo, vault)  # webhook secrets: the same key
    except (MartingaleError, ValueError) as error:
        print(f"martingale keys rotate-master: {error}", file=sys.stderr)
        return 1
    print(
        f"re-encrypted {report.resealed} credential row(s) under key version "
        f"{vault.current_version}; {report.changed_meanwhile} replaced meanwhile; "
        f"{report.remaining} remaining"
    )
    print(
        f"re-encrypted {signals.resealed} signal secret(s); {signals.changed_meanwhile} "
        f"replaced meanwhile; {signals.remaining} remaining"
    )
    if not report.done or signals.remaining:
        print("some rows are still under an older key: keep the old key and run this again")
        return 1
    print(f"all rows are under version {vault.current_version}; the old key may now be removed")
    return 0


def _keyring(option: str, env_value: str | None, key_file: str | None) -> Keyring:
    try:
        return load_keyring(env_value=env_value, key_file=key_file)
    except UnicodeDecodeError:
        raise CredentialError(f"{option}: the file is not a key (not UTF-8 text)") from None


def _check_new_version(repo: SqlRepository, old: Keyring, new: MasterKey) -> None:
    """The new key's version must be higher than the old keys'. Rows already under it (an
    interrupted run being resumed) must open with it: another key of that version is refused."""
    highest = max(old.versions)
    if new.version <= highest:
        raise CredentialError(
            f"the new master key has version {new.version}, which is not higher than version "
            f"{highest} of the current key(s); generate it with "
            f"`martingale keys generate --version {highest + 1}`"
        )
    only_new = Vault(Keyring(current=new))
    for stored in repo.list_credentials():
        if stored.sealed.key_version != new.version:
            continue
        try:
            only_new.open(stored.sealed, user_id=stored.user_id, account_id=stored.account_id)
        except CredentialError:
            raise CredentialError(
                f"account {stored.account_id} is already sealed under version {new.version}, "
                "and the new key file does not open it: it is not the key a previous rotation "
                f"used; generate a key with a version above {new.version} instead"
            ) from None
