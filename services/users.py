"""Managing users: create, list, change roles, delete. Shared by `martingale users` and the API.

Only admins manage users (`require_admin`; the CLI acts as `OPERATOR`, since whoever runs it
holds the database anyway). Two rules keep the service manageable: the last admin cannot be
demoted or deleted, and an admin cannot delete itself.
"""

from __future__ import annotations

from datetime import datetime

from config.fields import email_problem, name_problem
from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.records import UserRecord, checked_role
from persistence.repository import Repository
from services.principal import Forbidden, Principal, require_admin

__all__ = [
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "require_admin",
    "set_role",
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
        if user.role == "admin" and role != "admin" and _admins(repo) <= 1:
            raise ValidationError(
                f"{user.name!r} is the last admin; make another user admin first", field="role"
            )
        return repo.set_user_role(user_id, role, now=now)


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
        if user.role == "admin" and _admins(repo) <= 1:
            raise Forbidden(f"{user.name!r} is the last admin and cannot be deleted")
        repo.delete_user(user_id, now=now)
        repo.revoke_tokens(user_id, now=now)


def _admins(repo: Repository) -> int:
    return sum(1 for u in repo.list_users() if u.role == "admin")
