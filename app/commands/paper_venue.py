"""`martingale paper-venue`: serve one paper exchange to several `martingale run` processes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.venue_process import VenueProcess
from config.loader import load_config
from config.logging import configure_logging
from config.secrets import resolve_paper_token
from domain.errors import ConfigurationError, CredentialError, MartingaleError
from services.market_files import check_market_files


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "paper-venue",
        help="serve the paper exchange to several service processes",
        description=(
            "Open the paper exchange's file (the config's paper.state_file) with the config's "
            "markets and their rules, run those markets' price feeds (simulated or replayed, "
            "as `martingale run` does for its own paper exchange), and serve the exchange over "
            "HTTP on paper.serve (host, 127.0.0.1 by default, and port) to the holders of its "
            "token (paper.serve.token_env or token_file), until SIGTERM or SIGINT. Services "
            "trade on it with paper.venue_url and the same token instead of a file of their "
            "own, so several `martingale run` processes share the users' paper accounts and a "
            "user that moves between them keeps its account. Exit status: 0 stopped by a "
            "signal, 1 it could not run (the file held by another process, the port taken), "
            "2 a bad config file."
        ),
    )
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="path to the venue's YAML config file"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if config.paper.serve is None:
            raise ConfigurationError(
                "is not set: the venue process needs paper.serve (port, and token_env or "
                "token_file)",
                field="paper.serve",
            )
        check_market_files(config)
        configure_logging(format=config.logging.format, level=config.logging.level)
        token = resolve_paper_token(config, serving=True)
        process = VenueProcess(config, token)
    except (ConfigurationError, CredentialError) as exc:
        return _fail(exc, 2)
    try:
        return process.run()
    except MartingaleError as exc:  # the file held by another process, the port taken
        return _fail(exc, 1)


def _fail(exc: Exception, status: int) -> int:
    print(f"martingale paper-venue: error: {exc}", file=sys.stderr)
    return status
