"""Repository contract, webhook signals (issue 16): signal keys and signals, on the fake,
SQLite and MySQL alike. `unconsumed_signals` and `consume_signal` are what the service's
engines call to take a signal the web recorded."""

from __future__ import annotations

from typing import Any

import pytest

from persistence.errors import DuplicateSignal, NotFound, PersistenceError
from persistence.records import DesiredState
from tests.integration.persistence.helpers import T0, at, onboard


def key(repo: Any, strategy_id: int, n: int, *, when: int = 0, version: int = 1) -> Any:
    return repo.save_signal_key(
        strategy_id,
        token_hash=f"{n:064x}",
        secret_ciphertext=f"mg1:{version}:cipher{n}",
        key_version=version,
        now=at(when),
    )


def test_a_key_is_found_by_its_token_hash_and_a_rotation_replaces_it_whole(repo: Any) -> None:
    _, _, sid = onboard(repo)
    assert repo.get_signal_key(sid) is None
    made = key(repo, sid, 1)
    assert (made.strategy_id, made.created_at, made.rotated_at) == (sid, T0, None)
    assert repo.find_signal_key(f"{1:064x}") == made == repo.get_signal_key(sid)

    rotated = key(repo, sid, 2, when=60)

    assert repo.find_signal_key(f"{1:064x}") is None  # the old URL stops at once
    assert repo.find_signal_key(f"{2:064x}") == rotated == repo.get_signal_key(sid)
    assert (rotated.id, rotated.created_at, rotated.rotated_at) == (made.id, T0, at(60))
    assert rotated.secret_ciphertext == "mg1:1:cipher2"
    assert "cipher" not in repr(rotated)


def test_keys_of_missing_or_deleted_strategies_and_reused_hashes_are_refused(repo: Any) -> None:
    _, _, sid = onboard(repo)
    _, _, other = onboard(repo, "bob")
    with pytest.raises(NotFound):
        key(repo, 9999, 1)
    key(repo, sid, 1)
    with pytest.raises(PersistenceError):
        key(repo, other, 1)  # the token hash is unique
    assert repo.get_signal_key(other) is None
    repo.set_desired_state(other, DesiredState.STOPPED, now=at(1))
    repo.delete_strategy(other, now=at(2))
    with pytest.raises(NotFound):
        key(repo, other, 3)


def test_a_master_key_rotation_lists_and_reseals_only_while_unchanged(repo: Any) -> None:
    _, _, a = onboard(repo)
    _, _, b = onboard(repo, "bob")
    key(repo, a, 1, version=1)
    key(repo, b, 2, version=2)
    assert [k.strategy_id for k in repo.list_signal_keys()] == [a, b]
    assert [k.strategy_id for k in repo.list_signal_keys(not_key_version=2)] == [a]

    assert not repo.reseal_signal_key(
        a, expected_ciphertext="mg1:1:stale", secret_ciphertext="mg1:2:new", key_version=2
    )
    assert repo.reseal_signal_key(
        a, expected_ciphertext="mg1:1:cipher1", secret_ciphertext="mg1:2:new", key_version=2
    )
    assert repo.list_signal_keys(not_key_version=2) == []
    assert repo.get_signal_key(a).secret_ciphertext == "mg1:2:new"
    assert not repo.reseal_signal_key(
        9999, expected_ciphertext="x", secret_ciphertext="y", key_version=2
    )


def test_a_signal_is_stored_once_per_nonce_and_strategy(repo: Any) -> None:
    _, _, a = onboard(repo)
    _, _, b = onboard(repo, "bob")
    first = repo.record_signal(a, nonce="n1", signal_at=at(1), now=at(2))
    assert (first.strategy_id, first.nonce, first.signal_at, first.received_at) == (
        a,
        "n1",
        at(1),
        at(2),
    )
    assert first.consumed_at is None

    with pytest.raises(DuplicateSignal):
        repo.record_signal(a, nonce="n1", signal_at=at(3), now=at(3))
    repo.record_signal(b, nonce="n1", signal_at=at(3), now=at(3))  # another strategy's own
    assert [s.nonce for s in repo.unconsumed_signals([a])] == ["n1"]
    with pytest.raises(NotFound):
        repo.record_signal(9999, nonce="n", signal_at=at(1), now=at(1))


