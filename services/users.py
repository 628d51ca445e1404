"""Managing users: create, list, change roles, disable, delete. Shared by `martingale users` and
the API.

Only admins manage users (`require_admin`; the CLI acts as `OPERATOR`, since whoever runs it
holds the database anyway). Two rules keep the service manageable: the last enabled admin
cannot be demoted, disabled or deleted (a disabled admin cannot log in, so it does not count),
and an admin cannot disable or delete itself.
"""

from __future__ import annotations

from datetime import datetime

from config.fields import email_problem, name_problem
from domain.errors import ValidationError
from domain.events import StopMode
from persistence.errors import NotFound
from persistence.records import ActualState, DesiredState, StrategyRecord, UserRecord, checked_role
from persistence.repository import Repository
from services.control import Action, apply_action
from services.principal import Forbidden, Principal, require_admin

__all__ = [
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "require_admin",
    "set_disabled",
    "set_role",
    "update_user",
]


def create_user(
    repo: Repository,
    name: str,
    *,
    now: datetime,
    email: str | None = None,
    role: str = "user",
) -> UserRecord:
    """A new user (no password yet: it cannot log in until one is set). A name already taken,
    even by a deleted user, is refused: reusing it would hand the new user the old one's
    history and tokens."""
    problem = name_problem(name) if isinstance(name, str) else "a name must be text"
    if problem is not None:
        raise ValidationError(problem, field="name")
    if email is not None and (problem := email_problem(email)) is not None:
        raise ValidationError(problem, field="email")
    checked_role(role)
    with repo.transaction():
        existing = repo.find_user(name)
        if existing is not None:
            deleted = " (a deleted user; names are not reused)" if existing.deleted else ""
            raise ValidationError(f"a user named {name!r} already exists{deleted}", field="name")
        user = repo.upsert_user(name, now=now, email=email, source="api")
        if user.role != role:
            user = repo.set_user_role(user.id, role, now=now)
    return user


def list_users(repo: Repository) -> list[UserRecord]:
    """Users not deleted, by id."""
    return repo.list_users()


def get_user(repo: Repository, user_id: int) -> UserRecord:
    """NotFound for a user that does not exist or was deleted."""
    user = repo.get_user(user_id)
    if user.deleted:
        raise NotFound(f"user {user_id} does not exist")
    return user


def set_role(
    repo: Repository, actor: Principal, user_id: int, role: str, *, now: datetime
) -> UserRecord:
    require_admin(actor)
    checked_role(role)
    with repo.transaction():
        user = get_user(repo, user_id)
        if _last_admin(repo, user) and role != "admin":
            raise ValidationError(
                f"{user.name!r} is the last admin; make another user admin first", field="role"
            )
        return repo.set_user_role(user_id, role, now=now)


def update_user(
    repo: Repository,
    actor: Principal,
    user_id: int,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    now: datetime,
) -> UserRecord:
    """`set_role` and/or `set_disabled` in one transaction (the API's PATCH): both apply, or
    neither. At least one must be given (ValidationError field "role" otherwise)."""
    if role is None and disabled is None:
        raise ValidationError("nothing to change: give role, disabled or both", field="role")
    require_admin(actor)
    with repo.transaction():
        user = get_user(repo, user_id)
        if role is not None:
            user = set_role(repo, actor, user_id, role, now=now)
        if disabled is not None:
            user = set_disabled(repo, actor, user_id, disabled, now=now)
    return user


def delete_user(repo: Repository, actor: Principal, user_id: int, *, now: datetime) -> None:
    """Soft delete (history stays) and revoke every token and session of the user, so nothing
    it handed out keeps working.

    Its strategies are stopped in mode CANCEL: resting orders are cancelled and the positions
    kept (nobody is left to decide what to sell; a SELL stop the user had asked for is kept).
    A running service carries the stop out within a poll or two, then stops the user's actor;
    one started later cancels whatever a stop left undone and runs nothing else of the user.
    A user named in the config file comes back at the next `martingale run` (the file declares
    it), with its strategies still stopped: remove it from the file too."""
    require_admin(actor)
    if actor.user_id == user_id:
        raise Forbidden("an admin cannot delete itself; ask another admin")
    with repo.transaction():
        user = get_user(repo, user_id)
        if _last_admin(repo, user):
            raise Forbidden(f"{user.name!r} is the last admin and cannot be deleted")
        repo.delete_user(user_id, now=now)
        repo.revoke_tokens(user_id, now=now)


def set_disabled(
    repo: Repository, actor: Principal, user_id: int, disabled: bool, *, now: datetime
) -> UserRecord:
    """Disable a user (it keeps its data, and stays listed), or enable it again.

    Disabling, in one transaction: the flag is set, every token and session of the user is
    revoked (a login, a token or a session of a disabled user is refused anyway; revoking them
    means enabling it again does not bring back what it had handed out), and every strategy of
    the user that could still trade is stopped in mode CANCEL, as `delete_user` stops them:
    resting orders are cancelled and positions kept (a running service carries the stop out
    within a poll or two). A stop already cancelling or selling (CLOSE_NOW) is left as it is.

    Enabling only clears the flag: the user logs in again (with its password; its tokens stay
    revoked) and its strategies stay stopped until it resumes them, since whatever it was
    disabled for may still hold.
    """
    require_admin(actor)
    if disabled and actor.user_id == user_id:
        raise Forbidden("an admin cannot disable itself; ask another admin")
    with repo.transaction():
        user = get_user(repo, user_id)
        if not disabled:
            return repo.set_user_disabled(user_id, False, now=now)
        if _last_admin(repo, user):
            raise Forbidden(f"{user.name!r} is the last enabled admin and cannot be disabled")
        record = repo.set_user_disabled(user_id, True, now=now)
        repo.revoke_tokens(user_id, now=now)
        for strategy in repo.list_strategies(user_id=user_id):
            if not _stopped(strategy):
                apply_action(repo, strategy, Action.STOP_NOW, now=now)
    return record


# What an engine reports once nothing of its strategy is left to stop (as actors.root_users).
_DONE = (ActualState.STOPPED, ActualState.FINISHED, ActualState.FAULTED)


def _stopped(strategy: StrategyRecord) -> bool:
    """Stopped, or stopping without trading on: a FINISH_CYCLE stop still running would trade
    to its take-profit, so it is stopped again, in mode CANCEL."""
    if strategy.desired_state is not DesiredState.STOPPED:
        return False
    return strategy.actual_state in _DONE or strategy.stop_mode in (StopMode.CANCEL, StopMode.SELL)


def _last_admin(repo: Repository, user: UserRecord) -> bool:
    """True if `user` is the only enabled admin: without it, nobody could manage users."""
    if user.role != "admin" or user.disabled:
        return False
    return sum(1 for u in repo.list_users() if u.role == "admin" and not u.disabled) <= 1
