"""`martingale status`: every strategy's state, cycle, profit and health, from the database.

Read-only and independent of the service: it never creates or migrates a database (a missing
SQLite file is reported, not created) and needs no master key or exchange credentials.
Exit status: 0 shown, 2 bad arguments or config file, 1 database missing, behind or down.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from app.status_table import render_table
from config.loader import load_config
from config.secrets import resolved_url
from domain.errors import ConfigurationError, MartingaleError
from services.database import open_repository, url_problem
from services.status import collect_status, status_json


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show every strategy's state, cycle, profit, position and health",
        description=(
            "Read the database (whether or not the service is running) and show, per "
            "strategy: user, name, symbol, state (the engine's, with the desired one when "
            "they differ), current cycle, cycles completed, realized profit, position amount, "
            "average entry price, the position held after the last cycle (HELD: amount @ "
            "average cost, e.g. what a stop-now kept; a resume carries it into the next cycle "
            "and sells it with that cycle's take-profit), open orders, age of the last "
            "heartbeat and the last error."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", metavar="FILE", help="read the database named by this config file"
    )
    source.add_argument(
        "--db", metavar="URL", help="read this database URL (e.g. sqlite:///var/martingale.sqlite)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help=(
            'print {"strategies": [...]} with every number as a decimal string, null if '
            "unknown (held_amount / held_average: the position held after the last cycle)"
        ),
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        url = resolved_url(load_config(args.config)) if args.config else args.db
    except ConfigurationError as exc:
        return _fail(exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"{'database.url' if args.config else '--db'}: {problem}", 2)
    try:
        with open_repository(url) as repo:
            lines = collect_status(repo, now=datetime.now(UTC))
    except MartingaleError as exc:
        return _fail(exc, 1)
    print(json.dumps(status_json(lines), indent=2) if args.json else render_table(lines))
    return 0


def _fail(exc: Exception | str, status: int) -> int:
    print(f"martingale status: error: {exc}", file=sys.stderr)
    return status