def test_unconsumed_signals_are_those_of_the_strategies_asked_oldest_first(repo: Any) -> None:
    _, _, a = onboard(repo)
    _, _, b = onboard(repo, "bob")
    _, _, c = onboard(repo, "carol")
    s1 = repo.record_signal(a, nonce="1", signal_at=at(1), now=at(1))
    s2 = repo.record_signal(b, nonce="2", signal_at=at(2), now=at(2))
    s3 = repo.record_signal(a, nonce="3", signal_at=at(3), now=at(3))
    repo.record_signal(c, nonce="4", signal_at=at(4), now=at(4))

    assert [s.id for s in repo.unconsumed_signals([a, b])] == [s1.id, s2.id, s3.id]
    assert repo.unconsumed_signals([]) == []

    assert repo.consume_signal(s1.id, at(10)) is True
    assert repo.consume_signal(s1.id, at(11)) is False  # idempotent: the first time stays
    assert repo.consume_signal(999_999, at(11)) is False

    assert [s.id for s in repo.unconsumed_signals([a, b])] == [s2.id, s3.id]
    assert [s.id for s in repo.unconsumed_signals((a,))] == [s3.id]
    # None: every strategy's, with no id list (what the service's poll asks)
    assert [s.strategy_id for s in repo.unconsumed_signals(None)] == [b, a, c]


def test_a_signal_recorded_inside_a_failed_transaction_is_gone(repo: Any) -> None:
    _, _, a = onboard(repo)
    with pytest.raises(RuntimeError), repo.transaction():
        repo.record_signal(a, nonce="n", signal_at=at(1), now=at(1))
        raise RuntimeError("boom")
    assert repo.unconsumed_signals([a]) == []
    repo.record_signal(a, nonce="n", signal_at=at(1), now=at(1))  # not a replay: never stored


def test_a_revoked_key_is_gone_and_its_strategys_signals_stay(repo: Any) -> None:
    _, _, a = onboard(repo)
    _, _, b = onboard(repo, "bob")
    key(repo, a, 1)
    kept = key(repo, b, 2)
    repo.record_signal(a, nonce="n", signal_at=at(1), now=at(1))

    assert repo.delete_signal_key(a) is True
    assert repo.get_signal_key(a) is None
    assert repo.find_signal_key(f"{1:064x}") is None  # its URL stops at once
    assert repo.delete_signal_key(a) is False  # nothing left to revoke
    assert repo.get_signal_key(b) == kept == repo.find_signal_key(f"{2:064x}")
    assert [s.nonce for s in repo.recent_signals(a, limit=5)] == ["n"]
    made = key(repo, a, 3, when=9)  # a new key after a revocation is a first key again
    assert (made.created_at, made.rotated_at) == (at(9), None)


def test_recent_signals_are_the_strategys_newest_first_consumed_or_not(repo: Any) -> None:
    _, _, a = onboard(repo)
    _, _, b = onboard(repo, "bob")
    mine = [repo.record_signal(a, nonce=f"a{n}", signal_at=at(n), now=at(n)) for n in range(4)]
    repo.record_signal(b, nonce="b", signal_at=at(9), now=at(9))
    repo.consume_signal(mine[2].id, at(20))

    recent = repo.recent_signals(a, limit=3)
    assert [s.nonce for s in recent] == ["a3", "a2", "a1"]
    assert [s.consumed_at for s in recent] == [None, at(20), None]
    assert [s.nonce for s in repo.recent_signals(b, limit=3)] == ["b"]
    assert repo.recent_signals(9999, limit=3) == []
