"""Passwords: the hasher's strength, the rules, the login's uniform refusals and the rehash."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError

from domain.errors import DatabaseUnavailable, ValidationError
from persistence.errors import NotFound
from persistence.memory import MemoryRepository
from services.auth import (
    HASHER,
    AuthenticationFailed,
    LoginLimiter,
    LoginThrottled,
    authenticate_password,
    change_password,
    check_password_rules,
    hash_password,
    issue_session,
    issue_token,
    set_password,
)
from services.passwords import _dummy_hash
from tests.unit.services.conftest import PASSWORD, T0, CountingHasher, at


def test_the_hasher_is_argon2id_above_owasps_minimum() -> None:
    assert HASHER.type is Type.ID
    assert (HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism) == (3, 65536, 4)
    # OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
    assert HASHER.memory_cost >= 19 * 1024 and HASHER.time_cost >= 2 and HASHER.parallelism >= 1
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short pw 11", "at least 12"),
        ("x" * 1025, "at most 1024"),
        (" \t" * 8, "only whitespace"),
    ],
)
def test_a_password_breaking_a_rule_is_refused_naming_the_field_not_the_password(
    password: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as err:
        check_password_rules(password)
    assert err.value.field == "password"
    assert rule in str(err.value)
    assert password not in str(err.value)


def test_the_shortest_and_longest_passwords_allowed_pass() -> None:
    check_password_rules("a" * 12)
    check_password_rules("a" * 1024)
    check_password_rules("   spaces around   ")


def test_a_user_logs_in_with_the_password_set(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    repo.set_user_role(alice.id, "admin", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)

    who = authenticate_password(
        repo, limiter, "alice", PASSWORD, address="10.0.0.1", now=at(1), hasher=hasher
    )

    assert (who.user_id, who.name, who.role, who.kind, who.token_id) == (
        alice.id,
        "alice",
        "admin",
        "password",
        None,
    )
    assert who.is_admin
    assert PASSWORD not in repr(who)


def login_refusal(
    repo: Any, limiter: LoginLimiter, hasher: CountingHasher, name: str, pw: str
) -> str:
    before = hasher.verifications
    with pytest.raises(AuthenticationFailed) as err:
        authenticate_password(repo, limiter, name, pw, address="10.0.0.1", now=at(1), hasher=hasher)
    assert hasher.verifications == before + 1  # one argon2 verification, whatever the reason
    return str(err.value)


def test_unknown_deleted_disabled_passwordless_and_wrong_all_fail_alike_after_one_verification(
    repo: MemoryRepository, hasher: CountingHasher
) -> None:
    limiter = LoginLimiter(max_failures_per_account=100, max_failures_per_address=100)
    for name in ("alice", "gone", "off", "nopw"):
        user = repo.upsert_user(name, now=T0)
        if name != "nopw":
            set_password(repo, user.id, PASSWORD, now=T0, hasher=hasher)
    repo.delete_user(repo.find_user("gone").id, now=T0)
    repo.set_user_disabled(repo.find_user("off").id, True, now=T0)

    messages = {
        login_refusal(repo, limiter, hasher, "nobody", PASSWORD),
        login_refusal(repo, limiter, hasher, "gone", PASSWORD),
        login_refusal(repo, limiter, hasher, "off", PASSWORD),
        login_refusal(repo, limiter, hasher, "nopw", PASSWORD),
        login_refusal(repo, limiter, hasher, "alice", PASSWORD + "!"),
    }

    assert messages == {"invalid user name or password"}


def test_the_dummy_hash_costs_what_a_real_one_does(hasher: CountingHasher) -> None:
    dummy = extract_parameters(_dummy_hash(HASHER))
    assert (dummy.time_cost, dummy.memory_cost, dummy.parallelism) == (3, 65536, 4)
    assert _dummy_hash(HASHER) == _dummy_hash(HASHER)  # made once


def test_a_password_too_long_to_be_anyones_is_refused_without_hashing_it(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    before = hasher.verifications

    with pytest.raises(AuthenticationFailed):
        authenticate_password(
            repo, limiter, "alice", "x" * 100_000, address="a", now=T0, hasher=hasher
        )

    assert hasher.verifications == before


def test_a_hash_made_with_weaker_parameters_is_replaced_on_a_successful_login(
    repo: MemoryRepository, limiter: LoginLimiter
) -> None:
    weak = CountingHasher(time_cost=1, memory_cost=8, parallelism=1)
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=weak)
    old = repo.load_password_hash(alice.id)
    assert old is not None and "m=8,t=1,p=1" in old

    authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=at(1))

    new = repo.load_password_hash(alice.id)
    assert new is not None and new.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert HASHER.verify(new, PASSWORD)
    authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=at(2))
    assert repo.load_password_hash(alice.id) == new  # current parameters: left alone


def test_a_wrong_password_never_rehashes(repo: MemoryRepository, limiter: LoginLimiter) -> None:
    weak = CountingHasher()
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=weak)
    old = repo.load_password_hash(alice.id)

    with pytest.raises(AuthenticationFailed):
        authenticate_password(repo, limiter, "alice", "not the password", address="a", now=T0)

    assert repo.load_password_hash(alice.id) == old


class ChangedMeanwhile(MemoryRepository):
    """The password is changed by someone else right after a login read the old hash."""

    def __init__(self, new_hash: str) -> None:
        super().__init__()
        self.new_hash = new_hash
        self.armed = False

    def load_password_hash(self, user_id: int) -> str | None:
        stored = super().load_password_hash(user_id)
        if self.armed:
            self.armed = False
            self.set_password_hash(user_id, self.new_hash, now=T0)
        return stored


def test_a_rehash_never_overwrites_a_password_changed_during_the_login(
    limiter: LoginLimiter,
) -> None:
    changed = HASHER.hash("the new password, set meanwhile")
    repo = ChangedMeanwhile(changed)
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=CountingHasher())
    repo.armed = True

    authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=at(1))

    assert repo.load_password_hash(alice.id) == changed


def test_setting_a_password_ends_the_users_sessions_but_keeps_its_api_tokens(
    repo: MemoryRepository, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    bob = repo.upsert_user("bob", now=T0)
    issue_session(repo, alice.id, now=T0)
    issue_session(repo, bob.id, now=T0)
    issue_token(repo, alice.id, name="ci", now=T0)

    set_password(repo, alice.id, PASSWORD, now=at(5), hasher=hasher)

    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="session")] == [at(5)]
    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="api")] == [None]
    assert [t.revoked_at for t in repo.list_tokens(bob.id, kind="session")] == [None]


def test_a_refused_password_or_a_deleted_user_changes_nothing(
    repo: MemoryRepository, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    before = repo.load_password_hash(alice.id)
    issue_session(repo, alice.id, now=T0)

    with pytest.raises(ValidationError):
        set_password(repo, alice.id, "short", now=at(1), hasher=hasher)
    repo.delete_user(alice.id, now=at(2))
    with pytest.raises(NotFound):
        set_password(repo, alice.id, PASSWORD + "2", now=at(3), hasher=hasher)

    assert repo.load_password_hash(alice.id) == before
    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="session")] == [None]


def test_a_corrupt_stored_hash_fails_the_login_like_a_wrong_password(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    repo.set_password_hash(alice.id, "not a PHC string", now=T0)
    with pytest.raises(InvalidHashError):
        hasher.verify("not a PHC string", PASSWORD)

    with pytest.raises(AuthenticationFailed, match="invalid user name or password"):
        authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=T0, hasher=hasher)


class Outage(MemoryRepository):
    def find_user(self, name: str) -> Any:
        raise DatabaseUnavailable("database unavailable during find user")


def test_an_attempt_the_database_could_not_judge_is_not_counted_as_a_failure(
    limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    repo = Outage()
    for _ in range(10):
        with pytest.raises(DatabaseUnavailable):
            authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=T0)

    limiter.check("alice", "a")  # not throttled
    assert limiter.tracked_keys() == 0


class NoWrites(MemoryRepository):
    def set_password_hash(self, user_id: int, password_hash: str | None, **kw: Any) -> bool:
        raise DatabaseUnavailable("database unavailable during set password hash")


def test_a_rehash_that_cannot_be_written_does_not_fail_a_right_password(
    limiter: LoginLimiter,
) -> None:
    repo = NoWrites()
    alice = repo.upsert_user("alice", now=T0)
    weak = CountingHasher()
    MemoryRepository.set_password_hash(repo, alice.id, weak.hash(PASSWORD), now=T0)
    old = repo.load_password_hash(alice.id)

    who = authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=at(1))

    assert who.user_id == alice.id
    assert repo.load_password_hash(alice.id) == old  # the next login tries again


NEW = "a brand new passphrase"


def test_changing_ones_password_ends_the_sessions_and_only_the_new_one_logs_in(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    issue_session(repo, alice.id, now=T0)
    issue_session(repo, alice.id, now=T0)
    issue_token(repo, alice.id, name="ci", now=T0)

    change_password(repo, limiter, alice.id, PASSWORD, NEW, address="a", now=at(5), hasher=hasher)

    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="session")] == [at(5), at(5)]
    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="api")] == [None]
    with pytest.raises(AuthenticationFailed):
        authenticate_password(repo, limiter, "alice", PASSWORD, address="a", now=at(6))
    who = authenticate_password(repo, limiter, "alice", NEW, address="a", now=at(7))
    assert who.user_id == alice.id
    stored = repo.load_password_hash(alice.id)
    assert stored is not None and NEW not in stored


def test_a_wrong_current_password_counts_as_a_failed_login_and_is_throttled_like_one(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    before = repo.load_password_hash(alice.id)

    for n in range(5):  # the account's limit, from five addresses: per account it counts
        with pytest.raises(AuthenticationFailed, match="current password is wrong") as err:
            change_password(
                repo, limiter, alice.id, "a guess", NEW, address=f"10.0.0.{n}", now=at(1)
            )
        assert "a guess" not in str(err.value)
    with pytest.raises(LoginThrottled):  # even with the right one, as a login would be
        change_password(repo, limiter, alice.id, PASSWORD, NEW, address="b", now=at(2))
    with pytest.raises(LoginThrottled):  # and the login itself is throttled too
        authenticate_password(repo, limiter, "alice", PASSWORD, address="b", now=at(2))

    assert repo.load_password_hash(alice.id) == before


@pytest.mark.parametrize(
    ("new", "says"),
    [
        ("short one", "the new password must be at least 12 characters"),
        (" " * 20, "the new password must not be only whitespace"),
        (PASSWORD, "must differ from the current one"),
    ],
)
def test_a_new_password_breaking_a_rule_or_equal_to_the_current_changes_nothing(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher, new: str, says: str
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    before = repo.load_password_hash(alice.id)
    issue_session(repo, alice.id, now=T0)

    with pytest.raises(ValidationError, match=says) as err:
        change_password(repo, limiter, alice.id, PASSWORD, new, address="a", now=at(1))

    assert err.value.field == "new_password"
    assert PASSWORD not in str(err.value) and (not new.strip() or new not in str(err.value))
    assert repo.load_password_hash(alice.id) == before
    assert [t.revoked_at for t in repo.list_tokens(alice.id, kind="session")] == [None]
    limiter.check("alice", "a")  # the current password was right: no failure counted


def test_a_password_changed_by_someone_else_meanwhile_is_not_overwritten(
    limiter: LoginLimiter,
) -> None:
    changed = HASHER.hash("the new password, set meanwhile")
    repo = ChangedMeanwhile(changed)
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=CountingHasher())
    repo.armed = True

    with pytest.raises(AuthenticationFailed):
        change_password(repo, limiter, alice.id, PASSWORD, NEW, address="a", now=at(1))

    assert repo.load_password_hash(alice.id) == changed


def test_a_disabled_user_cannot_change_its_password(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    before = repo.load_password_hash(alice.id)
    repo.set_user_disabled(alice.id, True, now=T0)

    with pytest.raises(AuthenticationFailed):
        change_password(
            repo, limiter, alice.id, PASSWORD, NEW, address="a", now=at(1), hasher=hasher
        )

    assert repo.load_password_hash(alice.id) == before
