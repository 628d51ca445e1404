"""Repository contract, trading side: steps, orders, fills, cycles, journal, status."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from domain import codec
from domain.errors import DuplicateOrder, IllegalTransition
from domain.orders import OrderState
from persistence.errors import NotFound, VersionConflict
from persistence.records import CycleStatus, JournalEntry
from tests.integration.persistence.helpers import (
    T0,
    TestEvent,
    another_strategy,
    at,
    fill_of,
    intent,
    onboard,
    open_cycle,
)


def _nothing_written(repo: Any, sid: int) -> None:
    state = repo.load_engine_state(sid)
    assert state.version == 0
    assert state.snapshot is None
    assert state.live_orders == ()
    assert state.current_cycle is None
    assert repo.list_fills(sid) == []
    assert repo.recent_events(sid) == []


def test_a_step_writes_everything_and_a_restart_loads_it_back(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base, safety = intent(sid, 1, "b"), intent(sid, 1, "s1", price="95")
    result = repo.save_step(
        sid,
        snapshot='{"phase":"buying"}',
        expected_version=0,
        now=at(1),
        new_orders=[base, safety],
        cycle=open_cycle(1),
        events=[TestEvent(name="cycle_opened", price=Decimal("100"))],
    )
    assert result.version == 1 and result.new_trade_ids == ()
    filled = base.order.transition(
        OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10"), exchange_order_id="X1"
    )
    result = repo.save_step(
        sid,
        snapshot='{"phase":"waiting"}',
        expected_version=1,
        now=at(2),
        order_updates=[filled],
        fills=[fill_of(base.order, "T1", "0.04"), fill_of(base.order, "T2", "0.06")],
        cycle=open_cycle(1, amount=Decimal("0.1"), cost=Decimal("10")),
    )
    assert result.version == 2 and result.new_trade_ids == ("T1", "T2")

    state = repo.load_engine_state(sid)
    assert state.snapshot == '{"phase":"waiting"}' and state.version == 2
    assert [o.client_order_id for o in state.live_orders] == [safety.order.client_order_id]
    assert state.current_cycle is not None and state.current_cycle.cost == Decimal("10")
    assert state.known_trade_ids == frozenset({"T1", "T2"})
    stored = {o.client_order_id: o for o in repo.list_orders(sid, cycle=1)}
    assert stored[base.order.client_order_id].state is OrderState.FILLED
    assert stored[base.order.client_order_id].exchange_order_id == "X1"
    assert stored[base.order.client_order_id].filled == Decimal("0.1")
    events = repo.recent_events(sid)
    assert [e.type for e in events] == ["TestEvent"]
    assert codec.loads(events[0].payload) == TestEvent(name="cycle_opened", price=Decimal("100"))


def test_a_stale_version_writes_nothing(repo: Any) -> None:
    _, _, sid = onboard(repo)
    with pytest.raises(VersionConflict):
        repo.save_step(
            sid,
            snapshot="{}",
            expected_version=3,
            now=at(1),
            new_orders=[intent(sid, 1, "b")],
            cycle=open_cycle(1),
            events=[TestEvent(name="x", price=Decimal(1))],
        )
    _nothing_written(repo, sid)


def test_an_error_mid_step_rolls_back_the_whole_step(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base = intent(sid, 1, "b")
    never_recorded = intent(sid, 1, "s1").order.transition(OrderState.OPEN)
    with pytest.raises(NotFound):
        repo.save_step(
            sid,
            snapshot='{"phase":"buying"}',
            expected_version=0,
            now=at(1),
            new_orders=[base],
            order_updates=[never_recorded],  # fails after the intent was inserted
            fills=[fill_of(base.order, "T1", "0.1")],
            cycle=open_cycle(1),
            events=[TestEvent(name="x", price=Decimal(1))],
        )
    _nothing_written(repo, sid)
    # The same step, corrected, still goes through: nothing half-written is in the way.
    assert repo.save_step(sid, snapshot="{}", expected_version=0, now=at(2), new_orders=[base])


def test_a_replayed_fill_changes_nothing(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base = intent(sid, 1, "b")
    repo.upsert_cycle(sid, open_cycle(1))
    repo.record_order_intent(sid, base, now=T0)
    fill = fill_of(base.order, "T1", "0.1")
    assert repo.apply_fill(sid, fill, now=at(1)) is True
    assert repo.apply_fill(sid, fill, now=at(2)) is False
    changed_replay = replace(fill, amount=Decimal("5"))
    result = repo.save_step(
        sid,
        snapshot="{}",
        expected_version=0,
        now=at(3),
        fills=[changed_replay, fill_of(base.order, "T2", "0.2"), fill_of(base.order, "T2", "0.2")],
    )
    assert result.new_trade_ids == ("T2",)
    fills = repo.list_fills(sid)
    assert [(f.trade_id, f.amount) for f in fills] == [
        ("T1", Decimal("0.1")),
        ("T2", Decimal("0.2")),
    ]
    assert fills[0] == fill
    assert repo.load_engine_state(sid).known_trade_ids == frozenset({"T1", "T2"})


def test_trade_ids_are_unique_per_account_not_globally(repo: Any) -> None:
    _, _, sid_a = onboard(repo, user="alice")
    _, _, sid_b = onboard(repo, user="bob")
    a, b = intent(sid_a, 1, "b"), intent(sid_b, 1, "b")
    repo.record_order_intent(sid_a, a, now=T0)
    repo.record_order_intent(sid_b, b, now=T0)
    assert repo.apply_fill(sid_a, fill_of(a.order, "T1", "0.1"), now=T0)
    assert repo.apply_fill(sid_b, fill_of(b.order, "T1", "0.1"), now=T0)


def test_orders_follow_the_state_machine(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base = intent(sid, 1, "b")
    recorded = repo.record_order_intent(sid, base, now=T0)
    assert recorded.state is OrderState.PENDING_SUBMIT
    with pytest.raises(DuplicateOrder):
        repo.record_order_intent(sid, base, now=at(1))
    opened = repo.update_order(
        sid, recorded.transition(OrderState.OPEN, exchange_order_id="E1"), now=at(1)
    )
    assert opened.state is OrderState.OPEN and opened.exchange_order_id == "E1"
    part = opened.transition(OrderState.PARTIALLY_FILLED, filled=Decimal("0.05"), cost=Decimal("5"))
    repo.update_order(sid, part, now=at(2))
    with pytest.raises(IllegalTransition, match="filled cannot go down"):
        repo.update_order(sid, replace(part, filled=Decimal("0.01")), now=at(3))
    canceled = repo.update_order(sid, part.transition(OrderState.CANCELED), now=at(3))
    assert canceled.state is OrderState.CANCELED and canceled.filled == Decimal("0.05")
    with pytest.raises(IllegalTransition):
        repo.update_order(sid, replace(part, state=OrderState.OPEN), now=at(4))
    assert repo.list_orders(sid)[0].state is OrderState.CANCELED


AWKWARD = [
    "0.00000001",
    "12345678.123456789",
    "0.000000000000000001",
    "999999999999999999.999999999999999999",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_money_round_trips_exactly(repo: Any, text: str) -> None:
    _, _, sid = onboard(repo)
    value = Decimal(text)
    base = intent(sid, 1, "b", price=text, amount=text)
    repo.record_order_intent(sid, base, now=T0)
    repo.apply_fill(sid, fill_of(base.order, "T1", text, price=text, fee=text), now=T0)
    repo.upsert_cycle(sid, open_cycle(1, amount=value, cost=value, average_price=value))
    order = repo.list_orders(sid)[0]
    fill = repo.list_fills(sid)[0]
    cycle = repo.list_cycles(sid)[0]
    for got in (
        order.price,
        order.amount,
        fill.price,
        fill.amount,
        fill.fee,
        cycle.amount,
        cycle.average_price,
    ):
        assert got == value
        assert format(got, "f") == text


@pytest.mark.parametrize("text", ["0.0000000000000000001", "1000000000000000000"])
def test_money_that_does_not_fit_is_refused_not_rounded(repo: Any, text: str) -> None:
    _, _, sid = onboard(repo)
    with pytest.raises(ValueError, match="amount"):
        repo.record_order_intent(sid, intent(sid, 1, "b", amount=text), now=T0)
    assert repo.list_orders(sid) == []


def test_float_money_is_refused(repo: Any) -> None:
    _, _, sid = onboard(repo)
    with pytest.raises(TypeError):
        repo.upsert_cycle(sid, open_cycle(1, amount=0.1))
    assert repo.list_cycles(sid) == []


def test_closing_cycles_feeds_the_status_list(repo: Any) -> None:
    uid, _, sid = onboard(repo)
    _, _, other = onboard(repo, user="bob")
    repo.upsert_cycle(sid, open_cycle(1))
    closed = repo.close_cycle(sid, 1, realized_profit=Decimal("1.25"), now=at(5))
    assert closed.status is CycleStatus.CLOSED and closed.closed_at == at(5)
    repo.upsert_cycle(sid, open_cycle(2))
    repo.close_cycle(sid, 2, realized_profit=Decimal("0.00000001"), now=at(6))
    repo.upsert_cycle(sid, open_cycle(3))
    repo.record_order_intent(sid, intent(sid, 3, "b"), now=at(7))
    repo.record_order_intent(sid, intent(sid, 3, "s1"), now=at(7))
    with pytest.raises(NotFound):
        repo.close_cycle(sid, 9, realized_profit=Decimal(0), now=at(8))

    status = {s.strategy.id: s for s in repo.list_status()}
    assert status[sid].cycles_completed == 2
    assert status[sid].realized_profit == Decimal("1.25000001")
    assert status[sid].open_orders == 2
    assert status[sid].current_cycle == 3
    assert status[other].cycles_completed == 0 and status[other].current_cycle is None
    assert [s.strategy.id for s in repo.list_status(user_id=uid)] == [sid]


def test_events_are_appended_in_one_batch_and_read_newest_last(repo: Any) -> None:
    _, _, sid = onboard(repo)
    _, _, other = onboard(repo, user="bob")
    entries = [
        JournalEntry(
            strategy_id=sid if i % 3 else other,
            event=TestEvent(name=f"e{i}", price=Decimal(i)),
            occurred_at=at(i),
        )
        for i in range(30)
    ]
    assert repo.append_events(entries) == 30
    recent = repo.recent_events(sid, limit=5)
    assert [codec.loads(e.payload).name for e in recent] == ["e23", "e25", "e26", "e28", "e29"]
    assert recent[-1].occurred_at == at(29)
    assert len(repo.recent_events(other, limit=100)) == 10


def test_versions_are_the_writers_tokens_so_a_late_writer_cannot_line_up(repo: Any) -> None:
    """Writer A saves v0 -> 7777; a late step of writer B that also started from v0 fails, and
    so does B's next step, which assumed its own first one had made the version 1."""
    _, _, sid = onboard(repo)
    done = repo.save_step(
        sid, snapshot='{"by":"A"}', expected_version=0, now=at(1), new_version=7777
    )
    assert done.version == 7777
    for expected in (0, 1):
        with pytest.raises(VersionConflict):
            repo.save_step(
                sid, snapshot='{"by":"B"}', expected_version=expected, now=at(2), new_version=4242
            )
    assert repo.load_engine_state(sid).snapshot == '{"by":"A"}'
    assert repo.load_engine_state(sid).version == 7777


