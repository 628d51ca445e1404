"""Repository contract, the corners of a step: batched writes must act as if done one by one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import DuplicateOrder, IllegalTransition
from domain.events import StopMode
from domain.orders import OrderState
from persistence.errors import NotFound
from persistence.records import ActualState, DesiredState, DesiredStateRecord, OrderIntent
from tests.integration.persistence.helpers import T0, at, fill_of, intent, onboard, open_cycle


def test_desired_states_cover_every_users_strategies_in_id_order(repo: Any) -> None:
    uid, aid, first = onboard(repo)
    second = repo.upsert_strategy(
        uid,
        "btc",
        account_id=aid,
        symbol="BTC/USDT",
        params={},
        desired_state=DesiredState.PAUSED,
        now=T0,
    ).id
    bob, _, bobs = onboard(repo, user="bob")
    gone, _, carols = onboard(repo, user="carol")
    repo.delete_user(gone, now=at(1))
    repo.set_desired_state(bobs, DesiredState.STOPPED, now=at(2), stop_mode=StopMode.SELL)

    assert repo.list_desired_states() == [
        DesiredStateRecord(strategy_id=first, user_id=uid, desired_state=DesiredState.RUNNING),
        DesiredStateRecord(strategy_id=second, user_id=uid, desired_state=DesiredState.PAUSED),
        DesiredStateRecord(
            strategy_id=bobs,
            user_id=bob,
            desired_state=DesiredState.STOPPED,
            stop_mode=StopMode.SELL,
            command_seq=1,
        ),
        DesiredStateRecord(  # a deleted user's: the stop its deletion asked for
            strategy_id=carols,
            user_id=gone,
            desired_state=DesiredState.STOPPED,
            stop_mode=StopMode.CANCEL,
            command_seq=1,
            user_deleted=True,
        ),
    ]


def test_desired_states_changed_since_lists_only_rows_touched_at_or_after_it(repo: Any) -> None:
    uid, _, first = onboard(repo)
    _, _, second = onboard(repo, user="bob")
    repo.set_desired_state(second, DesiredState.PAUSED, now=at(5))
    assert [r.strategy_id for r in repo.list_desired_states(changed_since=at(5))] == [second]
    assert repo.list_desired_states(changed_since=at(6)) == []
    repo.set_desired_state(first, DesiredState.STOPPED, now=at(7), stop_mode=StopMode.CANCEL)
    assert repo.list_desired_states(changed_since=at(6)) == [
        DesiredStateRecord(
            strategy_id=first,
            user_id=uid,
            desired_state=DesiredState.STOPPED,
            stop_mode=StopMode.CANCEL,
            command_seq=1,
        )
    ]
    assert len(repo.list_desired_states(changed_since=T0)) == 2


def test_a_missing_strategy_is_not_found_not_a_version_conflict(repo: Any) -> None:
    onboard(repo)
    with pytest.raises(NotFound, match="strategy 999 does not exist"):
        repo.save_step(999, snapshot="{}", expected_version=0, now=at(1))
    with pytest.raises(NotFound):
        repo.set_actual_state(999, ActualState.RUNNING, now=at(1))
    with pytest.raises(NotFound):
        repo.set_desired_state(999, DesiredState.PAUSED, now=at(1))
    with pytest.raises(NotFound):
        repo.increment_restart_count(999, now=at(1))
    with pytest.raises(NotFound):
        repo.record_order_intent(999, intent(999, 1, "b"), now=at(1))
    with pytest.raises(NotFound):
        repo.apply_fill(999, fill_of(intent(999, 1, "b").order, "T1", "0.1"), now=at(1))
    with pytest.raises(NotFound):
        repo.upsert_cycle(999, open_cycle(1))


def test_a_step_can_record_an_order_and_move_it_twice(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base = intent(sid, 1, "b").order
    opened = base.transition(OrderState.OPEN, exchange_order_id="E1")
    # The exchange's answer may leave the order id out: the stored one stays.
    part = replace(
        opened.transition(OrderState.PARTIALLY_FILLED, filled=Decimal("0.05"), cost=Decimal("5")),
        exchange_order_id=None,
    )
    repo.save_step(
        sid,
        snapshot="{}",
        expected_version=0,
        now=at(1),
        new_orders=[intent(sid, 1, "b")],
        order_updates=[opened, part],
    )
    [stored] = repo.list_orders(sid)
    assert stored.state is OrderState.PARTIALLY_FILLED
    assert stored.filled == Decimal("0.05") and stored.cost == Decimal("5")
    assert stored.exchange_order_id == "E1"
    assert stored.created_at == at(1) and stored.updated_at == at(1)


def test_an_illegal_move_inside_one_step_is_refused_and_writes_nothing(repo: Any) -> None:
    _, _, sid = onboard(repo)
    repo.record_order_intent(sid, intent(sid, 1, "b"), now=T0)
    base = repo.list_orders(sid)[0]
    filled = base.transition(OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10"))
    with pytest.raises(IllegalTransition, match="filled -> open"):
        repo.save_step(
            sid,
            snapshot="{}",
            expected_version=0,
            now=at(1),
            order_updates=[filled, replace(filled, state=OrderState.OPEN)],
        )
    assert repo.list_orders(sid) == [base]
    assert repo.load_engine_state(sid).version == 0


@pytest.mark.parametrize("where", ["stored", "same step"])
def test_a_reused_client_order_id_is_refused_and_the_step_writes_nothing(
    repo: Any, where: str
) -> None:
    _, aid, sid = onboard(repo)
    base = intent(sid, 1, "b")
    new_orders = [intent(sid, 1, "s1"), base]
    if where == "stored":
        repo.record_order_intent(sid, base, now=T0)
    else:
        new_orders.append(base)
    before = repo.list_orders(sid)
    with pytest.raises(DuplicateOrder) as refused:
        repo.save_step(
            sid,
            snapshot="{}",
            expected_version=0,
            now=at(1),
            new_orders=new_orders,
            cycle=open_cycle(1),
        )
    assert str(refused.value) == (
        f"client order id {base.order.client_order_id} is already recorded on account {aid}"
    )
    assert repo.list_orders(sid) == before
    assert repo.list_cycles(sid) == []


def test_fills_find_their_cycle_from_the_order_or_its_client_order_id(repo: Any) -> None:
    _, _, sid = onboard(repo)
    # Rows whose cycle is not the one their client order id names: the row wins.
    moved = [OrderIntent(cycle=2, leg="b", order=intent(sid, 7, leg).order) for leg in "bcd"]
    unrecorded = intent(sid, 3, "s1").order  # ours, but no row (e.g. lost before its intent)
    manual = replace(unrecorded, client_order_id="web-123")  # placed by hand on the exchange
    repo.save_step(sid, snapshot="{}", expected_version=0, now=at(1), new_orders=moved[:2])
    opened = moved[0].order.transition(OrderState.OPEN)
    result = repo.save_step(
        sid,
        snapshot="{}",
        expected_version=1,
        now=at(2),
        new_orders=moved[2:],
        order_updates=[opened],
        fills=[
            fill_of(opened, "T1", "0.1"),  # an order this step also updates
            fill_of(moved[1].order, "T2", "0.1"),  # a stored order the step does not touch
            fill_of(moved[2].order, "T3", "0.1"),  # an order this step records
            fill_of(unrecorded, "T4", "0.1"),
            fill_of(manual, "T5", "0.1"),
        ],
    )
    assert result.new_trade_ids == ("T1", "T2", "T3", "T4", "T5")
    assert [f.trade_id for f in repo.list_fills(sid, cycle=2)] == ["T1", "T2", "T3"]
    assert [f.trade_id for f in repo.list_fills(sid, cycle=3)] == ["T4"]
    assert repo.list_fills(sid, cycle=7) == []
    assert [f.trade_id for f in repo.list_fills(sid)] == ["T1", "T2", "T3", "T4", "T5"]


def test_an_unchanged_cycle_is_updated_in_place(repo: Any) -> None:
    _, _, sid = onboard(repo)
    cycle = open_cycle(1, amount=Decimal("0.1"), cost=Decimal("10"))
    version = 0
    for second in (1, 2):  # the same values twice: zero rows *changed* on MySQL
        version = repo.save_step(
            sid, snapshot="{}", expected_version=version, now=at(second), cycle=cycle
        ).version
    assert repo.upsert_cycle(sid, cycle) == cycle
    assert repo.list_cycles(sid) == [cycle]
    closed = repo.close_cycle(sid, 1, realized_profit=Decimal("0.5"), now=at(3))
    assert repo.list_cycles(sid) == [closed]
    assert repo.load_engine_state(sid).current_cycle == closed


def test_a_strategy_rolled_back_with_its_transaction_leaves_nothing_to_its_successor(
    repo: Any,
) -> None:
    """Its id may be handed out again (SQLite reuses row ids): to a strategy on another account."""
    uid, first_account, sid = onboard(repo)
    other_account = repo.upsert_account(uid, "other", exchange="paper", now=T0).id
    known = intent(sid, 1, "b")
    repo.record_order_intent(sid, known, now=T0)
    assert repo.apply_fill(sid, fill_of(known.order, "T1", "0.1"), now=T0)

    def strategy(name: str, account_id: int) -> int:
        return int(
            repo.upsert_strategy(
                uid,
                name,
                account_id=account_id,
                symbol="ETH/USDT",
                params={},
                desired_state=DesiredState.RUNNING,
                now=T0,
            ).id
        )

    with pytest.raises(RuntimeError), repo.transaction():
        doomed = strategy("doomed", first_account)
        repo.save_step(
            doomed,
            snapshot="{}",
            expected_version=0,
            now=at(1),
            fills=[fill_of(known.order, "T9", "0.1")],
        )
        raise RuntimeError("roll back")
    successor = strategy("successor", other_account)
    # Trade ids are unique per account: T1 is new on the other account.
    assert repo.apply_fill(successor, fill_of(known.order, "T1", "0.1"), now=at(2))
    assert [f.trade_id for f in repo.list_fills(successor)] == ["T1"]


def test_writes_inside_one_transaction_build_on_each_other(repo: Any) -> None:
    """An onboarding sync mixes upserts with state changes; the last write of each field wins."""
    uid, aid, sid = onboard(repo)

    def upsert(desired: DesiredState) -> None:
        repo.upsert_strategy(
            uid,
            "eth",
            account_id=aid,
            symbol="ETH/USDT",
            params={},
            desired_state=desired,
            now=at(1),
        )

    with repo.transaction():
        upsert(DesiredState.RUNNING)
        repo.set_desired_state(sid, DesiredState.STOPPED, now=at(2))
        assert repo.get_strategy(sid).desired_state is DesiredState.STOPPED
        upsert(DesiredState.RUNNING)
        assert [s.desired_state for s in repo.list_strategies()] == [DesiredState.RUNNING]
        repo.increment_restart_count(sid, now=at(3))
        repo.set_actual_state(sid, ActualState.FAULTED, now=at(3), last_error="gave up")
        assert repo.list_strategies()[0].restart_count == 1
    record = repo.get_strategy(sid)
    assert record.desired_state is DesiredState.RUNNING
    assert record.actual_state is ActualState.FAULTED and record.restart_count == 1
