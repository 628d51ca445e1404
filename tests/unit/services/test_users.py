"""Managing users: names and roles checked, admins only, and the service never left adminless."""

from __future__ import annotations

import pytest

from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.memory import MemoryRepository
from services.auth import (
    OPERATOR,
    AuthenticationFailed,
    Forbidden,
    Principal,
    authenticate_session,
    authenticate_token,
    issue_session,
    issue_token,
)
from services.users import create_user, delete_user, get_user, list_users, require_admin, set_role
from tests.unit.services.conftest import T0, at


def as_principal(repo: MemoryRepository, name: str) -> Principal:
    user = repo.find_user(name)
    assert user is not None
    return Principal(user_id=user.id, name=user.name, role=user.role, token_id=None, kind="api")


def test_a_new_user_is_a_plain_user_without_a_password(repo: MemoryRepository) -> None:
    alice = create_user(repo, "alice", now=T0, email="alice@example.com")
    root = create_user(repo, "root", now=T0, role="admin")

    assert (alice.name, alice.email, alice.role, alice.has_password) == (
        "alice",
        "alice@example.com",
        "user",
        False,
    )
    assert root.role == "admin"
    assert [u.name for u in list_users(repo)] == ["alice", "root"]
    assert get_user(repo, alice.id) == alice


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "-alice"}, "name"),
        ({"name": "a" * 65}, "name"),
        ({"name": "al ice"}, "name"),
        ({"name": "bob", "email": "not-an-email"}, "email"),
        ({"name": "bob", "email": "b@" + "x" * 250 + ".com"}, "email"),
        ({"name": "bob", "role": "root"}, "role"),
    ],
)
def test_a_bad_name_email_or_role_is_refused_naming_the_field(
    repo: MemoryRepository, kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        create_user(repo, now=T0, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field
    assert repo.list_users(include_deleted=True) == []


def test_a_taken_name_is_refused_even_when_its_user_was_deleted(repo: MemoryRepository) -> None:
    alice = create_user(repo, "alice", now=T0)
    issue_token(repo, alice.id, name="old", now=T0)
    with pytest.raises(ValidationError, match="already exists") as err:
        create_user(repo, "alice", now=at(1), role="admin")
    assert err.value.field == "name"
    assert get_user(repo, alice.id).role == "user"

    repo.delete_user(alice.id, now=at(2))

    with pytest.raises(ValidationError, match="deleted user"):
        create_user(repo, "alice", now=at(3))
    assert repo.get_user(alice.id).deleted


def test_a_deleted_user_is_not_found(repo: MemoryRepository) -> None:
    alice = create_user(repo, "alice", now=T0)
    repo.delete_user(alice.id, now=T0)
    with pytest.raises(NotFound):
        get_user(repo, alice.id)
    with pytest.raises(NotFound):
        get_user(repo, 999)
    assert list_users(repo) == []


def test_only_admins_manage_users(repo: MemoryRepository) -> None:
    create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    bob = create_user(repo, "bob", now=T0)
    plain = as_principal(repo, "alice")

    with pytest.raises(Forbidden):
        require_admin(plain)
    with pytest.raises(Forbidden):
        set_role(repo, plain, alice.id, "admin", now=at(1))
    with pytest.raises(Forbidden):
        delete_user(repo, plain, bob.id, now=at(1))
    require_admin(as_principal(repo, "root"))
    require_admin(OPERATOR)

    assert get_user(repo, alice.id).role == "user"
    assert not get_user(repo, bob.id).deleted


def test_an_admin_sets_roles_but_never_demotes_the_last_admin(repo: MemoryRepository) -> None:
    root = create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    admin = as_principal(repo, "root")

    with pytest.raises(ValidationError, match="last admin") as err:
        set_role(repo, admin, root.id, "user", now=at(1))
    assert err.value.field == "role"
    with pytest.raises(ValidationError) as bad:
        set_role(repo, admin, alice.id, "superuser", now=at(1))
    assert bad.value.field == "role"

    assert set_role(repo, admin, alice.id, "admin", now=at(2)).role == "admin"
    assert set_role(repo, admin, root.id, "user", now=at(3)).role == "user"
    assert [u.role for u in list_users(repo)] == ["user", "admin"]


def test_a_deleted_user_cannot_be_given_a_role(repo: MemoryRepository) -> None:
    alice = create_user(repo, "alice", now=T0)
    repo.delete_user(alice.id, now=T0)
    with pytest.raises(NotFound):
        set_role(repo, OPERATOR, alice.id, "admin", now=at(1))


def test_deleting_a_user_revokes_its_tokens_and_sessions(repo: MemoryRepository) -> None:
    create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    token = issue_token(repo, alice.id, name="ci", now=T0)
    session = issue_session(repo, alice.id, now=T0)

    delete_user(repo, as_principal(repo, "root"), alice.id, now=at(5))

    assert repo.get_user(alice.id).deleted
    assert {t.revoked_at for t in repo.list_tokens(alice.id, kind=None)} == {at(5)}
    with pytest.raises(AuthenticationFailed):
        authenticate_token(repo, token.secret, now=at(6))
    with pytest.raises(AuthenticationFailed):
        authenticate_session(repo, session.secret, now=at(6))
    with pytest.raises(NotFound):
        delete_user(repo, as_principal(repo, "root"), alice.id, now=at(7))


def test_an_admin_cannot_delete_itself_nor_anyone_the_last_admin(repo: MemoryRepository) -> None:
    root = create_user(repo, "root", now=T0, role="admin")

    with pytest.raises(Forbidden, match="itself"):
        delete_user(repo, as_principal(repo, "root"), root.id, now=at(1))
    with pytest.raises(Forbidden, match="last admin"):
        delete_user(repo, OPERATOR, root.id, now=at(1))
    assert not get_user(repo, root.id).deleted
