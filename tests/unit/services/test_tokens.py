"""API tokens and dashboard sessions: shown once, stored hashed, refused alike when not valid."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.memory import MemoryRepository
from services.auth import (
    AuthenticationFailed,
    authenticate_session,
    authenticate_token,
    check_csrf,
    csrf_token,
    end_session,
    issue_session,
    issue_token,
    list_tokens,
    revoke_token,
)
from tests.unit.services.conftest import T0, at


def user(repo: MemoryRepository, name: str = "alice") -> int:
    return int(repo.upsert_user(name, now=T0).id)


def test_a_token_is_256_random_bits_behind_a_prefix_and_only_its_digest_is_stored(
    repo: MemoryRepository,
) -> None:
    alice = user(repo)

    issued = issue_token(repo, alice, name="ci", now=T0)

    secret = issued.secret
    assert secret.startswith("mgt_")
    assert len(base64.urlsafe_b64decode(secret[4:] + "=")) == 32  # 256 bits
    assert issued.record.prefix == secret[4:12]
    assert (issued.record.name, issued.record.kind, issued.record.user_id) == ("ci", "api", alice)
    found = repo.find_token(hashlib.sha256(secret.encode()).hexdigest())
    assert found is not None and found[0] == issued.record
    assert repo.find_token(secret) is None
    assert secret not in repr(issued)
    assert secret[4:] not in repr(issued)
    assert issue_token(repo, alice, name="ci", now=T0).secret != secret


def test_a_token_authenticates_its_user(repo: MemoryRepository) -> None:
    alice = user(repo)
    repo.set_user_role(alice, "admin", now=T0)
    issued = issue_token(repo, alice, name="ci", now=T0, expires_at=at(3600))

    who = authenticate_token(repo, issued.secret, now=at(10))

    assert (who.user_id, who.name, who.role, who.token_id, who.kind) == (
        alice,
        "alice",
        "admin",
        issued.record.id,
        "api",
    )
    assert issued.secret not in repr(who)


def refusal(repo: MemoryRepository, secret: Any, *, now: datetime = T0, kind: str = "api") -> str:
    with pytest.raises(AuthenticationFailed) as err:
        authenticate_token(repo, secret, now=now, kind=kind)
    return str(err.value)


def test_unknown_revoked_expired_wrong_kind_deleted_and_malformed_are_refused_alike(
    repo: MemoryRepository,
) -> None:
    alice, bob = user(repo), user(repo, "bob")
    revoked = issue_token(repo, alice, name="old", now=T0)
    revoke_token(repo, alice, revoked.record.id, now=at(1))
    expiring = issue_token(repo, alice, name="short", now=T0, expires_at=at(60))
    session = issue_session(repo, alice, now=T0)
    api = issue_token(repo, alice, name="api", now=T0)
    bobs = issue_token(repo, bob, name="bob's", now=T0)
    repo.delete_user(bob, now=at(1))

    messages = {
        refusal(repo, "mgt_" + "A" * 43),
        refusal(repo, revoked.secret, now=at(2)),
        refusal(repo, expiring.secret, now=at(60)),
        refusal(repo, session.secret),  # a session cookie is no API token
        refusal(repo, api.secret, kind="session"),  # nor the other way round
        refusal(repo, bobs.secret, now=at(2)),
        refusal(repo, "Bearer " + api.secret),
        refusal(repo, api.secret[:-1] + "%"),
        refusal(repo, ""),
        refusal(repo, None),
    }

    assert messages == {"invalid, expired or revoked token"}
    authenticate_token(repo, expiring.secret, now=at(59))  # a second before it expires


class CountingTouches(MemoryRepository):
    def __init__(self) -> None:
        super().__init__()
        self.touches: list[datetime] = []

    def touch_token(self, token_id: int, *, now: datetime) -> None:
        self.touches.append(now)
        super().touch_token(token_id, now=now)


def test_the_last_use_is_written_at_most_once_a_minute() -> None:
    repo = CountingTouches()
    issued = issue_token(repo, user(repo), name="ci", now=T0)

    for second in (0, 1, 30, 59, 60, 61, 119, 120):
        authenticate_token(repo, issued.secret, now=at(second))

    assert repo.touches == [at(0), at(60), at(120)]
    assert list_tokens(repo, issued.record.user_id)[0].last_used_at == at(120)


@pytest.mark.parametrize("name", ["", "x" * 65, "   ", "tab\there", "new\nline"])
def test_a_token_name_breaking_the_rules_is_refused(repo: MemoryRepository, name: str) -> None:
    with pytest.raises(ValidationError) as err:
        issue_token(repo, user(repo), name=name, now=T0)
    assert err.value.field == "name"
    assert repo.list_tokens(user(repo), kind=None) == []


def test_names_of_one_to_64_characters_are_fine(repo: MemoryRepository) -> None:
    alice = user(repo)
    issue_token(repo, alice, name="x", now=T0)
    issue_token(repo, alice, name="déploiement " + "y" * 52, now=T0)
    assert len(list_tokens(repo, alice)) == 2


@pytest.mark.parametrize(
    "expires_at", [T0, at(-1), datetime(2030, 1, 1)], ids=["now", "past", "naive"]
)
def test_an_expiry_not_in_the_future_is_refused(
    repo: MemoryRepository, expires_at: datetime
) -> None:
    with pytest.raises(ValidationError) as err:
        issue_token(repo, user(repo), name="ci", now=T0, expires_at=expires_at)
    assert err.value.field == "expires_at"


def test_a_deleted_or_missing_user_gets_no_token(repo: MemoryRepository) -> None:
    alice = user(repo)
    repo.delete_user(alice, now=T0)
    with pytest.raises(NotFound):
        issue_token(repo, alice, name="ci", now=T0)
    with pytest.raises(NotFound):
        issue_token(repo, 999, name="ci", now=T0)
    assert repo.list_tokens(alice, kind=None) == []


def test_a_user_lists_and_revokes_only_its_own_api_tokens(repo: MemoryRepository) -> None:
    alice, bob = user(repo), user(repo, "bob")
    first = issue_token(repo, alice, name="first", now=T0)
    second = issue_token(repo, alice, name="second", now=at(1))
    session = issue_session(repo, alice, now=at(2))
    bobs = issue_token(repo, bob, name="bob's", now=T0)

    assert [t.name for t in list_tokens(repo, alice)] == ["second", "first"]
    for other in (bobs.record.id, session.record.id, 999):
        with pytest.raises(NotFound, match=f"token {other} does not exist"):
            revoke_token(repo, alice, other, now=at(3))
    authenticate_token(repo, bobs.secret, now=at(3))
    authenticate_session(repo, session.secret, now=at(3))

    revoke_token(repo, alice, first.record.id, now=at(4))

    assert [t.revoked_at for t in list_tokens(repo, alice)] == [None, at(4)]
    authenticate_token(repo, second.secret, now=at(5))
    with pytest.raises(AuthenticationFailed):
        authenticate_token(repo, first.secret, now=at(5))


def test_a_session_lasts_twelve_hours_unless_it_is_ended(repo: MemoryRepository) -> None:
    alice = user(repo)
    session = issue_session(repo, alice, now=T0)
    assert session.record.kind == "session"
    assert session.record.expires_at == T0 + timedelta(hours=12)

    who = authenticate_session(repo, session.secret, now=T0 + timedelta(hours=11, minutes=59))
    assert (who.kind, who.token_id) == ("session", session.record.id)
    with pytest.raises(AuthenticationFailed):
        authenticate_session(repo, session.secret, now=T0 + timedelta(hours=12))

    other = issue_session(repo, alice, now=at(1), ttl=timedelta(minutes=5))
    end_session(repo, other.secret, now=at(2))
    end_session(repo, other.secret, now=at(3))  # twice: no error, first time kept
    end_session(repo, "garbage", now=at(3))
    with pytest.raises(AuthenticationFailed):
        authenticate_session(repo, other.secret, now=at(4))
    assert repo.list_tokens(alice, kind="session")[0].revoked_at == at(2)


def test_ending_a_session_with_an_api_tokens_secret_leaves_the_token(
    repo: MemoryRepository,
) -> None:
    api = issue_token(repo, user(repo), name="ci", now=T0)
    end_session(repo, api.secret, now=at(1))
    authenticate_token(repo, api.secret, now=at(2))


def test_a_session_with_no_lifetime_is_refused(repo: MemoryRepository) -> None:
    with pytest.raises(ValidationError) as err:
        issue_session(repo, user(repo), now=T0, ttl=timedelta(0))
    assert err.value.field == "ttl"


def test_the_csrf_token_is_the_sessions_own_and_reveals_nothing(repo: MemoryRepository) -> None:
    alice = user(repo)
    one = issue_session(repo, alice, now=T0).secret
    two = issue_session(repo, alice, now=T0).secret

    token = csrf_token(one)

    assert token == csrf_token(one)
    assert len(token) == 64 and one[4:12] not in token
    assert token != csrf_token(two)
    assert check_csrf(one, token)
    assert not check_csrf(two, token)
    assert not check_csrf(one, token[:-1])
    assert not check_csrf(one, "")
    assert not check_csrf(one, None)
    assert not check_csrf(one, "é" * 64)
    assert not check_csrf(one, "\udcff")


def test_a_login_deletes_the_users_sessions_that_ended_a_month_ago(repo: MemoryRepository) -> None:
    alice = repo.upsert_user("alice", now=T0).id
    old = issue_session(repo, alice, now=T0)
    end_session(repo, old.secret, now=T0 + timedelta(hours=1))
    recent = issue_session(repo, alice, now=T0 + timedelta(days=20))
    issue_session(repo, alice, now=T0 + timedelta(days=31))
    kept = {t.id for t in repo.list_tokens(alice, kind="session")}
    assert old.record.id not in kept  # ended 31 days before this login
    assert recent.record.id in kept
    assert len(kept) == 2