def test_many_engine_states_load_as_each_would_alone(repo: Any) -> None:
    """A user's engines boot together and read their states in one go: each as
    `load_engine_state` gives it (only the current cycle's trade ids, only live orders)."""
    _, account, busy = onboard(repo)
    fresh = another_strategy(repo, repo.get_strategy(busy).user_id, account, "btc")
    base, safety = intent(busy, 1, "b"), intent(busy, 1, "s1", price="95")
    repo.save_step(
        busy,
        snapshot='{"cycle":1}',
        expected_version=0,
        now=at(1),
        new_orders=[base, safety],
        cycle=open_cycle(1),
    )
    filled = base.order.transition(OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10"))
    repo.save_step(
        busy,
        snapshot='{"cycle":1,"filled":true}',
        expected_version=1,
        now=at(2),
        order_updates=[filled],
        fills=[fill_of(base.order, "T1", "0.1")],
        cycle=open_cycle(1, amount=Decimal("0.1"), cost=Decimal("10")),
    )
    second = intent(busy, 2, "b", price="90")
    repo.save_step(
        busy,
        snapshot='{"cycle":2}',
        expected_version=2,
        now=at(3),
        new_orders=[second],
        cycle=open_cycle(2),
    )
    repo.save_step(
        busy,
        snapshot='{"cycle":2,"filled":true}',
        expected_version=3,
        now=at(4),
        order_updates=[
            second.order.transition(OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("9"))
        ],
        fills=[fill_of(second.order, "T2", "0.1")],
    )

    states = repo.load_engine_states([fresh, busy, busy, 999_999])
    assert set(states) == {busy, fresh}
    for sid in (busy, fresh):
        assert states[sid] == repo.load_engine_state(sid)
    assert states[busy].known_trade_ids == frozenset({"T2"})  # cycle 2's, not cycle 1's
    assert states[busy].current_cycle is not None and states[busy].current_cycle.number == 2
    assert [o.client_order_id for o in states[busy].live_orders] == [safety.order.client_order_id]
    assert states[fresh].snapshot is None and states[fresh].current_cycle is None
    assert repo.load_engine_states([]) == {}
