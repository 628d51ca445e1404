"""Repository contract, `save_steps`: many steps in one transaction, each as if saved alone."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from sqlalchemy import event

from domain.errors import DatabaseUnavailable, DuplicateOrder, IllegalTransition
from domain.orders import Order, OrderState
from persistence import sql_bulk
from persistence.errors import NotFound, VersionConflict
from persistence.records import StepResult, StepWrite
from tests.integration.persistence.helpers import (
    TestEvent,
    at,
    fill_of,
    intent,
    onboard,
    open_cycle,
)

VERSIONS = (0, 11, 22, 33, 44)


def _step(sid: int, n: int, **changes: Any) -> StepWrite:
    """Step `n` (1-based) of a strategy that follows `_script`'s version chain."""
    values: dict[str, Any] = {
        "strategy_id": sid,
        "snapshot": f'{{"step":{n}}}',
        "expected_version": VERSIONS[n - 1],
        "new_version": VERSIONS[n],
        "now": at(n),
        "events": (TestEvent(name=f"step {n}", price=Decimal(n)),),
    }
    values.update(changes)
    return StepWrite(**values)


def _script(sid: int) -> list[StepWrite]:
    """Four steps of one strategy: intents, moves, fills (one replayed), a cycle opened and closed."""
    b, s1, s2 = (intent(sid, 1, leg) for leg in ("b", "s1", "s2"))
    b_open = b.order.transition(OrderState.OPEN, exchange_order_id="E-b")
    s1_open = s1.order.transition(OrderState.OPEN, exchange_order_id="E-s1")
    b_filled = replace(
        b_open.transition(OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10")),
        exchange_order_id=None,
    )
    s2_open = s2.order.transition(OrderState.OPEN)
    return [
        _step(sid, 1, new_orders=(b, s1), cycle=open_cycle(1)),
        _step(sid, 2, new_orders=(s2,), order_updates=(b_open, s1_open)),
        _step(
            sid,
            3,
            order_updates=(b_filled,),
            fills=(fill_of(b_open, "T1", "0.1"), fill_of(s1_open, "T2", "0.05")),
            cycle=open_cycle(1, amount=Decimal("0.15"), cost=Decimal("15")),
        ),
        _step(
            sid,
            4,
            order_updates=(s2_open,),
            fills=(fill_of(b_open, "T1", "0.1"), fill_of(s2_open, "T3", "0.1", price="99")),
            cycle=open_cycle(
                1,
                amount=Decimal("0.25"),
                cost=Decimal("24.9"),
                realized_profit=Decimal("0.123456789012345678"),
                closed_at=at(4),
            ),
            events=(
                TestEvent(name="a", price=Decimal("1.5")),
                TestEvent(name="b", price=Decimal("2.5")),
            ),
        ),
    ]


def _save_one(repo: Any, step: StepWrite) -> StepResult:
    return repo.save_step(  # type: ignore[no-any-return]
        step.strategy_id,
        snapshot=step.snapshot,
        expected_version=step.expected_version,
        now=step.now,
        new_version=step.new_version,
        new_orders=step.new_orders,
        order_updates=step.order_updates,
        fills=step.fills,
        cycle=step.cycle,
        events=step.events,
    )


def _anon(sid: int, coid: str) -> str:
    return re.sub(rf"^mg{sid}c", "mg*c", coid)


def _rows(repo: Any, sid: int) -> dict[str, Any]:
    """Everything stored for a strategy, its id taken out of client order ids."""
    state = repo.load_engine_state(sid)

    def order(o: Order) -> Order:
        return replace(o, client_order_id=_anon(sid, o.client_order_id))

    return {
        "version": state.version,
        "snapshot": state.snapshot,
        "updated_at": state.strategy.updated_at,
        "live": [order(o) for o in state.live_orders],
        "cycle": state.current_cycle,
        "known": state.known_trade_ids,
        "orders": [order(o) for o in repo.list_orders(sid)],
        "fills": [
            (replace(f, client_order_id=_anon(sid, f.client_order_id)), f.timestamp)
            for f in repo.list_fills(sid)
        ],
        "fills_of_cycle_1": [f.trade_id for f in repo.list_fills(sid, cycle=1)],
        "cycles": repo.list_cycles(sid),
        "events": [(e.type, e.payload, e.occurred_at) for e in repo.recent_events(sid)],
    }


def _strategies(repo: Any, count: int, prefix: str) -> list[int]:
    """Strategies on accounts of their own (trade ids are unique per account)."""
    return [onboard(repo, user=f"{prefix}{n}")[2] for n in range(count)]


def test_a_batch_of_several_strategies_equals_the_same_steps_saved_one_by_one(repo: Any) -> None:
    batched = _strategies(repo, 3, "batch")
    single = _strategies(repo, 3, "single")
    scripts = {sid: _script(sid) for sid in batched + single}
    for n in range(4):
        results = repo.save_steps([scripts[sid][n] for sid in batched])
        alone = [_save_one(repo, scripts[sid][n]) for sid in single]
        assert results == alone
        assert all(isinstance(r, StepResult) for r in results)
    assert results[0] == StepResult(version=VERSIONS[4], new_trade_ids=("T3",))
    expected = _rows(repo, single[0])
    assert expected["orders"] and expected["fills"] and expected["events"]
    assert expected["known"] == frozenset({"T1", "T2", "T3"})
    for sid in batched + single:
        assert _rows(repo, sid) == expected


def test_a_whole_script_of_one_strategy_in_one_batch_equals_it_saved_step_by_step(
    repo: Any,
) -> None:
    """Chained versions: each step checks against the one before it in the batch; orders
    recorded by an earlier step can be moved and filled by a later one."""
    chained, single = _strategies(repo, 2, "s")
    results = repo.save_steps(_script(chained))
    alone = [_save_one(repo, step) for step in _script(single)]
    assert results == alone
    assert _rows(repo, chained) == _rows(repo, single)


def test_a_stale_second_step_of_a_strategy_fails_and_the_first_lands(repo: Any) -> None:
    _, _, sid = onboard(repo)
    first, second = _script(sid)[:2]
    stale = replace(second, expected_version=VERSIONS[0])
    results = repo.save_steps([first, stale])
    assert results[0] == StepResult(version=VERSIONS[1], new_trade_ids=())
    assert isinstance(results[1], VersionConflict)
    assert str(results[1]) == (
        f"strategy {sid} is not at version {VERSIONS[0]}: another writer saved it; "
        "reload before acting"
    )
    state = repo.load_engine_state(sid)
    assert state.version == VERSIONS[1] and state.snapshot == first.snapshot
    assert [o.client_order_id for o in repo.list_orders(sid)] == [
        i.order.client_order_id for i in first.new_orders
    ]
    assert len(repo.recent_events(sid)) == 1


def _bad(kind: str, sid: int, aid: int, repo: Any) -> tuple[StepWrite, type[Exception], str]:
    """A step that `save_step` refuses, with intents, a cycle and events it must not write."""
    stored = intent(sid, 1, "b")  # recorded (and filled) before the batch
    filled = stored.order.transition(OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10"))
    fresh = intent(sid, 2, "s1")
    step = _step(
        sid,
        2,
        new_orders=(fresh,),
        cycle=open_cycle(2),
        fills=(fill_of(fresh.order, "T9", "0.01"),),
    )
    coid = stored.order.client_order_id
    if kind == "stale":
        message = (
            f"strategy {sid} is not at version {VERSIONS[0]}: another writer saved it; "
            "reload before acting"
        )
        return replace(step, expected_version=VERSIONS[0]), VersionConflict, message
    if kind == "missing strategy":
        return replace(step, strategy_id=999), NotFound, "strategy 999 does not exist"
    if kind == "duplicate":
        message = f"client order id {coid} is already recorded on account {aid}"
        return replace(step, new_orders=(fresh, stored)), DuplicateOrder, message
    if kind == "illegal":
        reopened = replace(filled, state=OrderState.OPEN)
        message = f"order {coid}: filled -> open is not allowed"
        return replace(step, order_updates=(reopened,)), IllegalTransition, message
    if kind == "unknown order":
        ghost = intent(sid, 5, "s3").order.transition(OrderState.OPEN)
        message = f"order {ghost.client_order_id} of strategy {sid} does not exist"
        return replace(step, order_updates=(ghost,)), NotFound, message
    assert kind == "money"
    bad_fill = fill_of(fresh.order, "T8", "0.1", price="1.0000000000000000001")
    message = "fill.price: 1.0000000000000000001 has more than 18 decimal places"
    return replace(step, fills=(*step.fills, bad_fill)), ValueError, message


@pytest.mark.parametrize(
    "kind", ["stale", "missing strategy", "duplicate", "illegal", "unknown order", "money"]
)
def test_a_refused_step_in_the_middle_writes_nothing_and_its_neighbours_commit(
    repo: Any, kind: str
) -> None:
    left, middle, right = _strategies(repo, 3, "n")
    aid = repo.get_strategy(middle).account_id
    for sid in (left, middle, right):
        first = _script(sid)[0]
        stored = intent(sid, 1, "b")
        _save_one(repo, replace(first, new_orders=(stored,)))
        filled = stored.order.transition(
            OrderState.FILLED, filled=Decimal("0.1"), cost=Decimal("10")
        )
        repo.update_order(sid, filled, now=at(1))
    before = _rows(repo, middle)
    bad, error, message = _bad(kind, middle, aid, repo)
    neighbours = [
        _step(sid, 2, new_orders=(intent(sid, 2, "s1"),), cycle=open_cycle(2))
        for sid in (left, right)
    ]
    results = repo.save_steps([neighbours[0], bad, neighbours[1]])
    assert isinstance(results[1], error) and str(results[1]) == message
    assert results[0] == results[2] == StepResult(version=VERSIONS[2], new_trade_ids=())
    assert _rows(repo, middle) == before
    for sid in (left, right):
        rows = _rows(repo, sid)
        assert rows["version"] == VERSIONS[2]
        assert [c.number for c in rows["cycles"]] == [1, 2]
        assert len(rows["orders"]) == 2 and len(rows["events"]) == 2
    # The same step alone is refused the same way: one set of rules.
    with pytest.raises(error) as alone:
        _save_one(repo, bad)
    assert str(alone.value) == message


def test_a_fill_replayed_within_a_batch_and_across_batches_is_stored_once(repo: Any) -> None:
    uid, aid, first = onboard(repo)
    second = repo.upsert_strategy(
        uid,
        "btc",
        account_id=aid,
        symbol="ETH/USDT",
        params={},
        desired_state=repo.get_strategy(first).desired_state,
        now=at(0),
    ).id
    b = intent(first, 1, "b")
    fill = fill_of(b.order, "T1", "0.1")
    results = repo.save_steps(
        [
            _step(first, 1, new_orders=(b,), fills=(fill, fill)),
            _step(first, 2, fills=(fill,)),
            _step(second, 1, fills=(fill,)),  # same account: the same trade
        ]
    )
    assert [r.new_trade_ids for r in results] == [("T1",), (), ()]
    results = repo.save_steps([_step(first, 3, fills=(fill,)), _step(second, 2, fills=(fill,))])
    assert [r.new_trade_ids for r in results] == [(), ()]
    [stored] = repo.list_fills(first)
    assert stored.trade_id == "T1" and repo.list_fills(second) == []
    assert [f.trade_id for f in repo.list_fills(first, cycle=1)] == ["T1"]


def test_an_empty_batch_writes_nothing(repo: Any) -> None:
    assert repo.save_steps([]) == []


@contextmanager
def _outage(repo: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The database goes away while the batch writes its events."""
    engine = getattr(repo, "_engine", None)
    if engine is None:

        def down(*_: Any, **__: Any) -> int:
            raise DatabaseUnavailable("down (test)")

        with monkeypatch.context() as patch:
            patch.setattr(repo, "append_events", down)
            yield
        return

    def lost(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            if engine.dialect.name == "sqlite":
                raise sqlite3.OperationalError("database is locked")
            raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server (test)")

    event.listen(engine, "before_cursor_execute", lost)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", lost)


def test_an_outage_fails_the_whole_batch_and_writes_nothing(
    repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sids = _strategies(repo, 2, "o")
    before = {sid: _rows(repo, sid) for sid in sids}
    with _outage(repo, monkeypatch), pytest.raises(DatabaseUnavailable):
        repo.save_steps([_script(sid)[0] for sid in sids])
    assert {sid: _rows(repo, sid) for sid in sids} == before
    assert (
        repo.save_steps([_script(sid)[0] for sid in sids])
        == [StepResult(version=VERSIONS[1], new_trade_ids=())] * 2
    )


def test_a_step_the_database_refuses_falls_back_and_spares_its_neighbours(repo: Any) -> None:
    """Not a rule the checks know (a naive timestamp is refused by the column type): the group
    write fails, and each step is written again alone."""
    sids = _strategies(repo, 3, "f")
    steps = [_script(sid)[0] for sid in sids]
    steps[1] = replace(steps[1], now=steps[1].now.replace(tzinfo=None))
    results = repo.save_steps(steps)
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "timestamps must be timezone-aware (UTC)"
    assert results[0] == results[2] == StepResult(version=VERSIONS[1], new_trade_ids=())
    assert [repo.load_engine_state(sid).version for sid in sids] == [VERSIONS[1], 0, VERSIONS[1]]
    assert repo.list_orders(sids[1]) == [] and repo.recent_events(sids[1]) == []
    if hasattr(repo, "group_fallbacks"):
        assert repo.group_fallbacks == 1


def test_a_group_larger_than_one_statement_is_written_in_chunks(
    repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_bulk, "UPDATE_ROWS", 3)  # 7 rows: chunks of 3 (padded to 4), 3, 1
    batched = _strategies(repo, 7, "c")
    single = _strategies(repo, 1, "one")[0]
    for n in range(4):
        results = repo.save_steps([_script(sid)[n] for sid in batched])
        assert set(results) == {_save_one(repo, _script(single)[n])}
    expected = _rows(repo, single)
    for sid in batched:
        assert _rows(repo, sid) == expected


def test_a_group_may_set_rows_to_the_values_they_hold(repo: Any) -> None:
    """Matched, not changed, rows count (MySQL reports changed rows unless told otherwise)."""
    sids = _strategies(repo, 2, "u")
    first = [_script(sid)[0] for sid in sids]
    repo.save_steps(first)
    opened = {sid: intent(sid, 1, "b").order.transition(OrderState.OPEN) for sid in sids}
    for n in (2, 3):  # the same cycle and the same order twice: nothing changes the 2nd time
        results = repo.save_steps(
            [
                _step(sid, n, cycle=open_cycle(1), order_updates=(opened[sid],), events=())
                for sid in sids
            ]
        )
        assert results == [StepResult(version=VERSIONS[n], new_trade_ids=())] * 2
    if hasattr(repo, "group_fallbacks"):
        assert repo.group_fallbacks == 0
    for sid in sids:
        assert repo.list_cycles(sid) == [open_cycle(1)]
        assert repo.list_orders(sid)[0].state is OrderState.OPEN
