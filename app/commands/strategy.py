"""`martingale strategy ACTION`: pause, resume or stop one strategy, running service or not.

The request is written to the database as the strategy's desired state (and stop mode); a
running service picks it up within a couple of seconds, a stopped one at its next start. The
database is the source of truth for this: `martingale run` / `onboard` apply the config file's
`state:` only when the file's value itself changes, so they do not undo what was recorded here.

`resume` is refused for a strategy the file disables (`enabled: false`): the file says it must
not run. A finished or faulted strategy is left alone by a (re)start until a person resumes it;
`resume` therefore also clears that mark (its actual state becomes stopped), so the next start
runs it again (a running service whose desired state was already "running" sees no change to
apply: restart it). Exit status: 0 recorded, 2 bad arguments, unknown user/strategy or a
refused resume, 1 database problem.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from app.database import missing_database, url_problem
from config.loader import load_config
from domain.errors import ConfigurationError, MartingaleError
from domain.events import StopMode
from persistence.database import make_engine
from persistence.migrate import check_at_head
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository

DISABLED = "disabled"  # strategies.config_state of `enabled: false` (app.onboarding)
# Actual states a (re)start does not run until someone resumes the strategy (actors.root).
LEFT_ALONE = (ActualState.FINISHED, ActualState.FAULTED)

ACTIONS: dict[str, tuple[DesiredState, StopMode | None, str]] = {
    "pause": (DesiredState.PAUSED, None, "place nothing and leave resting orders alone"),
    "resume": (
        DesiredState.RUNNING,
        None,
        "resume a paused, stopped or finished strategy (a position a stop kept is carried "
        "into its next cycle and sold with that cycle's take-profit)",
    ),
    "stop": (
        DesiredState.STOPPED,
        StopMode.FINISH_CYCLE,
        "stop after the current cycle closes (no new cycle)",
    ),
    "stop-now": (
        DesiredState.STOPPED,
        StopMode.CANCEL,
        "cancel the open orders now and keep the position (status shows it as held; a "
        "resume carries it into the next cycle)",
    ),
    "close-now": (
        DesiredState.STOPPED,
        StopMode.SELL,
        "cancel the open orders now and sell the position at market",
    ),
}


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "strategy",
        help="pause, resume or stop a strategy (running service or not)",
        description=(
            "Record what a strategy should do; a running service applies it within seconds, "
            "otherwise it applies at the next start. Actions: "
            + "; ".join(f"{name} = {text}" for name, (_, _, text) in ACTIONS.items())
            + ". What is recorded here stays: `martingale run`/`onboard` apply the config "
            "file's state only when the file's value changes. resume is refused for a "
            "strategy the config file disables (enabled: false)."
        ),
    )
    parser.add_argument("action", choices=list(ACTIONS), help="what to do")
    parser.add_argument("--user", required=True, help="the user's name")
    parser.add_argument("--name", required=True, help="the strategy's name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="use the database of this config file")
    source.add_argument("--db", metavar="URL", help="use this database URL")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        url = load_config(args.config).database.url if args.config else args.db
    except ConfigurationError as exc:
        return _fail(exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"{'database.url' if args.config else '--db'}: {problem}", 2)
    desired, mode, _ = ACTIONS[args.action]
    try:
        missing = missing_database(url)
        if missing is not None:
            return _fail(missing, 1)
        check_at_head(url)
        engine = make_engine(url)
        try:
            repo = SqlRepository(engine)
            user = repo.find_user(args.user)
            if user is None:
                return _fail(f"--user: no user named {args.user!r}", 2)
            found = [s for s in repo.list_strategies(user_id=user.id) if s.name == args.name]
            if not found:
                return _fail(f"--name: user {args.user!r} has no strategy {args.name!r}", 2)
            record = found[0]
            if desired is DesiredState.RUNNING and record.config_state == DISABLED:
                return _fail(
                    f"strategy {args.name} is disabled in the config file (enabled: false); "
                    "enable it there and run `martingale onboard`",
                    2,
                )
            now = datetime.now(UTC)
            with repo.transaction():
                repo.set_desired_state(record.id, desired, now=now, stop_mode=mode)
                if desired is DesiredState.RUNNING and record.actual_state in LEFT_ALONE:
                    # "a person has to look first" (actors.root): this resume is that look.
                    repo.set_actual_state(
                        record.id, ActualState.STOPPED, now=now, last_error=record.last_error
                    )
        finally:
            engine.dispose()
    except MartingaleError as exc:
        return _fail(exc, 1)
    print(f"{args.user}/{args.name}: {args.action} recorded (desired state {desired.value})")
    already = record.desired_state is desired is DesiredState.RUNNING
    if already and record.actual_state in LEFT_ALONE:
        print(
            f"it was {record.actual_state.value}: it runs again at the service's next start "
            "(a running service sees no change of desired state to apply)"
        )
    return 0


def _fail(exc: Exception | str, status: int) -> int:
    print(f"martingale strategy: error: {exc}", file=sys.stderr)
    return status
