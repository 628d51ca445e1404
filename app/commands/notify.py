"""`martingale notify test USER [--target NAME] --config FILE`: send a test notification.

Sends at once, from this process, to the user's targets as the database holds them (enabled
or not; `--target` for one), and says which went out and which failed, with the reason in our
own words: never the URL, which holds a token. Exit status 0 when every target worked, 1 when
one failed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from config.loader import load_config
from config.secrets import resolved_url
from domain.errors import ConfigurationError, MartingaleError, ValidationError
from persistence.errors import NotFound
from services.database import open_repository, url_problem
from services.notifications import test_targets
from services.onboarding_keys import vault_for


def register(sub: Any) -> None:
    notify: argparse.ArgumentParser = sub.add_parser(
        "notify",
        help="users' notifications (send a test)",
        description="Users' notification targets (apprise URLs, stored encrypted).",
    )
    notify_sub = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    test: argparse.ArgumentParser = notify_sub.add_parser(
        "test",
        help="send a test message to a user's targets",
        description=(
            "Send a test message to each notification target of USER (or only --target), "
            "enabled or not, and say which succeeded and which failed (never the URL). "
            "The master key must be configured as for `martingale run`."
        ),
    )
    test.add_argument("user", metavar="USER", help="the user's name")
    test.add_argument("--target", metavar="NAME", default=None, help="only this target")
    test.add_argument("--config", metavar="FILE", required=True, help="the service's config")
    test.set_defaults(handler=handle_test)


def handle_test(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        url = resolved_url(config)
        vault = vault_for(config)
    except ConfigurationError as exc:
        return _fail(exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"database.url: {problem}", 2)
    try:
        with open_repository(url) as repo:
            user = repo.find_user(args.user)
            if user is None or user.deleted:
                return _fail(f"USER: no user named {args.user!r}", 2)
            results = test_targets(repo, vault, user.id, now=datetime.now(UTC), target=args.target)
    except (ValidationError, NotFound) as exc:
        return _fail(exc, 2)
    except MartingaleError as exc:
        return _fail(exc, 1)
    if not results:
        print(f"user {args.user!r} has no notification targets")
        return 0
    for result in results:
        outcome = "ok" if result.ok else f"FAILED: {result.reason}"
        print(f"{result.target:<20} {result.scheme:<12} {outcome}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} of {len(results)} target(s) received the test message")
    return 1 if failed else 0


def _fail(exc: Exception | str, status: int) -> int:
    print(f"martingale notify test: error: {exc}", file=sys.stderr)
    return status
