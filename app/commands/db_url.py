"""The `--db URL` option the database commands share, and the URL it resolves to."""

from __future__ import annotations

import argparse
import os

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
