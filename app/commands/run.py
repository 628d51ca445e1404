"""`martingale run`: the long-running service."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from app.bootstrap import Service
from app.market_files import check_market_files
from app.onboarding import prepare_database, sync_config, vault_for
from config.loader import load_config
from config.logging import configure_logging
from domain.errors import ConfigurationError, CredentialError, MartingaleError
from persistence.database import make_engine
from persistence.sql_repository import SqlRepository


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run every user's strategies from a config file",
        description=(
            "Validate the config file, sync it into the database (as `martingale onboard` "
            "does), then run every user's strategies until SIGTERM or SIGINT. On a signal no "
            "new order is placed, resting orders stay on the exchange, everything is flushed "
            "and the process exits 0; the next start resumes every strategy where it was. A "
            "bad file exits 2 and changes nothing."
        ),
    )
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="path to the onboarding YAML file"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        check_market_files(config)  # every candle file, before anything is written
        configure_logging(format=config.logging.format, level=config.logging.level)
        vault = vault_for(config)
    except (ConfigurationError, CredentialError) as exc:
        print(f"martingale run: error: {exc}", file=sys.stderr)
        return 2
    url = config.database.url
    try:
        prepare_database(url)
        engine = make_engine(url)
        try:
            sync_config(config, SqlRepository(engine), vault, now=datetime.now(UTC))
        finally:
            engine.dispose()
    except (ConfigurationError, CredentialError) as exc:
        print(f"martingale run: error: {exc}", file=sys.stderr)
        return 2
    except MartingaleError as exc:
        print(f"martingale run: error: {exc}", file=sys.stderr)
        return 1
    return Service(config, vault=vault).run()
