"""Repository contract, history side: keyset pages, closed cycles, the soft delete of a
strategy. Runs on the fake, SQLite and MySQL alike."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationError
from persistence.errors import NotFound
from persistence.records import (
    ActualState,
    AuditEntry,
    CycleStatus,
    DesiredState,
    JournalEntry,
)
from persistence.records_history import NAME_LENGTH
from tests.integration.persistence.helpers import (
    T0,
    TestEvent,
    at,
    fill_of,
    intent,
    onboard,
    open_cycle,
)


def _orders(repo: Any, sid: int, count: int, cycle: int = 1) -> None:
    for n in range(count):
        repo.record_order_intent(sid, intent(sid, cycle, f"s{n + 1}"), now=at(n))


def test_order_pages_are_newest_first_and_keyset_on_the_row_id(repo: Any) -> None:
    _, _, sid = onboard(repo)
    _, _, other = onboard(repo, user="bob")
    _orders(repo, sid, 3)
    repo.record_order_intent(other, intent(other, 1, "b"), now=at(9))  # not alice's
    _orders(repo, sid, 2, cycle=2)
    first = repo.page_orders(sid, before_id=None, limit=3)
    assert [(r.cycle, r.leg) for r in first] == [(2, "s2"), (2, "s1"), (1, "s3")]
    ids = [r.id for r in first]
    assert ids == sorted(ids, reverse=True)
    rest = repo.page_orders(sid, before_id=first[-1].id, limit=3)
    assert [(r.cycle, r.leg) for r in rest] == [(1, "s2"), (1, "s1")]
    assert rest[-1].created_at == at(0) and rest[-1].updated_at == at(0)
    assert rest[-1].order.client_order_id == intent(sid, 1, "s1").order.client_order_id
    assert repo.page_orders(sid, before_id=rest[-1].id, limit=3) == []
    assert repo.page_orders(999, before_id=None, limit=3) == []


def test_fill_pages_carry_the_row_id_and_when_the_fill_was_recorded(repo: Any) -> None:
    _, _, sid = onboard(repo)
    base = repo.record_order_intent(sid, intent(sid, 1, "b"), now=T0)
    for n in range(3):
        repo.apply_fill(sid, fill_of(base, f"T{n}", "0.01"), now=at(10 + n))
    page = repo.page_fills(sid, before_id=None, limit=2)
    assert [r.fill.trade_id for r in page] == ["T2", "T1"]
    assert page[0].created_at == at(12)
    assert page[0].fill.amount == Decimal("0.01")
    last = repo.page_fills(sid, before_id=page[-1].id, limit=2)
    assert [r.fill.trade_id for r in last] == ["T0"]


def test_event_pages_are_newest_first(repo: Any) -> None:
    _, _, sid = onboard(repo)
    _, _, other = onboard(repo, user="bob")
    repo.append_events(
        [
            JournalEntry(
                strategy_id=s, event=TestEvent(name=f"e{n}", price=Decimal(n)), occurred_at=at(n)
            )
            for n in range(4)
            for s in (sid, other)
        ]
    )
    page = repo.page_events(sid, before_id=None, limit=3)
    assert [r.occurred_at for r in page] == [at(3), at(2), at(1)]
    assert {r.strategy_id for r in page} == {sid}
    assert [r.occurred_at for r in repo.page_events(sid, before_id=page[-1].id, limit=3)] == [at(0)]


def test_audit_pages_hold_the_strategys_rows_only(repo: Any) -> None:
    uid, _, sid = onboard(repo)
    _, _, second = onboard(repo, strategy="btc")
    bob, _, _ = onboard(repo, user="bob")

    def entry(n: int, strategy_id: int | None, user_id: int | None = uid) -> AuditEntry:
        return AuditEntry(
            at=at(n), level="info", event=f"e{n}", message="", user_id=user_id,
            strategy_id=strategy_id,
        )  # fmt: skip

    repo.append_audit(
        [
            entry(0, sid),
            entry(1, second),
            entry(2, None),
            entry(3, sid),
            entry(4, sid, user_id=bob),  # another user's row naming this id: not its log
            entry(5, sid),
        ]
    )
    page = repo.page_audit(sid, before_id=None, limit=2)
    assert [r.entry.event for r in page] == ["e5", "e3"]
    assert [r.entry.event for r in repo.page_audit(sid, before_id=page[-1].id, limit=5)] == ["e0"]
    assert repo.page_audit(999, before_id=None, limit=5) == []


def test_cycle_pages_keyset_on_the_cycle_number(repo: Any) -> None:
    _, _, sid = onboard(repo)
    _, _, other = onboard(repo, user="bob")
    for number in range(1, 6):
        repo.upsert_cycle(sid, open_cycle(number))
    repo.upsert_cycle(other, open_cycle(1))
    page = repo.page_cycles(sid, before_number=None, limit=2)
    assert [c.number for c in page] == [5, 4]
    assert [c.number for c in repo.page_cycles(sid, before_number=4, limit=9)] == [3, 2, 1]
    assert repo.page_cycles(sid, before_number=1, limit=9) == []


def test_profit_by_day_sums_the_users_closed_cycles_exactly_per_symbol_and_utc_day(
    repo: Any,
) -> None:
    uid, aid, sid = onboard(repo)
    _, _, second = onboard(repo, strategy="btc")  # the same symbol: one group with sid's
    third = repo.upsert_strategy(
        uid, "ethbtc", account_id=aid, symbol="ETH/BTC", params={},
        desired_state=DesiredState.RUNNING, now=T0,
    ).id  # fmt: skip
    _, _, bobs = onboard(repo, user="bob")
    for strategy_id in (sid, second, third, bobs):
        for number in (1, 2, 3):
            repo.upsert_cycle(strategy_id, open_cycle(number))
    day = 86_400
    late = 11 * 3600 + 59 * 60  # T0 is 12:00:00.123456 UTC: 23:59:00.123456
    repo.close_cycle(sid, 1, realized_profit=Decimal("123456789012345678.1"), now=at(0))
    repo.close_cycle(sid, 2, realized_profit=Decimal("0.000000000000000001"), now=at(late))
    repo.close_cycle(second, 1, realized_profit=Decimal("-0.3"), now=at(late + 60))  # next day
    repo.close_cycle(second, 2, realized_profit=Decimal("0.1"), now=at(day + 60))
    repo.close_cycle(sid, 3, realized_profit=Decimal(5), now=at(30), status=CycleStatus.ABORTED)
    repo.close_cycle(third, 1, realized_profit=Decimal("0.2"), now=at(60))
    repo.close_cycle(bobs, 1, realized_profit=Decimal(7), now=at(60))
    found = repo.profit_by_day(uid)
    assert [(g.symbol, g.day, g.realized_profit, g.cycles_closed) for g in found] == [
        ("ETH/BTC", date(2024, 5, 1), Decimal("0.2"), 1),
        ("ETH/USDT", date(2024, 5, 1), Decimal("123456789012345678.100000000000000001"), 2),
        ("ETH/USDT", date(2024, 5, 2), Decimal("-0.2"), 2),
    ]  # float addition would have lost the 1e-18, and made -0.19999999999999998 of -0.2
    since = repo.profit_by_day(uid, since=at(late + 60))  # at or after it
    assert [(g.symbol, g.day, g.cycles_closed) for g in since] == [
        ("ETH/USDT", date(2024, 5, 2), 2)
    ]
    assert repo.profit_by_day(999) == []


def test_status_totals_are_summed_exactly_in_one_row_per_strategy(repo: Any) -> None:
    uid, _, sid = onboard(repo)
    profits = ["123456789012345678.1", "0.000000000000000001", "-0.3", "0.1"]
    for number, profit in enumerate(profits, start=1):
        repo.upsert_cycle(sid, open_cycle(number))
        repo.close_cycle(sid, number, realized_profit=Decimal(profit), now=at(number))
    repo.upsert_cycle(sid, open_cycle(5))
    repo.close_cycle(sid, 5, realized_profit=Decimal(9), now=at(5), status=CycleStatus.ABORTED)
    [status] = repo.list_status(user_id=uid)
    assert status.cycles_completed == 4
    assert status.realized_profit == Decimal("123456789012345677.900000000000000001")


def _stopped(repo: Any, sid: int, actual: ActualState = ActualState.STOPPED) -> None:
    repo.set_desired_state(sid, DesiredState.STOPPED, now=at(1))
    repo.set_actual_state(sid, actual, now=at(1))


@pytest.mark.parametrize(
    ("desired", "actual", "text"),
    [
        (DesiredState.RUNNING, ActualState.STOPPED, "is running: stop it first"),
        (DesiredState.PAUSED, ActualState.PAUSED, "is paused: stop it first"),
        (DesiredState.STOPPED, ActualState.RUNNING, "is still running"),
        (DesiredState.STOPPED, ActualState.DEGRADED, "is still degraded"),
    ],
)
def test_only_a_stopped_strategy_can_be_deleted(
    repo: Any, desired: DesiredState, actual: ActualState, text: str
) -> None:
    uid, _, sid = onboard(repo)
    repo.set_desired_state(sid, desired, now=at(1))
    repo.set_actual_state(sid, actual, now=at(1))
    with pytest.raises(ValidationError, match=text) as info:
        repo.delete_strategy(sid, now=at(2))
    assert info.value.field == "state"
    record = repo.get_strategy(sid)
    assert (record.name, record.deleted_at, record.updated_at) == ("eth", None, at(1))
    assert [s.id for s in repo.list_strategies(user_id=uid)] == [sid]


@pytest.mark.parametrize("actual", [ActualState.STOPPED, ActualState.FINISHED, ActualState.FAULTED])
def test_a_deleted_strategy_vanishes_from_lists_keeps_its_history_and_frees_its_name(
    repo: Any, actual: ActualState
) -> None:
    uid, aid, sid = onboard(repo)
    _, _, kept = onboard(repo, strategy="btc")
    _orders(repo, sid, 2)
    repo.upsert_cycle(sid, open_cycle(1))
    repo.close_cycle(sid, 1, realized_profit=Decimal("0.5"), now=at(5))
    _stopped(repo, sid, actual)
    assert repo.count_strategies_by_state()[actual] == (2 if actual is ActualState.STOPPED else 1)
    repo.delete_strategy(sid, now=at(9))
    assert repo.count_strategies_by_state()[actual] == (1 if actual is ActualState.STOPPED else 0)
    assert [s.id for s in repo.list_strategies(user_id=uid)] == [kept]
    assert [s.id for s in repo.list_strategies()] == [kept]
    assert [s.strategy.id for s in repo.list_status(user_id=uid)] == [kept]
    assert [s.strategy.id for s in repo.list_status()] == [kept]
    record = repo.get_strategy(sid)  # engines and history still read the row by id
    assert record.deleted_at == at(9) and record.updated_at == at(9)
    assert record.name == f"eth#deleted-{sid}"
    assert len(repo.page_orders(sid, before_id=None, limit=9)) == 2
    assert [g.realized_profit for g in repo.profit_by_day(uid)] == [Decimal("0.5")]
    again = repo.upsert_strategy(
        uid,
        "eth",
        account_id=aid,
        symbol="BTC/USDT",  # a new strategy: the old one's symbol does not bind it
        params={},
        desired_state=DesiredState.RUNNING,
        now=at(10),
    )
    assert again.id not in (sid, kept) and again.deleted_at is None
    assert [s.id for s in repo.list_strategies(user_id=uid)] == [kept, again.id]
    with pytest.raises(NotFound):
        repo.delete_strategy(sid, now=at(11))


def test_deleting_a_missing_strategy_is_not_found(repo: Any) -> None:
    with pytest.raises(NotFound):
        repo.delete_strategy(999, now=T0)


def test_a_long_name_is_cut_to_keep_the_deleted_marker_within_the_column(repo: Any) -> None:
    uid, aid, _ = onboard(repo)
    name = "x" * NAME_LENGTH
    sid = repo.upsert_strategy(
        uid,
        name,
        account_id=aid,
        symbol="ETH/USDT",
        params={},
        desired_state=DesiredState.STOPPED,
        now=T0,
    ).id
    repo.delete_strategy(sid, now=at(1))
    stored = repo.get_strategy(sid).name
    assert len(stored) == NAME_LENGTH and stored.endswith(f"#deleted-{sid}")
