"""Repository contract, issue 12: what a running service polls to pick up runtime commands and
rows written by another process (the API): every command counted, deleted strategies left out,
a deleted user's strategies stopped, accounts whose keys were stored or replaced."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import update

from actors.root_poll import start_key
from domain.events import StopMode
from persistence import models as m
from persistence.memory import MemoryRepository
from persistence.records import DesiredState, SealedCredentials
from tests.integration.persistence.helpers import T0, another_strategy, at, onboard


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


def test_a_deleted_users_strategies_get_a_counted_stop_that_cancels_and_are_polled(
    repo: Any,
) -> None:
    uid, aid, running = onboard(repo)

    def strategy(name: str, desired: DesiredState) -> int:
        return another_strategy(repo, uid, aid, name, desired=desired)

    paused = strategy("paused", DesiredState.PAUSED)
    finishing = strategy("finishing", DesiredState.RUNNING)
    repo.set_desired_state(finishing, DesiredState.STOPPED, now=at(1))  # FINISH_CYCLE
    selling = strategy("selling", DesiredState.RUNNING)
    repo.set_desired_state(selling, DesiredState.STOPPED, now=at(1), stop_mode=StopMode.SELL)
    # Sold earlier, then set running again by a config sync (which leaves stop_mode as it was).
    resumed = strategy("resumed", DesiredState.RUNNING)
    repo.set_desired_state(resumed, DesiredState.STOPPED, now=at(1), stop_mode=StopMode.SELL)
    repo.upsert_strategy(
        uid,
        "resumed",
        account_id=aid,
        symbol="ETH/USDT",
        params={},
        desired_state=DesiredState.RUNNING,
        now=at(2),
    )
    gone = strategy("gone", DesiredState.STOPPED)
    _mark_deleted(repo, gone, 3)
    bob, _, bobs = onboard(repo, user="bob")
    before = {sid: repo.get_strategy(sid) for sid in (running, paused, finishing, selling, resumed)}

    repo.delete_user(uid, now=at(10))

    polled = {d.strategy_id: d for d in repo.list_desired_states(changed_since=at(10))}
    assert set(polled) == set(before)  # not the deleted strategy, not bob's
    for sid, old in before.items():
        record = polled[sid]
        assert (record.user_id, record.user_deleted) == (uid, True)
        assert record.desired_state is DesiredState.STOPPED
        assert record.stop_mode is (StopMode.SELL if sid == selling else StopMode.CANCEL)
        assert record.command_seq == old.command_seq + 1
        assert repo.get_strategy(sid).updated_at == at(10)
    assert repo.get_strategy(gone).updated_at == at(3)
    [bobs_record] = [d for d in repo.list_desired_states() if d.user_id == bob]
    assert (bobs_record.strategy_id, bobs_record.user_deleted) == (bobs, False)
    assert repo.list_strategies() == [repo.get_strategy(bobs)]  # the lists still hide alice's


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


def test_the_poll_reads_each_strategys_start_condition(repo: Any) -> None:
    uid, aid, sid = onboard(repo)
    record = repo.get_strategy(sid)
    start = "rsi below=30 period=14 timeframe=5m"
    repo.upsert_strategy(
        uid,
        record.name,
        account_id=aid,
        symbol=record.symbol,
        params={**record.params, "start_condition": start},
        desired_state=DesiredState.RUNNING,
        now=at(5),
    )
    [polled] = repo.list_desired_states(changed_since=at(5))
    # as each database gives it; the root's poll compares one form (actors.root_poll.start_key)
    assert start_key(polled.start_condition) == start
    repo.upsert_strategy(
        uid,
        record.name,
        account_id=aid,
        symbol=record.symbol,
        params={k: v for k, v in record.params.items() if k != "start_condition"},
        desired_state=DesiredState.RUNNING,
        now=at(6),
    )
    [polled] = repo.list_desired_states(changed_since=at(6))
    assert polled.start_condition is None
