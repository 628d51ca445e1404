"""Repository contract, auth side (roles, password hashes, tokens, sessions): runs on the fake,
SQLite and MySQL alike."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from domain.errors import ValidationError
from persistence.errors import NotFound, PersistenceError
from tests.integration.persistence.helpers import T0, at

PHC = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"


def token(repo: Any, user_id: int, n: int, *, kind: str = "api", when: int = 0, **kw: Any) -> Any:
    return repo.create_token(
        user_id,
        kind=kind,
        name=f"t{n}",
        token_hash=f"{n:064x}",
        prefix=f"p{n:07d}",
        now=at(when),
        **kw,
    )


def test_new_users_are_plain_users_and_a_role_set_is_kept_by_every_read(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    assert (alice.role, alice.has_password) == ("user", False)
    assert repo.get_user(alice.id).role == "user"

    promoted = repo.set_user_role(alice.id, "admin", now=at(1))

    assert promoted.role == "admin"
    assert repo.get_user(alice.id).role == "admin"
    assert repo.find_user("alice").role == "admin"
    assert [u.role for u in repo.list_users()] == ["admin"]
    assert repo.upsert_user("alice", now=at(2), email="a@example.com").role == "admin"
    assert repo.set_user_role(alice.id, "user", now=at(3)).role == "user"


def test_a_role_nobody_checks_for_or_a_missing_user_is_refused(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    with pytest.raises(ValidationError) as err:
        repo.set_user_role(alice.id, "root", now=T0)
    assert err.value.field == "role"
    assert repo.get_user(alice.id).role == "user"
    with pytest.raises(NotFound):
        repo.set_user_role(999, "admin", now=T0)


def test_a_user_disabled_is_seen_so_by_every_read_until_it_is_enabled(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    token(repo, alice.id, 1)
    assert (alice.disabled, alice.disabled_at) == (False, None)

    disabled = repo.set_user_disabled(alice.id, True, now=at(5))

    assert (disabled.disabled, disabled.disabled_at) == (True, at(5))
    assert repo.get_user(alice.id) == disabled
    assert repo.find_user("alice") == disabled
    assert [(u.name, u.disabled) for u in repo.list_users()] == [("alice", True), ("bob", False)]
    assert repo.find_token(f"{1:064x}")[1] == disabled  # the token's user, in the same query
    assert repo.upsert_user("alice", now=at(6), email="a@example.com").disabled  # a sync keeps it
    assert repo.set_user_role(alice.id, "admin", now=at(6)).disabled_at == at(5)
    assert repo.set_user_disabled(alice.id, True, now=at(7)).disabled_at == at(5)  # the first
    assert not repo.get_user(bob.id).disabled

    enabled = repo.set_user_disabled(alice.id, False, now=at(8))

    assert (enabled.disabled, enabled.disabled_at) == (False, None)
    assert not repo.find_user("alice").disabled
    assert not repo.find_token(f"{1:064x}")[1].disabled
    with pytest.raises(NotFound):
        repo.set_user_disabled(999, True, now=T0)


def test_a_password_hash_is_stored_loaded_and_cleared_and_reads_only_say_one_is_set(
    repo: Any,
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    assert repo.load_password_hash(alice.id) is None

    repo.set_password_hash(alice.id, PHC, now=at(1))

    assert repo.load_password_hash(alice.id) == PHC
    assert repo.load_password_hash(bob.id) is None
    assert repo.get_user(alice.id).has_password
    assert repo.find_user("alice").has_password
    assert [u.has_password for u in repo.list_users()] == [True, False]
    assert repo.upsert_user("alice", now=at(2)).has_password  # onboarding keeps it
    assert PHC not in repr(repo.get_user(alice.id))

    repo.set_password_hash(alice.id, None, now=at(3))

    assert repo.load_password_hash(alice.id) is None
    assert not repo.get_user(alice.id).has_password


def test_a_hash_replacing_another_is_written_only_while_that_one_is_stored(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    repo.set_password_hash(alice.id, PHC, now=T0)

    assert repo.set_password_hash(alice.id, "$argon2id$new", now=at(1), replacing=PHC)
    assert repo.load_password_hash(alice.id) == "$argon2id$new"
    # A re-hash computed from the old hash arrives after the password changed: refused.
    assert not repo.set_password_hash(alice.id, "$argon2id$late", now=at(2), replacing=PHC)
    assert repo.load_password_hash(alice.id) == "$argon2id$new"
    with pytest.raises(NotFound):
        repo.set_password_hash(999, PHC, now=T0, replacing=PHC)


def test_passwords_of_a_missing_user_raise_not_found(repo: Any) -> None:
    with pytest.raises(NotFound):
        repo.set_password_hash(999, PHC, now=T0)
    with pytest.raises(NotFound):
        repo.load_password_hash(999)


def test_a_token_is_found_by_its_hash_with_its_user(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    expires = at(3600).astimezone(timezone(timedelta(hours=2)))

    created = token(repo, alice.id, 1, expires_at=expires)

    assert (created.user_id, created.kind, created.name, created.prefix) == (
        alice.id,
        "api",
        "t1",
        "p0000001",
    )
    assert created.created_at == T0
    assert created.expires_at == at(3600)
    assert created.expires_at.utcoffset() == timedelta(0)
    assert (created.last_used_at, created.revoked_at) == (None, None)
    found = repo.find_token(f"{1:064x}")
    assert found is not None
    assert found[0] == created
    assert found[1] == repo.get_user(alice.id)
    assert repo.find_token(f"{2:064x}") is None


def test_a_deleted_users_token_is_still_found_so_the_caller_can_refuse_it(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    token(repo, alice.id, 1)
    repo.delete_user(alice.id, now=at(5))

    found = repo.find_token(f"{1:064x}")

    assert found is not None
    assert found[1].deleted


def test_a_token_with_a_stored_hash_a_bad_kind_or_no_user_is_refused(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    token(repo, alice.id, 1)
    with pytest.raises(PersistenceError):
        token(repo, alice.id, 1)
    with pytest.raises(ValidationError) as err:
        token(repo, alice.id, 2, kind="cookie")
    assert err.value.field == "kind"
    with pytest.raises(NotFound):
        token(repo, 999, 3)
    assert [t.name for t in repo.list_tokens(alice.id, kind=None)] == ["t1"]


def test_tokens_are_listed_newest_first_by_kind_and_only_the_users_own(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    token(repo, alice.id, 1, when=1)
    token(repo, alice.id, 2, when=3)
    token(repo, alice.id, 3, when=2, kind="session")
    token(repo, bob.id, 4, when=4)
    revoked = token(repo, alice.id, 5, when=3)
    repo.revoke_token(revoked.id, now=at(10))

    assert [t.name for t in repo.list_tokens(alice.id)] == ["t5", "t2", "t1"]
    assert [t.name for t in repo.list_tokens(alice.id, kind="session")] == ["t3"]
    assert [t.name for t in repo.list_tokens(alice.id, kind=None)] == ["t5", "t2", "t3", "t1"]
    assert [t.name for t in repo.list_tokens(bob.id)] == ["t4"]
    assert repo.list_tokens(999) == []


def test_revoking_a_token_keeps_its_first_revocation_time(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    created = token(repo, alice.id, 1)

    repo.revoke_token(created.id, now=at(10))
    repo.revoke_token(created.id, now=at(20))

    [listed] = repo.list_tokens(alice.id)
    assert listed.revoked_at == at(10)
    assert repo.find_token(f"{1:064x}")[0].revoked
    with pytest.raises(NotFound):
        repo.revoke_token(999, now=T0)


def test_touching_a_token_only_moves_its_last_use_forwards(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    created = token(repo, alice.id, 1)

    repo.touch_token(created.id, now=at(60))
    repo.touch_token(created.id, now=at(30))
    repo.touch_token(999, now=at(30))  # a token revoked and gone meanwhile: nothing to do

    assert repo.find_token(f"{1:064x}")[0].last_used_at == at(60)
    repo.touch_token(created.id, now=at(90))
    assert repo.list_tokens(alice.id)[0].last_used_at == at(90)


def test_revoking_a_users_tokens_by_kind_leaves_other_kinds_and_users(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    token(repo, alice.id, 1)
    old_session = token(repo, alice.id, 2, kind="session")
    repo.revoke_token(old_session.id, now=at(1))
    token(repo, alice.id, 3, kind="session")
    token(repo, bob.id, 4, kind="session")

    def revoked_at() -> list[Any]:
        return [repo.find_token(f"{n:064x}")[0].revoked_at for n in (1, 2, 3, 4)]

    assert repo.revoke_tokens(alice.id, kind="session", now=at(5)) == 1
    assert revoked_at() == [None, at(1), at(5), None]
    assert repo.revoke_tokens(alice.id, now=at(6)) == 1
    assert revoked_at() == [at(6), at(1), at(5), None]


def test_ended_sessions_are_purged_and_nothing_else(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    expired = token(repo, alice.id, 1, kind="session", expires_at=at(10))
    revoked = token(repo, alice.id, 2, kind="session", expires_at=at(1000))
    repo.revoke_token(revoked.id, now=at(20))
    live = token(repo, alice.id, 3, kind="session", expires_at=at(1000))
    api = token(repo, alice.id, 4, expires_at=at(10))  # an API token: its owner's to revoke
    bobs = token(repo, bob.id, 5, kind="session", expires_at=at(10))
    assert repo.purge_sessions(alice.id, before=at(15)) == 1  # expired at 10; revoked at 20
    assert repo.purge_sessions(alice.id, before=at(30)) == 1
    left = {t.id for t in repo.list_tokens(alice.id, kind=None)}
    assert left == {live.id, api.id} and expired.id not in left
    assert [t.id for t in repo.list_tokens(bob.id, kind=None)] == [bobs.id]


def test_a_transaction_that_fails_leaves_no_token_and_no_password(repo: Any) -> None:
    alice = repo.upsert_user("alice", now=T0)
    with pytest.raises(RuntimeError), repo.transaction():
        repo.set_password_hash(alice.id, PHC, now=T0)
        token(repo, alice.id, 1)
        repo.set_user_role(alice.id, "admin", now=T0)
        repo.set_user_disabled(alice.id, True, now=T0)
        raise RuntimeError("boom")

    assert repo.load_password_hash(alice.id) is None
    assert repo.find_token(f"{1:064x}") is None
    assert repo.get_user(alice.id).role == "user"
    assert not repo.get_user(alice.id).has_password
    assert not repo.get_user(alice.id).disabled
