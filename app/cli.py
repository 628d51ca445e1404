"""The `martingale` console script.

Each subcommand lives in its own module under `app.commands` and registers itself here. A
handler returns the process exit status: 0 ok, 1 runtime failure, 2 bad input (argparse's own
convention for usage errors, which we follow for invalid parameters too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.commands import db, keys, onboard, plan, run, status, strategy

SUBCOMMANDS = (run, plan, db, keys, onboard, status, strategy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="martingale",
        description="Multi-tenant Martingale (DCA) trading service.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
