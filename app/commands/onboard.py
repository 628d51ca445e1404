"""`martingale onboard`: sync a config file into the database without starting anything.

Order matters for "a bad file changes nothing": the file is validated and every credential it
names is read before the database is opened; only then is the schema checked (a brand-new
SQLite file is created at head, an existing database that is behind is refused) and the sync
run in one transaction. Exit status: 0 synced, 2 bad file or credentials, 1 database problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from config.loader import load_config
from config.secrets import resolved_url
from domain.errors import ConfigurationError, CredentialError, MartingaleError
from services.database import check_config_url, is_new_sqlite, open_repository
from services.market_files import check_market_files
from services.onboarding import sync_config, vault_for


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "onboard",
        help="create or update users, accounts, keys and strategies from a config file",
        description=(
            "Validate the whole config file, then make the database match it: users (with "
            "email), accounts, live accounts' API keys (read from the named environment "
            "variables or files and stored encrypted under the master key; an account whose "
            "variables and files are all absent keeps the key already stored) and strategies "
            "(parameters always; the file's state: / enabled: only for a new strategy or when "
            "the file's value changed since the last sync, so a pause, stop or resume recorded "
            "with `martingale strategy` stays). Running it twice changes nothing. A strategy "
            "removed from the file, or every strategy of a removed user, is stopped, never "
            "deleted. A bad file exits with status 2 and changes nothing, as does a master key "
            "that cannot open the keys already stored. A database that does not exist yet "
            "(the default SQLite file) is created; an existing one whose schema is behind is "
            "refused: run `martingale db upgrade` first."
        ),
    )
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="path to the onboarding YAML file"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON (counts per kind)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        check_config_url(config)
        check_market_files(config)  # every candle file, before anything is written
        vault = vault_for(config)
        url = resolved_url(config)
    except (ConfigurationError, CredentialError) as exc:
        return _fail(exc, 2)
    try:
        created = is_new_sqlite(url)
        with open_repository(url, create=True) as repo:
            report = sync_config(config, repo, vault, now=datetime.now(UTC))
    except (ConfigurationError, CredentialError) as exc:
        return _fail(exc, 2)
    except (MartingaleError, ValueError) as exc:
        return _fail(exc, 1)
    if args.json:
        print(json.dumps({"database_created": created, **report.as_dict()}, indent=2))
        return 0
    if created:
        print("created a new database at the current schema")
    print(report.summary())
    print("synced" if report.changed else "already in sync: nothing written")
    return 0


def _fail(exc: Exception, status: int) -> int:
    print(f"martingale onboard: error: {exc}", file=sys.stderr)
    return status
