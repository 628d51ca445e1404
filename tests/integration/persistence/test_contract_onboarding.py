"""Repository contract, onboarding side: runs on the fake, SQLite and MySQL alike."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationError
from domain.events import StopMode
from persistence.errors import NotFound
from persistence.records import (
    ActualState,
    AuditEntry,
    DesiredState,
    SealedCredentials,
)
from tests.integration.persistence.helpers import T0, at, intent, onboard, open_cycle


def test_upserts_are_idempotent_by_natural_key(repo: Any) -> None:
    uid, aid, sid = onboard(repo)
    assert onboard(repo) == (uid, aid, sid)
    assert repo.find_user("alice").id == uid
    assert repo.find_user("nobody") is None
    assert [a.id for a in repo.list_accounts(uid)] == [aid]
    assert [s.id for s in repo.list_strategies(user_id=uid)] == [sid]
    other = onboard(repo, user="bob")
    assert len({uid, other[0]}) == 2
    assert [s.id for s in repo.list_strategies()] == [sid, other[2]]


def test_strategy_params_round_trip_as_decimal_strings_and_update(repo: Any) -> None:
    uid, aid, sid = onboard(repo)
    record = repo.get_strategy(sid)
    assert record.params == {"base_order": "10.5", "take_profit": "1.5", "max_safety": 5}
    assert record.desired_state is DesiredState.RUNNING
    assert record.actual_state is ActualState.STOPPED
    assert record.version == 0
    updated = repo.upsert_strategy(
        uid,
        "eth",
        account_id=aid,
        symbol="ETH/USDT",
        params={"base_order": Decimal("20")},
        desired_state=DesiredState.PAUSED,
        now=at(1),
    )
    assert updated.id == sid
    assert updated.params == {"base_order": "20"}
    assert repo.get_strategy(sid).desired_state is DesiredState.PAUSED


def test_changing_a_strategys_symbol_or_an_accounts_exchange_is_refused(repo: Any) -> None:
    uid, aid, _ = onboard(repo)
    with pytest.raises(ValidationError, match="symbol"):
        repo.upsert_strategy(
            uid,
            "eth",
            account_id=aid,
            symbol="BTC/USDT",
            params={},
            desired_state=DesiredState.RUNNING,
            now=T0,
        )
    with pytest.raises(ValidationError, match="exchange"):
        repo.upsert_account(uid, "main", exchange="binance", now=T0)


def test_unknown_ids_raise_not_found(repo: Any) -> None:
    with pytest.raises(NotFound):
        repo.get_strategy(999)
    with pytest.raises(NotFound):
        repo.get_user(999)
    with pytest.raises(NotFound):
        repo.upsert_account(999, "main", exchange="paper", now=T0)


def test_soft_delete_hides_the_user_but_keeps_history(repo: Any) -> None:
    uid, _, sid = onboard(repo)
    repo.upsert_cycle(sid, open_cycle(1))
    repo.record_order_intent(sid, intent(sid, 1, "b"), now=T0)
    repo.delete_user(uid, now=at(10))
    assert repo.list_users() == []
    assert repo.get_user(uid).deleted_at == at(10)
    assert [u.id for u in repo.list_users(include_deleted=True)] == [uid]
    assert repo.list_strategies() == []
    assert repo.get_strategy(sid).desired_state is DesiredState.STOPPED
    assert len(repo.list_orders(sid)) == 1
    assert len(repo.list_cycles(sid)) == 1
    revived = repo.upsert_user("alice", now=at(20))
    assert revived.id == uid and not revived.deleted


def test_engine_bookkeeping_fields(repo: Any) -> None:
    _, _, sid = onboard(repo)
    repo.set_actual_state(sid, ActualState.DEGRADED, now=at(1), last_error="exchange down")
    assert repo.increment_restart_count(sid, now=at(2)) == 1
    assert repo.increment_restart_count(sid, now=at(3)) == 2
    repo.record_heartbeats({sid: at(4)})
    record = repo.get_strategy(sid)
    assert record.actual_state is ActualState.DEGRADED
    assert record.last_error == "exchange down"
    assert record.restart_count == 2
    assert record.last_heartbeat == at(4)
    repo.set_actual_state(sid, ActualState.RUNNING, now=at(5))
    assert repo.get_strategy(sid).last_error is None
    repo.set_desired_state(sid, DesiredState.STOPPED, now=at(6))
    assert repo.get_strategy(sid).desired_state is DesiredState.STOPPED
    assert repo.get_strategy(sid).stop_mode is None  # None: stop after the current cycle
    repo.set_desired_state(sid, DesiredState.STOPPED, now=at(7), stop_mode=StopMode.SELL)
    assert repo.get_strategy(sid).stop_mode is StopMode.SELL
    # a stop mode only means something with STOPPED: resuming clears it
    repo.set_desired_state(sid, DesiredState.RUNNING, now=at(8), stop_mode=StopMode.SELL)
    assert repo.get_strategy(sid).stop_mode is None


def test_timestamps_come_back_in_utc_and_naive_ones_are_refused(repo: Any) -> None:
    plus_two = timezone(timedelta(hours=2))
    user = repo.upsert_user("zoe", now=T0.astimezone(plus_two))
    assert user.created_at == T0
    assert user.created_at.utcoffset() == timedelta(0)
    with pytest.raises((ValueError, Exception), match="timezone-aware"):
        repo.upsert_user("naive", now=T0.replace(tzinfo=None))
    assert repo.find_user("naive") is None


def test_audit_rows_are_appended_in_batches_and_filtered_by_user(repo: Any) -> None:
    uid, _, sid = onboard(repo)
    entries = [
        AuditEntry(
            at=at(i),
            level="info",
            event="order.placed",
            message=f"placed {i}",
            user_id=uid if i % 2 else None,
            strategy_id=sid,
            data={"price": Decimal("1.10"), "n": i},
        )
        for i in range(6)
    ]
    assert repo.append_audit(entries) == 6
    assert repo.append_audit([]) == 0
    rows = repo.recent_audit(limit=4)
    assert [r.entry.message for r in rows] == ["placed 2", "placed 3", "placed 4", "placed 5"]
    mine = repo.recent_audit(user_id=uid)
    assert [r.entry.message for r in mine] == ["placed 1", "placed 3", "placed 5"]
    assert mine[0].entry.data == {"price": "1.10", "n": 1}


def test_credentials_rows_store_ciphertext_and_swap_only_when_unchanged(repo: Any) -> None:
    _, aid, _ = onboard(repo)
    assert repo.load_credentials(aid) is None
    first = SealedCredentials(ciphertext="mg1:1:AAAA", key_version=1, fingerprint="f1")
    account = repo.save_credentials(aid, first, now=at(1))
    assert account.has_credentials and account.credentials_created_at == at(1)
    assert account.credentials_rotated_at is None
    second = SealedCredentials(ciphertext="mg1:1:BBBB", key_version=1, fingerprint="f2")
    account = repo.save_credentials(aid, second, now=at(2))
    assert account.credentials_rotated_at == at(2)
    assert account.credentials_created_at == at(1)
    assert repo.load_credentials(aid) == second
    moved = SealedCredentials(ciphertext="mg1:2:CCCC", key_version=2, fingerprint="f2")
    assert not repo.reseal_credentials(aid, expected_ciphertext="mg1:1:AAAA", sealed=moved)
    assert [c.account_id for c in repo.list_credentials(not_key_version=2)] == [aid]
    assert repo.reseal_credentials(aid, expected_ciphertext="mg1:1:BBBB", sealed=moved)
    assert repo.list_credentials(not_key_version=2) == []
    assert repo.get_account(aid).credentials_key_version == 2
