"""Repository contract, issue 12: what a running service polls to pick up runtime commands and
rows written by another process (the API): every command counted, deleted strategies left out,
accounts whose keys were stored or replaced."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import update

from domain.events import StopMode
from persistence import models as m
from persistence.memory import MemoryRepository
from persistence.records import DesiredState, SealedCredentials
from tests.integration.persistence.helpers import T0, at, onboard


def _mark_deleted(repo: Any, strategy_id: int, seconds: int) -> None:
    """What `delete_strategy` (another change) writes: `deleted_at` and a touched row."""
    if isinstance(repo, MemoryRepository):
        record = repo.get_strategy(strategy_id)
        repo._s.strategies[strategy_id] = replace(
            record, deleted_at=at(seconds), updated_at=at(seconds)
        )
        return
    with repo._engine.begin() as conn:
        conn.execute(
            update(m.STRATEGIES)
            .where(m.STRATEGIES.c.id == strategy_id)
            .values(deleted_at=at(seconds), updated_at=at(seconds))
        )


def _sealed(fingerprint: str) -> SealedCredentials:
    return SealedCredentials(
        ciphertext=f"mg1:1:{fingerprint}", key_version=1, fingerprint=fingerprint
    )


def test_every_command_is_counted_even_one_that_repeats_the_desired_state(repo: Any) -> None:
    _, _, sid = onboard(repo)
    assert repo.get_strategy(sid).command_seq == 0
    [first] = repo.list_desired_states()
    assert first.command_seq == 0
    repo.set_desired_state(sid, DesiredState.RUNNING, now=at(1))  # already running: a resume
    repo.set_desired_state(sid, DesiredState.RUNNING, now=at(2))
    [again] = repo.list_desired_states(changed_since=at(2))
    assert (again.desired_state, again.command_seq) == (DesiredState.RUNNING, 2)
    repo.set_desired_state(sid, DesiredState.STOPPED, now=at(3), stop_mode=StopMode.SELL)
    record = repo.get_strategy(sid)
    assert (record.command_seq, record.stop_mode) == (3, StopMode.SELL)


def test_a_deleted_strategy_is_not_polled_but_its_siblings_are(repo: Any) -> None:
    uid, aid, sid = onboard(repo)
    other = repo.upsert_strategy(
        uid,
        "btc",
        account_id=aid,
        symbol="BTC/USDT",
        params={},
        desired_state=DesiredState.STOPPED,
        now=T0,
    ).id
    repo.set_desired_state(sid, DesiredState.STOPPED, now=at(1))
    _mark_deleted(repo, sid, 2)
    assert [d.strategy_id for d in repo.list_desired_states()] == [other]
    assert repo.list_desired_states(changed_since=at(2)) == []
    assert repo.get_strategy(sid).deleted_at == at(2)


def test_accounts_created_or_given_a_key_since_a_time_are_listed(repo: Any) -> None:
    uid, aid, _ = onboard(repo)  # created at T0, no key
    bob = repo.upsert_user("bob", now=T0)
    spare = repo.upsert_account(bob.id, "spare", exchange="binance", now=at(5)).id
    assert [a.id for a in repo.list_changed_accounts()] == [aid, spare]
    assert [a.id for a in repo.list_changed_accounts(changed_since=at(1))] == [spare]
    repo.save_credentials(aid, _sealed("f1"), now=at(10))  # first key: created, not rotated
    assert [a.id for a in repo.list_changed_accounts(changed_since=at(6))] == [aid]
    assert repo.list_changed_accounts(changed_since=at(11)) == []
    repo.save_credentials(aid, _sealed("f2"), now=at(20))  # replaced
    [changed] = repo.list_changed_accounts(changed_since=at(15))
    assert (changed.id, changed.credentials_fingerprint) == (aid, "f2")
    assert changed.credentials_rotated_at == at(20)
    repo.delete_user(uid, now=at(30))  # a deleted user's accounts are nobody's business
    assert [a.id for a in repo.list_changed_accounts()] == [spare]
