"""`martingale users ...`: users, roles, passwords and API tokens, straight in the database.

Whoever runs this holds the database, so it acts as an admin (`services.auth.OPERATOR`); the
rules of `services.users` still hold (never without an admin). A password is never an argument
(shell history, `ps`): it is prompted for twice on a terminal, or read as one line from standard
input for scripts. A token's secret is printed once, alone on standard output (so
`TOKEN=$(martingale users token create ...)` works), and can never be shown again.
Exit status: 0 done, 2 bad input (unknown user or token, a rule broken), 1 database problem.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from config.loader import load_config
from config.secrets import resolved_url
from domain.errors import ConfigurationError, MartingaleError, ValidationError
from persistence.errors import NotFound
from persistence.records import TokenRecord, UserRecord
from persistence.repository import Repository
from services.auth import (
    OPERATOR,
    Forbidden,
    check_password_rules,
    issue_token,
    list_tokens,
    revoke_token,
    set_password,
)
from services.database import open_repository, url_problem
from services.users import create_user, list_users, set_disabled, set_role


class BadInput(Exception):
    """What the operator typed or piped is not usable (exit 2)."""


def register(sub: Any) -> None:
    users: argparse.ArgumentParser = sub.add_parser(
        "users",
        help="manage users, roles, passwords and API tokens",
        description=(
            "Manage users, roles, passwords and API tokens in the database (service running or "
            "not). A password is never an argument: it is prompted for twice on a terminal, or "
            "read as one line from standard input. A token's secret is printed once, alone on "
            "standard output, and can never be shown again."
        ),
    )
    actions = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    add = _leaf(actions, "add", "create a user (role user; --admin for an admin)", _add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--email", metavar="E", default=None, help="the user's email address")
    add.add_argument("--admin", action="store_true", help="give the user the admin role")

    listing = _leaf(actions, "list", "list users (not deleted)", _list)
    listing.add_argument("--json", action="store_true", help='print {"users": [...]}')

    role = _leaf(actions, "set-role", "make a user admin or plain user", _set_role)
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", choices=["admin", "user"])

    disable = _leaf(
        actions,
        "disable",
        "disable a user: no login, token or session works any more (its tokens and sessions "
        "are revoked), and its strategies are stopped (resting orders cancelled, positions "
        "kept); its data stays",
        _disable,
    )
    disable.add_argument("name", metavar="NAME")
    enable = _leaf(
        actions,
        "enable",
        "enable a disabled user: it logs in again with its password; its strategies stay "
        "stopped until it resumes them, and its old tokens stay revoked",
        _enable,
    )
    enable.add_argument("name", metavar="NAME")

    password = _leaf(
        actions,
        "set-password",
        "set a user's password (prompted; one line of stdin when not a terminal); ends the "
        "user's dashboard sessions",
        _set_password,
    )
    password.add_argument("name", metavar="NAME")

    token: argparse.ArgumentParser = actions.add_parser(
        "token", help="API tokens: create, list, revoke", description="A user's API tokens."
    )
    token_actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = _leaf(
        token_actions, "create", "create an API token; its secret is shown once", _token_create
    )
    create.add_argument("name", metavar="NAME", help="the user's name")
    create.add_argument("--name", dest="token_name", required=True, metavar="TOKEN_NAME")
    create.add_argument(
        "--expires-days", type=_positive_int, default=None, metavar="N", help="expire in N days"
    )
    tokens = _leaf(token_actions, "list", "list a user's API tokens (never the secret)", _tokens)
    tokens.add_argument("name", metavar="NAME", help="the user's name")
    revoke = _leaf(token_actions, "revoke", "revoke one of a user's API tokens", _token_revoke)
    revoke.add_argument("name", metavar="NAME", help="the user's name")
    revoke.add_argument("token_id", type=int, metavar="TOKEN_ID", help="as `token list` shows")


def _leaf(
    actions: Any, name: str, help_text: str, action: Callable[[Repository, Any], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(
        name, help=help_text, description=help_text
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="use the database of this config file")
    source.add_argument("--db", metavar="URL", help="use this database URL")
    parser.set_defaults(handler=lambda args: _handle(args, action))
    return parser


def _handle(args: argparse.Namespace, action: Callable[[Repository, Any], int]) -> int:
    try:
        url = resolved_url(load_config(args.config)) if args.config else args.db
    except ConfigurationError as exc:
        return _fail(args, exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(args, f"{'database.url' if args.config else '--db'}: {problem}", 2)
    try:
        with open_repository(url) as repo:
            return action(repo, args)
    except (BadInput, ValidationError, NotFound, Forbidden) as exc:
        return _fail(args, exc, 2)
    except MartingaleError as exc:
        return _fail(args, exc, 1)


def _fail(args: argparse.Namespace, exc: Exception | str, status: int) -> int:
    command = " ".join(
        part for part in ("users", args.users_command, getattr(args, "token_command", None)) if part
    )
    print(f"martingale {command}: error: {exc}", file=sys.stderr)
    return status


def _user(repo: Repository, name: str) -> UserRecord:
    user = repo.find_user(name)
    if user is None or user.deleted:
        raise BadInput(f"NAME: no user named {name!r}")
    return user


# --- users --------------------------------------------------------------------------------------
def _add(repo: Repository, args: Any) -> int:
    role = "admin" if args.admin else "user"
    user = create_user(repo, args.name, now=_now(), email=args.email, role=role)
    print(f"user {user.name!r} created (id {user.id}, role {user.role})")
    print(f"it cannot log in until it has a password: martingale users set-password {user.name}")
    return 0


def _list(repo: Repository, args: Any) -> int:
    users = list_users(repo)
    if args.json:
        print(json.dumps({"users": [_user_json(u) for u in users]}, indent=2))
        return 0
    if not users:
        print("no users yet: add one with `martingale users add NAME --admin`")
        return 0
    rows = [
        [
            str(u.id),
            u.name,
            u.role,
            "yes" if u.has_password else "no",
            f"disabled {_t(u.disabled_at)}" if u.disabled else "enabled",
            u.email or "-",
            _t(u.created_at),
        ]
        for u in users
    ]
    print(_table(["ID", "NAME", "ROLE", "PASSWORD", "STATE", "EMAIL", "CREATED"], rows))
    return 0


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "has_password": user.has_password,
        "disabled": user.disabled,
        "disabled_at": None if user.disabled_at is None else user.disabled_at.isoformat(),
        "created_at": user.created_at.isoformat(),
    }


def _set_role(repo: Repository, args: Any) -> int:
    user = set_role(repo, OPERATOR, _user(repo, args.name).id, args.role, now=_now())
    print(f"user {user.name!r} is now {user.role}")
    return 0


def _disable(repo: Repository, args: Any) -> int:
    user = set_disabled(repo, OPERATOR, _user(repo, args.name).id, True, now=_now())
    print(
        f"user {user.name!r} disabled: its tokens and sessions were revoked and its strategies "
        "stop (resting orders cancelled, positions kept) within a poll or two of a running "
        "service"
    )
    return 0


def _enable(repo: Repository, args: Any) -> int:
    user = set_disabled(repo, OPERATOR, _user(repo, args.name).id, False, now=_now())
    print(
        f"user {user.name!r} enabled: it can log in again; its strategies stay stopped until "
        "it resumes them"
    )
    return 0


def _set_password(repo: Repository, args: Any) -> int:
    user = _user(repo, args.name)
    password = _read_password()
    set_password(repo, user.id, password, now=_now())
    print(f"password set for {user.name!r}; its dashboard sessions were ended")
    return 0


def _read_password() -> str:
    """Twice with getpass on a terminal; else exactly one line of stdin (its newline dropped)."""
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        check_password_rules(first)  # before asking again for one that cannot be used
        if getpass.getpass("Repeat the password: ") != first:
            raise BadInput("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise BadInput("no password on standard input (give it as one line)")
    password = line.removesuffix("\n").removesuffix("\r")
    check_password_rules(password)
    return password


# --- tokens -------------------------------------------------------------------------------------
def _token_create(repo: Repository, args: Any) -> int:
    user = _user(repo, args.name)
    now = _now()
    expires = None if args.expires_days is None else now + timedelta(days=args.expires_days)
    issued = issue_token(repo, user.id, name=args.token_name, now=now, expires_at=expires)
    record = issued.record
    until = f"expires {_t(record.expires_at)}" if record.expires_at else "no expiry"
    print(
        f"token {record.id} {record.name!r} for {user.name!r} (prefix {record.prefix}, {until}):",
        file=sys.stderr,
    )
    print(issued.secret)
    sys.stdout.flush()
    print(
        "This is the only time the token is shown: it cannot be shown again. Store it now.",
        file=sys.stderr,
    )
    return 0


def _tokens(repo: Repository, args: Any) -> int:
    user = _user(repo, args.name)
    tokens = list_tokens(repo, user.id)
    if not tokens:
        print(f"{user.name!r} has no API tokens")
        return 0
    now = _now()
    rows = [
        [
            str(t.id),
            t.name,
            t.prefix,
            _t(t.created_at),
            _t(t.expires_at),
            _t(t.last_used_at),
            _state(t, now),
        ]
        for t in tokens
    ]
    print(_table(["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "STATE"], rows))
    return 0


def _state(token: TokenRecord, now: datetime) -> str:
    if token.revoked_at is not None:
        return f"revoked {_t(token.revoked_at)}"
    return "expired" if token.expired(now) else "active"


def _token_revoke(repo: Repository, args: Any) -> int:
    user = _user(repo, args.name)
    try:
        revoke_token(repo, user.id, args.token_id, now=_now())
    except NotFound:
        raise BadInput(f"TOKEN_ID: {user.name!r} has no API token {args.token_id}") from None
    print(f"token {args.token_id} of {user.name!r} revoked")
    return 0


# --- helpers ------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, 1 or more: {text!r}")
    return value
