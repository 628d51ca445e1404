"""The `--db URL` option the database commands share, and where a URL comes from: `--db`, a
`--config` file, the environment or the default."""

from __future__ import annotations

import argparse
import os

from config.schema import ServiceConfig
from config.secrets import resolved_url

DATABASE_URL_ENV = "MARTINGALE_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///var/martingale.sqlite"


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help=(
            f"database URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL}); "
            "e.g. mysql+pymysql://user:password@127.0.0.1/martingale"
        ),
    )


def database_url(args: argparse.Namespace) -> str:
    return str(args.db or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL)


def url_of(args: argparse.Namespace, config: ServiceConfig | None) -> str:
    """The database a command with `--db` and `--config` works on: `--db`, else the config
    file's (its password filled in: `config.secrets.resolved_url`), else the environment's or
    the default."""
    if args.db:
        return str(args.db)
    if config is not None:
        return resolved_url(config)
    return database_url(args)
