"""`martingale run`: the long-running service (the actor tree arrives with issue 5)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run every user's strategies from a config file",
        description="Run the trading service with the users and strategies of a config file.",
    )
    parser.add_argument("--config", required=True, help="path to the onboarding YAML file")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    print(
        "martingale run: the trading service is not built yet.\n"
        f"  config: {args.config}\n"
        "  Preview a strategy now with, for example:\n"
        "    martingale plan --base-order 10 --safety-order 20 --max-safety-orders 5 \\\n"
        "        --price-deviation 1.5 --step-scale 1.2 --volume-scale 1.5 --take-profit 1.5 \\\n"
        "        --price 100",
        file=sys.stdout,
    )
    return 0
