"""`martingale strategy signal-url USER STRATEGY (--config FILE | --db URL) [--rotate]`: make
(or, with --rotate, replace) a strategy's webhook signal URL and secret, and print both once.

Neither can be shown again: the URL's token is stored as a hash, the secret sealed under the
master key (so this needs the service's master key: `master_key_file` or
$MARTINGALE_MASTER_KEY). Exit status: 0 printed, 2 bad input (unknown user or strategy, a URL
already made without --rotate, no master key), 1 database or key problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from config.loader import load_config
from config.schema import ServiceConfig
from config.secrets import resolve_master_key, resolved_url
from domain.errors import ConfigurationError, MartingaleError
from persistence.vault import MASTER_KEY_ENV, Vault, parse_keyring
from services.account_input import usable_vault
from services.control import find_strategy
from services.database import open_repository, url_problem
from services.signals import SignalKeyExists, issue_signal_key, waits_for_signal

NAME = "martingale strategy signal-url"


def handle_signal_url(args: argparse.Namespace, user: str, strategy: str) -> int:
    try:
        config = load_config(args.config) if args.config else None
        url = resolved_url(config) if config is not None else args.db
        vault = _vault(config)
    except ConfigurationError as exc:
        return _fail(exc, 2)
    except MartingaleError as exc:
        return _fail(exc, 1)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"{'database.url' if args.config else '--db'}: {problem}", 2)
    if vault is None:
        return _fail(
            f"no master key: a signal secret is stored encrypted; set {MASTER_KEY_ENV} or "
            "master_key_file to the service's master key",
            2,
        )
    try:
        with open_repository(url) as repo:
            found = repo.find_user(user)
            if found is None:
                return _fail(f"USER: no user named {user!r}", 2)
            record = find_strategy(repo, found.id, strategy)
            if record is None:
                return _fail(f"STRATEGY: user {user!r} has no strategy {strategy!r}", 2)
            issued = issue_signal_key(
                repo,
                usable_vault(repo, vault),
                record,
                now=datetime.now(UTC),
                rotate=args.rotate,
            )
    except SignalKeyExists as exc:
        return _fail(f"{exc}: add --rotate", 2)
    except MartingaleError as exc:
        return _fail(exc, 1)
    base = _base(config)
    print(f"signal URL of {user}/{strategy} (shown once, keep it private):")
    print(f"  {base}{issued.path}")
    print("secret (shown once):")
    print(f"  {issued.secret}")
    print("TradingView alert message:")
    print(f"  {json.dumps({'secret': issued.secret, 'time': '{{timenow}}'})}")
    print(
        "or sign the body instead of sending the secret: "
        "X-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>"
    )
    if config is None:
        print("(prefix the path with the address your server is reached at)", file=sys.stderr)
    if not waits_for_signal(record):
        print(
            f"note: {user}/{strategy} does not start on a signal yet (start_condition is not "
            "signal): signals are refused (400) until it does",
            file=sys.stderr,
        )
    return 0


def _vault(config: ServiceConfig | None) -> Vault | None:
    if config is not None:
        key = resolve_master_key(config)
        if key is None:
            return None
        source = "master_key_file" if config.master_key_file is not None else MASTER_KEY_ENV
        return Vault(parse_keyring(key.reveal(), source=source))
    text = os.environ.get(MASTER_KEY_ENV, "").strip()
    return Vault(parse_keyring(text, source=MASTER_KEY_ENV)) if text else None


def _base(config: ServiceConfig | None) -> str:
    """Where `martingale run` serves the API, by the config (a proxy's address may differ)."""
    if config is None:
        return ""
    host = config.web.host
    return f"http://{f'[{host}]' if ':' in host else host}:{config.web.port}"


def _fail(exc: Exception | str, status: int) -> int:
    print(f"{NAME}: error: {exc}", file=sys.stderr)
    return status
