"""Engine without threads: the real paper venue and in-memory repository, a hand-moved clock.

Each test walks the market with `venue.update_price` and tells the engine what a feed actor
would (`sync`, `on_tick`, `on_cooldown`), then checks the outcome on both sides of the wire:
the venue's own file (what reached the exchange) and the repository (what we recorded).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.engine_policy import shown as _shown
from domain.errors import DatabaseUnavailable, ExchangeUnavailable, OrderOutcomeUnknown
from domain.events import OrderPartiallyFilled
from domain.orders import OrderState, Side
from persistence.records import CycleStatus
from strategy.state import Phase, WorkingStatus
from tests.actors.fakes import Crash, EngineWorld, duplicated_ids


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def _cash_flow(w: EngineWorld) -> Decimal:
    """Quote received by sells minus quote paid by buys, per the venue (fee rate 0)."""
    total = Decimal(0)
    for o in w.venue_orders():
        total += o.cost if o.side is Side.SELL else -o.cost
    return total


def test_a_full_cycle_closes_with_the_venues_profit_and_the_next_starts_after_cooldown(
    world: EngineWorld,
) -> None:
    engine = world.started()
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE  # market base filled at once
    assert state.base_price == Decimal("100")

    for price in ("99", "98"):  # two safety orders fill as the price walks down
        world.move(price)
        engine.sync()
    state = engine.state
    assert state is not None
    assert state.book.position == Decimal("1.0000") + Decimal("1.0101") + Decimal("1.0204")
    cycle = world.repo.list_cycles(world.strategy_id)[-1]
    assert cycle.status is CycleStatus.OPEN and cycle.safety_orders_filled == 2

    world.move("100.5")  # reaches the take-profit (average ~98.997 * 1.01 = 99.99)
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.COOLDOWN
    closed = world.repo.list_cycles(world.strategy_id)[-1]
    assert closed.number == 1 and closed.status is CycleStatus.CLOSED
    assert closed.realized_profit == _cash_flow(world) == Decimal("3.020595")
    assert closed.closed_at == world.clock.now
    assert ("cycle_closed", "1:3.020595") in world.host.reports
    wake = world.clock.now + timedelta(seconds=60)
    assert world.host.scheduled == [(wake, "cooldown")]
    assert world.venue.resting_count("ETH/USDT") == 0  # the unfilled safety order was canceled

    engine.on_cooldown()  # early: the machine ignores it
    assert engine.state is not None and engine.state.phase is Phase.COOLDOWN
    world.clock.advance(60)
    engine.on_cooldown()
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE and state.cycle == 2
    assert [o.client_order_id for o in world.venue_orders()[-3:]] == [
        world.coid(2, "b"),
        world.coid(2, "t1"),
        world.coid(2, "s1"),
    ]
    assert [c.number for c in world.repo.list_cycles(world.strategy_id)] == [1, 2]
    assert duplicated_ids(world.venue_orders()) == []


def test_every_db_order_row_ends_in_the_venues_state(world: EngineWorld) -> None:
    engine = world.started()
    for price in ("99", "98", "97", "100.5"):
        world.move(price)
        engine.sync()
    db = world.db_orders()
    venue = {o.client_order_id: o for o in world.venue_orders()}
    assert set(db) == set(venue)
    for coid, row in db.items():
        assert (row.state, row.filled, row.cost) == (
            venue[coid].state,
            venue[coid].filled,
            venue[coid].cost,
        ), coid


def test_fills_are_applied_exactly_once(world: EngineWorld) -> None:
    engine = world.started()
    world.move("99")
    engine.sync()
    engine.sync()  # nothing new: no write at all
    version = engine.version
    engine.sync()
    assert engine.version == version
    fills = world.repo.list_fills(world.strategy_id)
    assert len(fills) == 2  # base and safety 1
    position = engine.state.book.position if engine.state else None

    for fill in world.paper.fetch_fills("ETH/USDT"):  # a redelivered trade changes nothing
        engine.handle(OrderPartiallyFilled(at=world.clock.now, fill=fill))
    assert engine.version == version
    assert engine.state is not None and engine.state.book.position == position

    restarted = world.started()  # a restart reconciles the same trades again
    assert restarted.state is not None and restarted.state.book.position == position
    assert len(world.repo.list_fills(world.strategy_id)) == 2


def test_nothing_reaches_the_venue_while_the_database_refuses_the_intent(
    world: EngineWorld,
) -> None:
    world.store.down = True
    engine = world.engine()
    with pytest.raises(DatabaseUnavailable):
        engine.start()
    assert world.venue_orders() == []

    world.store.down = False
    engine.start()
    assert [o.client_order_id for o in world.venue_orders()] == [
        world.coid(1, "b"),
        world.coid(1, "t1"),
        world.coid(1, "s1"),
    ]

    # Mid-run: safety 1 fills, but the step that would record it (and place safety 2) fails.
    world.move("99")
    world.store.down = True
    with pytest.raises(DatabaseUnavailable):
        engine.sync()
    assert len(world.venue_orders()) == 3
    world.store.down = False
    engine = world.started()  # the retry is the start path
    coids = [o.client_order_id for o in world.venue_orders()]
    assert coids.count(world.coid(1, "s2")) == 1 and coids.count(world.coid(1, "t2")) == 1
    assert duplicated_ids(world.venue_orders()) == []


def test_a_crash_between_the_commit_and_the_create_is_placed_once_on_restart(
    world: EngineWorld,
) -> None:
    world.exchange.before_create.append(Crash("died before the create"))
    with pytest.raises(Crash):
        world.engine().start()
    base = world.coid(1, "b")
    assert world.db_orders()[base].state is OrderState.PENDING_SUBMIT  # the intent survived
    assert world.venue_orders() == []

    engine = world.started()  # a new process: reconcile finds nothing and places it
    orders = world.venue_orders()
    assert [o.client_order_id for o in orders].count(base) == 1
    assert world.db_orders()[base].state is OrderState.FILLED
    assert ("resubmit", base) in world.host.reports
    assert engine.state is not None and engine.state.phase is Phase.ACTIVE


def test_a_crash_after_the_venue_accepted_adopts_the_order_without_a_duplicate(
    world: EngineWorld,
) -> None:
    engine = world.started()
    world.exchange.after_create.append(Crash("died before reading the answer"))
    world.move("99")  # safety 1 fills; the next create (take-profit t2) lands, then we die
    with pytest.raises(Crash):
        engine.sync()

    engine = world.started()
    orders = world.venue_orders()
    assert duplicated_ids(orders) == []
    tp = world.coid(1, "t2")
    assert [o.client_order_id for o in orders].count(tp) == 1
    assert world.db_orders()[tp].state is OrderState.OPEN
    assert engine.state is not None
    working = engine.state.order(tp)
    assert working is not None and working.status is WorkingStatus.OPEN


@pytest.mark.parametrize("error", [Crash("died"), ExchangeUnavailable("503 on cancel")])
def test_a_cancel_sent_before_its_commit_is_read_back_on_restart(
    world: EngineWorld, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """The take-profit's cancel goes out before the fill that caused it is committed. If the
    engine dies right after the venue canceled it (or the answer is lost), the next start
    finds the order canceled on the venue and the fill there too: the fill is applied once,
    the new take-profit and safety 2 are placed once each, and nothing else is sent."""
    engine = world.started()
    cancel = world.exchange.cancel_order

    def cancel_then_die(*args: Any, **kwargs: Any) -> Any:
        cancel(*args, **kwargs)
        world.store.down = True  # the process is gone: nothing more reaches the database
        raise error

    monkeypatch.setattr(world.exchange, "cancel_order", cancel_then_die)
    world.move("99")  # safety 1 fills: the take-profit t1 is canceled, then we die
    with pytest.raises((type(error), DatabaseUnavailable)):
        engine.sync()
    t1, s2, t2 = world.coid(1, "t1"), world.coid(1, "s2"), world.coid(1, "t2")
    rows = world.db_orders()  # the fill, the cancel and safety 2 were never committed
    assert (rows[t1].state, rows[world.coid(1, "s1")].state) == (OrderState.OPEN, OrderState.OPEN)
    assert s2 not in rows
    assert {o.client_order_id for o in world.venue_orders()} == {
        world.coid(1, "b"),
        t1,
        world.coid(1, "s1"),
    }
    monkeypatch.setattr(world.exchange, "cancel_order", cancel)
    world.store.down = False

    engine = world.started()  # a new process: load, reconcile, act
    orders = world.venue_orders()
    assert duplicated_ids(orders) == []
    assert {o.client_order_id: o.state for o in orders if o.client_order_id in (s2, t2)} == {
        s2: OrderState.OPEN,
        t2: OrderState.OPEN,
    }
    rows = world.db_orders()
    assert rows[t1].state is OrderState.CANCELED
    assert rows[world.coid(1, "s1")].state is OrderState.FILLED
    assert engine.state is not None
    assert {o.client_order_id for o in engine.state.orders} == {s2, t2}
    filled = world.repo.list_fills(world.strategy_id)
    assert len(filled) == len({f.trade_id for f in filled})  # each fill applied once


@pytest.mark.parametrize("landed", [True, False], ids=["venue-has-it", "venue-never-saw-it"])
def test_an_unknown_create_outcome_is_resolved_by_client_order_id(
    world: EngineWorld, landed: bool
) -> None:
    unknown = OrderOutcomeUnknown("timeout on create")
    (world.exchange.after_create if landed else world.exchange.before_create).append(unknown)
    with pytest.raises(OrderOutcomeUnknown):  # the actor marks it DEGRADED and retries start()
        world.engine().start()
    base = world.coid(1, "b")
    assert ("unknown_outcome", base) in world.host.reports
    assert world.db_orders()[base].state is OrderState.PENDING_SUBMIT

    engine = world.started()  # the retry: reconcile resolves it by client order id
    coids = [o.client_order_id for o in world.venue_orders()]
    assert coids.count(base) == 1
    assert world.db_orders()[base].state is OrderState.FILLED
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE
    assert (("resubmit", base) in world.host.reports) is not landed


def test_a_wake_up_asks_for_open_orders_once_and_fetches_only_the_orders_that_moved(
    world: EngineWorld,
) -> None:
    engine = world.started()
    state = engine.state
    assert state is not None and len(state.orders) >= 2  # take-profit and safety 1 rest
    world.exchange.fetched.clear()
    world.exchange.open_order_calls = 0

    engine.sync()  # nothing moved
    assert world.exchange.open_order_calls == 1
    assert world.exchange.fetched == []

    world.move("99")  # safety 1 fills
    engine.sync()
    assert world.exchange.open_order_calls == 2
    assert world.exchange.fetched == [world.coid(1, "s1")]  # only the one that moved
    state = engine.state
    assert state is not None and state.book.position > Decimal("1")


def test_a_closed_cycles_profit_is_logged_as_the_cycle_row_stores_it() -> None:
    assert _shown(Decimal(1) / Decimal(3)) == "0.333333333333333333"  # not 28 repeating digits
    assert _shown(Decimal("5.000")) == "5"
    assert _shown(Decimal("-0.10")) == "-0.1"
    assert _shown(Decimal("1.2345678901234567891")) == "1.234567890123456789"


def test_a_safety_fill_sends_the_cancel_at_once_and_commits_before_every_create(
    world: EngineWorld,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = world.started()
    sent: list[tuple[str, str, int]] = []  # (call, client order id, commits before it)

    def spy(name: str) -> None:
        original = getattr(world.exchange, name)

        def call(*args: object, **kwargs: object) -> object:
            coid = str(kwargs["client_order_id"])
            sent.append((name, coid, world.store.saves))
            if name == "create_order":  # rule 3: the intent is a row before the venue hears
                assert world.db_orders()[coid].state is OrderState.PENDING_SUBMIT
            else:  # the cancel goes out before the fill that caused it is committed
                assert world.db_orders()[coid].state is OrderState.OPEN
            world.clock.advance(1)  # each answer at its own time
            return original(*args, **kwargs)

        monkeypatch.setattr(world.exchange, name, call)

    spy("create_order")
    spy("cancel_order")
    before = world.store.saves
    engine.ordered_at = None
    world.move("99")  # safety 1 fills: the take-profit is replaced and safety 2 placed
    engine.sync()

    # The take-profit's cancel goes out as the fill is decided; round 1 commits the fill,
    # the cancel's answer and the intents of safety 2 and of the new take-profit, which both
    # go out after that one commit; round 2 commits their answers. One fill, two commits
    # (deciding one item at a time took four; committing before the cancel, three).
    assert world.store.saves - before == 2
    assert sent == [
        ("cancel_order", world.coid(1, "t1"), before),
        ("create_order", world.coid(1, "s2"), before + 1),
        ("create_order", world.coid(1, "t2"), before + 1),
    ]
    assert engine.ordered_at == world.clock.now  # tick-to-order ends at the last answer
    state = engine.state
    assert state is not None
    assert {o.client_order_id for o in state.orders} == {world.coid(1, "s2"), world.coid(1, "t2")}
    assert all(o.status is WorkingStatus.OPEN for o in state.orders)

    engine.ordered_at = None
    engine.sync()  # nothing moved: nothing sent, nothing committed
    assert engine.ordered_at is None
    assert world.store.saves - before == 2


def test_a_gap_through_two_safety_orders_is_decided_as_one_item_at_a_time_would(
    world: EngineWorld,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Safety 2 fills the moment it is placed (the price gapped below it). The round that
    decides its fill also decides the take-profit t2 it must cancel, which the same round
    places: t2's acceptance is still read as of the decision that placed it, so the events
    are exactly those of deciding one item at a time; only the commits are fewer."""
    engine = world.started()
    decided: list[tuple[str, str | None]] = []
    save_step = world.store.save_step

    def recording(strategy_id: int, **step: Any) -> Any:
        for e in step["events"]:
            fill = getattr(e, "fill", None)
            coid = getattr(e, "client_order_id", None) or getattr(fill, "client_order_id", None)
            decided.append((type(e).__name__, coid))
        return save_step(strategy_id, **step)

    monkeypatch.setattr(world.store, "save_step", recording)
    before = world.store.saves
    world.move("97.5")  # safety 1 (99) fills; safety 2 (98) will fill as it is placed
    engine.sync()

    s1, s2, s3 = world.coid(1, "s1"), world.coid(1, "s2"), world.coid(1, "s3")
    t1, t2, t3 = world.coid(1, "t1"), world.coid(1, "t2"), world.coid(1, "t3")
    assert decided == [  # what deciding one item at a time decided, in seven commits
        ("OrderPartiallyFilled", s1),
        ("CancelOrder", t1),
        ("OrderFilled", s1),
        ("PlaceOrder", s2),
        ("OrderCanceled", t1),
        ("PlaceOrder", t2),
        ("OrderAccepted", s2),
        ("OrderPartiallyFilled", s2),
        ("CancelOrder", t2),
        ("OrderFilled", s2),
        ("PlaceOrder", s3),
        ("OrderAccepted", t2),
        ("OrderCanceled", t2),
        ("PlaceOrder", t3),
        ("OrderAccepted", s3),
        ("OrderAccepted", t3),
    ]
    assert world.store.saves - before == 3  # the cancels' answers commit with the fills
    rows = world.db_orders()
    assert rows[t2].state is OrderState.CANCELED and rows[t2].exchange_order_id is not None
    assert {c: rows[c].state for c in (s3, t3)} == {s3: OrderState.OPEN, t3: OrderState.OPEN}
