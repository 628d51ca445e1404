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
    LoginLimiter,
    Principal,
    authenticate_password,
    authenticate_session,
    authenticate_token,
    issue_session,
    issue_token,
    set_password,
)
from services.users import (
    create_user,
    delete_user,
    get_user,
    list_users,
    require_admin,
    set_disabled,
    set_role,
    update_user,
)
from tests.unit.services.conftest import PASSWORD, T0, CountingHasher, at


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


def test_a_disabled_user_is_refused_by_password_token_and_session_alike(
    repo: MemoryRepository, hasher: CountingHasher
) -> None:
    create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    token = issue_token(repo, alice.id, name="ci", now=T0)
    session = issue_session(repo, alice.id, now=T0)
    limiter = LoginLimiter(max_failures_per_account=100)

    disabled = set_disabled(repo, as_principal(repo, "root"), alice.id, True, now=at(5))

    assert disabled.disabled and get_user(repo, alice.id).disabled_at == at(5)
    assert [u.name for u in list_users(repo)] == ["root", "alice"]  # still listed, unlike deleted
    assert {t.revoked_at for t in repo.list_tokens(alice.id, kind=None)} == {at(5)}
    before = hasher.verifications
    with pytest.raises(AuthenticationFailed, match=r"^invalid user name or password$"):
        authenticate_password(
            repo, limiter, "alice", PASSWORD, address="a", now=at(6), hasher=hasher
        )
    assert hasher.verifications == before + 1  # the hashing time is spent all the same
    with pytest.raises(AuthenticationFailed, match=r"^invalid, expired or revoked token$"):
        authenticate_token(repo, token.secret, now=at(6))
    with pytest.raises(AuthenticationFailed, match=r"^invalid, expired or revoked token$"):
        authenticate_session(repo, session.secret, now=at(6))


def test_a_token_or_session_made_while_the_user_is_disabled_is_refused_too(
    repo: MemoryRepository,
) -> None:
    alice = create_user(repo, "alice", now=T0)
    repo.set_user_disabled(alice.id, True, now=T0)  # the flag alone: nothing was revoked
    token = issue_token(repo, alice.id, name="ci", now=at(1))
    session = issue_session(repo, alice.id, now=at(1))

    with pytest.raises(AuthenticationFailed):
        authenticate_token(repo, token.secret, now=at(2))
    with pytest.raises(AuthenticationFailed):
        authenticate_session(repo, session.secret, now=at(2))

    repo.set_user_disabled(alice.id, False, now=at(3))
    assert authenticate_token(repo, token.secret, now=at(4)).user_id == alice.id


def test_enabling_clears_the_flag_only_and_the_password_logs_in_again(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    token = issue_token(repo, alice.id, name="ci", now=T0)
    admin = as_principal(repo, "root")
    set_disabled(repo, admin, alice.id, True, now=at(1))

    enabled = set_disabled(repo, admin, alice.id, False, now=at(2))

    assert not enabled.disabled
    who = authenticate_password(
        repo, limiter, "alice", PASSWORD, address="a", now=at(3), hasher=hasher
    )
    assert who.user_id == alice.id
    with pytest.raises(AuthenticationFailed):  # what it had handed out stays revoked
        authenticate_token(repo, token.secret, now=at(3))


def test_only_an_admin_disables_and_never_itself_nor_the_last_enabled_admin(
    repo: MemoryRepository,
) -> None:
    root = create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    bob = create_user(repo, "bob", now=T0, role="admin")

    with pytest.raises(Forbidden):
        set_disabled(repo, as_principal(repo, "alice"), bob.id, True, now=at(1))
    with pytest.raises(Forbidden, match="itself"):
        set_disabled(repo, as_principal(repo, "root"), root.id, True, now=at(1))
    set_disabled(repo, as_principal(repo, "root"), bob.id, True, now=at(2))
    with pytest.raises(Forbidden, match="last enabled admin"):
        set_disabled(repo, OPERATOR, root.id, True, now=at(3))
    # a disabled admin cannot log in, so it does not count as the admin left behind
    with pytest.raises(ValidationError, match="last admin"):
        set_role(repo, OPERATOR, root.id, "user", now=at(3))
    with pytest.raises(Forbidden, match="last admin"):
        delete_user(repo, OPERATOR, root.id, now=at(3))
    with pytest.raises(NotFound):
        set_disabled(repo, OPERATOR, 999, True, now=at(3))

    assert [(u.name, u.role, u.disabled) for u in list_users(repo)] == [
        ("root", "admin", False),
        ("alice", "user", False),
        ("bob", "admin", True),
    ]
    set_disabled(repo, OPERATOR, bob.id, False, now=at(4))
    set_disabled(repo, OPERATOR, root.id, True, now=at(5))  # bob is enabled again: fine
    assert get_user(repo, root.id).disabled and not get_user(repo, alice.id).disabled


def test_an_update_sets_role_and_disabled_together_or_not_at_all(repo: MemoryRepository) -> None:
    root = create_user(repo, "root", now=T0, role="admin")
    alice = create_user(repo, "alice", now=T0)
    create_user(repo, "bob", now=T0, role="admin")
    admin = as_principal(repo, "root")

    with pytest.raises(ValidationError, match="nothing to change") as err:
        update_user(repo, admin, alice.id, now=at(1))
    assert err.value.field == "role"
    with pytest.raises(Forbidden, match="itself"):  # the demotion alone was allowed...
        update_user(repo, admin, root.id, role="user", disabled=True, now=at(1))
    assert get_user(repo, root.id).role == "admin"  # ...and went with the refusal
    with pytest.raises(Forbidden):
        update_user(repo, as_principal(repo, "alice"), alice.id, role="admin", now=at(1))

    both = update_user(repo, admin, alice.id, role="admin", disabled=True, now=at(2))

    assert (both.role, both.disabled) == ("admin", True)
    assert get_user(repo, alice.id) == both
    assert update_user(repo, admin, alice.id, disabled=False, now=at(3)).role == "admin"
