"""The `martingale` console script.

Each subcommand lives in its own module under `app.commands` and registers itself here. A
handler returns the process exit status: 0 ok, 1 runtime failure, 2 bad input (argparse's own
convention for usage errors, which we follow for invalid parameters too).

What reaches an operator is always one line and one of those statuses, never a traceback: the
handlers turn the errors they expect into a line naming the setting; here, output cut short
by its reader (`martingale status --json | head -c1`) ends quietly with 1, Ctrl-C with one line,
and anything unexpected with one (redacted) line that says it is a bug. MARTINGALE_TRACEBACK=1
shows the traceback instead, for whoever debugs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from app.commands import (
    backtest,
    db,
    doctor,
    keys,
    notify,
    onboard,
    paper_venue,
    plan,
    run,
    status,
    strategy,
    sweep,
    users,
)
from config.logging import redact_text

TRACEBACK_ENV = "MARTINGALE_TRACEBACK"

SUBCOMMANDS = (
    run,
    paper_venue,
    plan,
    backtest,
    sweep,
    db,
    keys,
    onboard,
    status,
    strategy,
    users,
    notify,
    doctor,
)


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
    try:
        status: int = args.handler(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must raise where it is handled
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        print(f"martingale {args.command}: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get(TRACEBACK_ENV):
            raise
        what = redact_text(f"{type(exc).__name__}: {exc}").splitlines() or [""]
        print(
            f"martingale {args.command}: unexpected error (a bug, please report it; "
            f"{TRACEBACK_ENV}=1 shows the traceback): {what[0]}",
            file=sys.stderr,
        )
        return 1
    return status


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the interpreter's own flush at exit
    does not fail a second time (the Python docs' recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's captured stdout)
        pass


if __name__ == "__main__":
    sys.exit(main())
