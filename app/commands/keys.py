"""`martingale keys`: make a master key, and re-encrypt every stored credential under a new one."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from app.commands.db import add_db_option, database_url
from domain.errors import MartingaleError
from persistence.credentials import rotate_master
from persistence.database import make_engine
from persistence.migrate import check_at_head
from persistence.sql_repository import SqlRepository
from persistence.vault import MASTER_KEY_ENV, Vault, generate_key, load_keyring

ROTATE_HELP = f"""\
Re-encrypt every stored exchange credential under a new master key.

The old key(s) come from ${MASTER_KEY_ENV} or --old-key-file; the new key from
--new-key-file (make one with `martingale keys generate --version N`, N higher
than any version in use). Each row is re-encrypted and swapped in its own
transaction, so the command can be interrupted and run again: no row is ever
unreadable, because the old key still opens the rows not yet done.

Afterwards set {MASTER_KEY_ENV} (or the key file) to the new key FIRST, then
the old one, e.g. "v2:<new>,v1:<old>", and restart: the service then seals
with v2 and can still read v1. Once this command reports 0 rows remaining,
the old key can be dropped. The service may keep running meanwhile.
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
            f"${MASTER_KEY_ENV} or in a key file readable only by the service user."
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
        help=f"file with the current key(s), instead of ${MASTER_KEY_ENV}",
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
    try:
        old = load_keyring(
            env_value=None if args.old_key_file else os.environ.get(MASTER_KEY_ENV),
            key_file=args.old_key_file,
        )
        new = load_keyring(env_value=None, key_file=args.new_key_file)
        vault = Vault(old.with_current(new.current))
        url = database_url(args)
        check_at_head(url)
        engine = make_engine(url)
        try:
            report = rotate_master(SqlRepository(engine), vault)
        finally:
            engine.dispose()
    except (MartingaleError, ValueError) as error:
        print(f"martingale keys rotate-master: {error}", file=sys.stderr)
        return 1
    print(
        f"re-encrypted {report.resealed} credential row(s) under key version "
        f"{vault.current_version}; {report.changed_meanwhile} replaced meanwhile; "
        f"{report.remaining} remaining"
    )
    if not report.done:
        print("some rows are still under an older key: keep the old key and run this again")
        return 1
    print(f"all rows are under version {vault.current_version}; the old key may now be removed")
    return 0
