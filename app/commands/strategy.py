"""`martingale strategy ACTION`: pause, resume or stop one strategy, running service or not;
`martingale strategy signal-url USER STRATEGY` makes its webhook URL (app.commands.signal_url).

The action is recorded by `services.control` as the strategy's desired state (and stop mode),
exactly as the API records it; a running service picks it up within a couple of seconds, a
stopped one at its next start. Exit status: 0 recorded, 2 bad arguments, unknown user/strategy
or a refused resume, 1 database problem.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from app.commands.signal_url import handle_signal_url
from config.loader import load_config
from config.secrets import resolved_url
from domain.errors import ConfigurationError, MartingaleError
from services.control import ACTIONS, Action, ActionRefused, apply_action, find_strategy
from services.database import open_repository, url_problem

SIGNAL_URL = "signal-url"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "strategy",
        help="pause, resume or stop a strategy (running service or not)",
        description=(
            "Record what a strategy should do; a running service applies it within seconds, "
            "otherwise it applies at the next start. Actions: "
            + "; ".join(f"{action.value} = {spec.help}" for action, spec in ACTIONS.items())
            + ". What is recorded here stays: `martingale run`/`onboard` apply the config "
            "file's state only when the file's value changes. resume is refused for a "
            "strategy the config file disables (enabled: false). signal-url USER STRATEGY "
            "[--rotate]: make (or replace) the strategy's webhook signal URL and secret, "
            "printed once."
        ),
    )
    parser.add_argument(
        "action", choices=[*(a.value for a in Action), SIGNAL_URL], help="what to do"
    )
    parser.add_argument(
        "names", nargs="*", metavar="USER STRATEGY", help="signal-url: the user and strategy"
    )
    parser.add_argument("--user", help="the user's name")
    parser.add_argument("--name", help="the strategy's name")
    parser.add_argument(
        "--rotate", action="store_true", help="signal-url: replace the URL and secret it has"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="use the database of this config file")
    source.add_argument("--db", metavar="URL", help="use this database URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.action == SIGNAL_URL:
        names = list(args.names) or [n for n in (args.user, args.name) if n is not None]
        if len(names) != 2:
            return _fail("signal-url takes USER STRATEGY (the user's and the strategy's name)", 2)
        return handle_signal_url(args, names[0], names[1])
    if args.names or args.rotate:
        return _fail(f"{args.action} takes --user and --name (and no --rotate)", 2)
    if args.user is None or args.name is None:
        return _fail(f"{args.action} needs --user and --name", 2)
    try:
        url = resolved_url(load_config(args.config)) if args.config else args.db
    except ConfigurationError as exc:
        return _fail(exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"{'database.url' if args.config else '--db'}: {problem}", 2)
    action = Action(args.action)
    try:
        with open_repository(url) as repo:
            user = repo.find_user(args.user)
            if user is None:
                return _fail(f"--user: no user named {args.user!r}", 2)
            record = find_strategy(repo, user.id, args.name)
            if record is None:
                return _fail(f"--name: user {args.user!r} has no strategy {args.name!r}", 2)
            result = apply_action(repo, record, action, now=datetime.now(UTC))
    except ActionRefused as exc:
        return _fail(exc, 2)
    except MartingaleError as exc:
        return _fail(exc, 1)
    print(f"{args.user}/{args.name}: {args.action} recorded (desired state {result.desired.value})")
    return 0


def _fail(exc: Exception | str, status: int) -> int:
    print(f"martingale strategy: error: {exc}", file=sys.stderr)
    return status
