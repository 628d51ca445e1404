"""`martingale run`: the long-running service."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from app.bootstrap import Service
from app.leases import shares_database
from app.web_process import make_web
from config.loader import load_config
from config.logging import configure_logging
from config.secrets import resolved_url
from domain.errors import ConfigurationError, CredentialError, MartingaleError
from persistence.ownership import ServiceLock, config_sync_lock
from services.database import check_config_url, missing_mysql_database, open_repository
from services.market_files import check_market_files
from services.onboarding import sync_config, vault_for


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run every user's strategies from a config file",
        description=(
            "Validate the config file, take the database's one-service lock on SQLite (a second "
            "`run` exits 1 before writing anything; on MySQL several `run` processes share the "
            "users through leases, each holding its fair share and taking over the users of "
            "one that dies), sync the file into the database (as "
            "`martingale onboard` does: a state recorded with `martingale strategy` stays), "
            "then run every user's strategies until SIGTERM or SIGINT. On a signal no new "
            "order is placed, resting orders stay on the exchange, everything is flushed and "
            "the process exits 0; the next start resumes every strategy in the state it was "
            "left in (stopped, finished or paused ones stay so). A bad file exits 2 and "
            "changes nothing. The REST API and dashboard (OpenAPI at /docs) are served on the "
            "config's `web:` address (127.0.0.1:8000 by default), from a process of their own "
            "(`web.mode: process`) that is restarted if it dies, until the stop, which closes "
            "them first."
        ),
    )
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="path to the onboarding YAML file"
    )
    parser.add_argument(
        "--no-web",
        action="store_true",
        help="do not serve the REST API (config `web:`, default 127.0.0.1:8000) for this run",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        check_config_url(config)
        check_market_files(config)  # every candle file, before anything is written
        configure_logging(format=config.logging.format, level=config.logging.level)
        vault = vault_for(config)
        url = resolved_url(config)
    except (ConfigurationError, CredentialError) as exc:
        return _fail(exc, 2)
    # SQLite: one service per database, and the lock comes first: a second `run` must be
    # refused before its sync writes anything (it would undo a stop-now recorded meanwhile).
    # MySQL: processes share the database; their syncs of the file take turns.
    lock = None if shares_database(url) else ServiceLock(url)
    try:
        missing = missing_mysql_database(url)  # the lock's own connection needs it to exist
        if missing is not None:
            return _fail(missing, 1)
        if lock is not None:
            lock.acquire()
    except MartingaleError as exc:  # already running, or the database is unreachable
        return _fail(exc, 1)
    try:
        with open_repository(url, create=True) as repo, config_sync_lock(url):
            sync_config(config, repo, vault, now=datetime.now(UTC))
    except (ConfigurationError, CredentialError) as exc:
        if lock is not None:
            lock.release()
        return _fail(exc, 2)
    except MartingaleError as exc:
        if lock is not None:
            lock.release()
        return _fail(exc, 1)
    try:
        web = None if args.no_web or not config.web.enabled else make_web(config, vault=vault)
        return Service(config, vault=vault, lock=lock, web=web).run()
    except MartingaleError as exc:  # the service has stopped and released the lock
        return _fail(exc, 1)


def _fail(exc: Exception | str, status: int) -> int:
    print(f"martingale run: error: {exc}", file=sys.stderr)
    return status
