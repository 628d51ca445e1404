"""Repository contract, issue 11: fills per symbol, the deployment tag, account environment,
the config file's strategy state, carried position, and audit rows written with their step."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.orders import Fill
from persistence.errors import VersionConflict
from persistence.memory import MemoryRepository
from persistence.records import (
    AuditEntry,
    CycleStatus,
    DesiredState,
    StepWrite,
)
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, at, fill_of, intent, onboard, open_cycle
from tests.integration.persistence.test_save_steps_statements import _statements


def _two_symbols(repo: Any) -> tuple[int, int]:
    """Two strategies on one account: ETH/USDT and BTC/USDT."""
    uid, aid, eth = onboard(repo)
    btc = repo.upsert_strategy(
        uid,
        "btc",
        account_id=aid,
        symbol="BTC/USDT",
        params={},
        desired_state=DesiredState.RUNNING,
        now=T0,
    ).id
    return eth, btc


def _fill(sid: int, symbol: str, trade_id: str) -> Fill:
    order = intent(sid, 1, "b").order
    return replace(fill_of(order, trade_id, "0.1"), symbol=symbol)


# --- item 9: trade ids are per symbol --------------------------------------------------------
def test_one_trade_id_on_two_symbols_of_one_account_stores_both_via_save_step(repo: Any) -> None:
    eth, btc = _two_symbols(repo)
    first = repo.save_step(
        eth, snapshot="{}", expected_version=0, now=at(1), fills=[_fill(eth, "ETH/USDT", "17")]
    )
    second = repo.save_step(
        btc, snapshot="{}", expected_version=0, now=at(1), fills=[_fill(btc, "BTC/USDT", "17")]
    )
    assert first.new_trade_ids == ("17",) and second.new_trade_ids == ("17",)
    replay = repo.save_step(
        btc, snapshot="{}", expected_version=1, now=at(2), fills=[_fill(btc, "BTC/USDT", "17")]
    )
    assert replay.new_trade_ids == ()
    assert [f.symbol for f in repo.list_fills(eth)] == ["ETH/USDT"]
    assert [f.symbol for f in repo.list_fills(btc)] == ["BTC/USDT"]


def test_one_trade_id_on_two_symbols_of_one_account_stores_both_via_save_steps(repo: Any) -> None:
    eth, btc = _two_symbols(repo)
    steps = [
        StepWrite.build(
            eth, snapshot="{}", expected_version=0, now=at(1), fills=[_fill(eth, "ETH/USDT", "17")]
        ),
        StepWrite.build(
            btc, snapshot="{}", expected_version=0, now=at(1), fills=[_fill(btc, "BTC/USDT", "17")]
        ),
    ]
    results = repo.save_steps(steps)
    assert [r.new_trade_ids for r in results] == [("17",), ("17",)]
    replays = repo.save_steps([replace(s, expected_version=1, new_version=2) for s in steps])
    assert [r.new_trade_ids for r in replays] == [(), ()]
    assert len(repo.list_fills(eth)) == len(repo.list_fills(btc)) == 1


def test_one_trade_id_on_two_symbols_in_one_step_stores_both(repo: Any) -> None:
    eth, _ = _two_symbols(repo)
    result = repo.save_step(
        eth,
        snapshot="{}",
        expected_version=0,
        now=at(1),
        fills=[
            _fill(eth, "ETH/USDT", "17"),
            _fill(eth, "BTC/USDT", "17"),
            _fill(eth, "ETH/USDT", "17"),
        ],
    )
    assert result.new_trade_ids == ("17", "17")
    assert sorted(f.symbol for f in repo.list_fills(eth)) == ["BTC/USDT", "ETH/USDT"]


def test_apply_fill_keys_on_account_symbol_and_trade_id(repo: Any) -> None:
    eth, btc = _two_symbols(repo)
    assert repo.apply_fill(eth, _fill(eth, "ETH/USDT", "17"), now=at(1))
    assert repo.apply_fill(btc, _fill(btc, "BTC/USDT", "17"), now=at(1))
    assert not repo.apply_fill(btc, _fill(btc, "BTC/USDT", "17"), now=at(2))
    assert not repo.apply_fill(eth, _fill(eth, "ETH/USDT", "17"), now=at(2))


# --- item 10: the deployment tag -------------------------------------------------------------
def test_the_deployment_tag_is_four_letters_fixed_and_loaded_with_the_engine(repo: Any) -> None:
    _, _, sid = onboard(repo)
    tag = repo.deployment_tag()
    assert re.fullmatch("[a-z]{4}", tag)
    assert repo.deployment_tag() == tag
    assert repo.load_engine_state(sid).deployment_tag == tag


def test_the_memory_repositorys_tag_is_injectable_and_random_per_instance() -> None:
    assert MemoryRepository(deployment_tag="abcd").deployment_tag() == "abcd"
    with pytest.raises(ValueError, match="4 lowercase ASCII letters"):
        MemoryRepository(deployment_tag="ABCD")
    with pytest.raises(ValueError, match="deployment tag"):
        MemoryRepository(deployment_tag="abcde")
    tags = {MemoryRepository().deployment_tag() for _ in range(8)}
    assert len(tags) > 1  # 8 equal draws of 26**4: about 1 in 10**39
    assert all(re.fullmatch("[a-z]{4}", t) for t in tags)


# --- accounts: the venue environment ---------------------------------------------------------
def test_an_account_stores_its_environment_and_names_its_venue(repo: Any) -> None:
    user = repo.upsert_user("alice", now=T0)
    live = repo.upsert_account(user.id, "live", exchange="binance", now=T0)
    assert (live.sandbox, live.base_url, live.venue) == (False, None, "binance@live")
    test = repo.upsert_account(user.id, "test", exchange="binance", now=T0, sandbox=True)
    assert repo.get_account(test.id).venue == "binance@sandbox"
    custom = repo.upsert_account(
        user.id, "own", exchange="binance", now=T0, base_url="https://testnet.example.com/"
    )
    assert repo.get_account(custom.id).base_url == "https://testnet.example.com/"
    assert repo.get_account(custom.id).venue == "binance@https://testnet.example.com"
    paper = repo.upsert_account(user.id, "paper", exchange="paper", now=T0)
    assert paper.venue == "paper"
    # An upsert moves the environment; an identical one returns the same record.
    moved = repo.upsert_account(user.id, "live", exchange="binance", now=at(1), sandbox=True)
    assert moved.id == live.id and moved.venue == "binance@sandbox"
    assert repo.get_account(live.id) == moved
    again = repo.upsert_account(user.id, "live", exchange="binance", now=at(2), sandbox=True)
    assert again == moved
    assert [a.venue for a in repo.list_accounts(user.id)] == [
        "binance@sandbox",
        "binance@sandbox",
        "binance@https://testnet.example.com",
        "paper",
    ]


# --- strategies: the config file's last state ------------------------------------------------
def _sync(repo: Any, uid: int, aid: int, *, now: datetime, **changes: Any) -> Any:
    values: dict[str, Any] = {
        "account_id": aid,
        "symbol": "ETH/USDT",
        "params": {"base_order": Decimal("10")},
        "desired_state": DesiredState.RUNNING,
        "config_state": "running",
    }
    values.update(changes)
    return repo.upsert_strategy(uid, "eth", now=now, **values)


def test_a_strategy_keeps_the_config_state_and_an_identical_sync_writes_nothing(
    repo: Any,
) -> None:
    user = repo.upsert_user("alice", now=T0)
    aid = repo.upsert_account(user.id, "main", exchange="paper", now=T0).id
    first = _sync(repo, user.id, aid, now=T0)
    assert first.config_state == "running"
    again = _sync(repo, user.id, aid, now=at(10))
    assert again == first
    assert repo.get_strategy(first.id).updated_at == T0
    assert repo.list_desired_states(changed_since=at(1)) == []
    # The file's state changes: stored, and the row counts as changed.
    paused = _sync(repo, user.id, aid, now=at(20), config_state="paused")
    assert paused.config_state == "paused" and paused.updated_at == at(20)
    assert [d.strategy_id for d in repo.list_desired_states(changed_since=at(20))] == [first.id]
    cleared = _sync(repo, user.id, aid, now=at(30), config_state=None)
    assert repo.get_strategy(cleared.id).config_state is None
    assert cleared.version == first.version == 0


def test_identical_upserts_send_no_write_to_the_database(sql_repo: SqlRepository) -> None:
    user = sql_repo.upsert_user("alice", now=T0)
    aid = sql_repo.upsert_account(user.id, "main", exchange="binance", now=T0, sandbox=True).id
    _sync(sql_repo, user.id, aid, now=T0)
    with _statements(sql_repo) as seen:
        sql_repo.upsert_account(user.id, "main", exchange="binance", now=at(1), sandbox=True)
        _sync(sql_repo, user.id, aid, now=at(1))
    assert seen and not [v for v in seen if v in ("INSERT", "UPDATE", "DELETE")]
    with _statements(sql_repo) as seen:
        sql_repo.upsert_account(user.id, "main", exchange="binance", now=at(2))
        _sync(sql_repo, user.id, aid, now=at(2), config_state="stopped")
    assert seen.count("UPDATE") == 2


# --- cycles: what a closed cycle carried over ------------------------------------------------
def test_a_cycle_stores_what_it_carried_to_the_next(repo: Any) -> None:
    _, _, sid = onboard(repo)
    opened = open_cycle(1, amount=Decimal("0.3"), cost=Decimal("30"))
    assert (opened.carried_amount, opened.carried_cost) == (Decimal(0), Decimal(0))
    repo.save_step(sid, snapshot="{}", expected_version=0, now=at(1), cycle=opened)
    assert repo.list_cycles(sid)[0].carried_amount == Decimal(0)
    closed = replace(
        opened,
        status=CycleStatus.CLOSED,
        closed_at=at(2),
        realized_profit=Decimal("0"),
        carried_amount=Decimal("0.0001000"),
        carried_cost=Decimal("0.0099"),
    )
    repo.save_step(sid, snapshot="{}", expected_version=1, now=at(2), cycle=closed)
    stored = repo.load_engine_state(sid).current_cycle
    assert stored is not None
    assert (stored.carried_amount, stored.carried_cost) == (Decimal("0.0001"), Decimal("0.0099"))
    assert str(stored.carried_amount) == "0.0001"
    assert repo.list_status()[0].latest_cycle.carried_cost == Decimal("0.0099")
    # close_cycle and upsert_cycle keep them too.
    again = repo.close_cycle(sid, 1, realized_profit=Decimal("1"), now=at(3))
    assert again.carried_amount == Decimal("0.0001")
    second = repo.upsert_cycle(
        sid, open_cycle(2, carried_amount=Decimal("5"), carried_cost=Decimal("7"))
    )
    assert (second.carried_amount, second.carried_cost) == (Decimal(5), Decimal(7))
    with pytest.raises(ValueError, match="carried_cost"):
        repo.upsert_cycle(sid, open_cycle(3, carried_cost=Decimal("1e-19")))


# --- item 25: audit rows commit with their step ----------------------------------------------
def _audit(event: str, *, when: datetime = T0, **data: Any) -> AuditEntry:
    return AuditEntry(at=when, level="info", event=event, message=event, data=data)


def test_a_steps_audit_rows_are_written_in_its_transaction(repo: Any) -> None:
    _, _, sid = onboard(repo)
    closed = open_cycle(1, status=CycleStatus.CLOSED, closed_at=at(1), realized_profit=Decimal(1))
    result = repo.save_step(
        sid,
        snapshot="{}",
        expected_version=0,
        now=at(1),
        cycle=closed,
        audits=[_audit("cycle_closed", when=at(1), profit="1"), _audit("note")],
    )
    assert result.version == 1
    rows = repo.recent_audit()
    assert [(a.entry.event, a.entry.at) for a in rows] == [("cycle_closed", at(1)), ("note", T0)]
    assert rows[0].entry.data == {"profit": "1"}


def test_a_refused_step_writes_none_of_its_audit_rows(repo: Any) -> None:
    _, _, sid = onboard(repo)
    with pytest.raises(VersionConflict):
        repo.save_step(
            sid, snapshot="{}", expected_version=7, now=at(1), audits=[_audit("cycle_closed")]
        )
    # A bad audit entry refuses the whole step: nothing of it lands.
    naive = _audit("cycle_closed", when=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.save_step(
            sid,
            snapshot='{"x":1}',
            expected_version=0,
            now=at(1),
            cycle=open_cycle(1),
            audits=[naive],
        )
    assert repo.recent_audit() == []
    state = repo.load_engine_state(sid)
    assert state.version == 0 and state.current_cycle is None


def test_save_steps_writes_the_audits_of_accepted_steps_only(repo: Any) -> None:
    eth, btc = _two_symbols(repo)
    steps = [
        StepWrite.build(
            eth, snapshot="{}", expected_version=0, now=at(1), audits=[_audit("eth_closed")]
        ),
        StepWrite.build(
            btc, snapshot="{}", expected_version=5, now=at(1), audits=[_audit("btc_closed")]
        ),
        StepWrite.build(
            btc,
            snapshot="{}",
            expected_version=0,
            now=at(1),
            audits=[_audit("btc_opened"), _audit("btc_note")],
        ),
        StepWrite.build(
            eth,
            snapshot="{}",
            expected_version=1,
            now=at(2),
            audits=[_audit("bad", when=T0.replace(tzinfo=None))],
        ),
    ]
    results = repo.save_steps(steps)
    assert [type(r).__name__ for r in results] == [
        "StepResult",
        "VersionConflict",
        "StepResult",
        "ValueError",
    ]
    assert [a.entry.event for a in repo.recent_audit()] == ["eth_closed", "btc_opened", "btc_note"]


def test_a_step_write_carries_its_audits_to_save_step() -> None:
    step = StepWrite.build(1, snapshot="{}", expected_version=0, now=T0, audits=[_audit("x")])
    assert step.audits == (_audit("x"),)
    assert step.save_step_kwargs()["audits"] == (_audit("x"),)
