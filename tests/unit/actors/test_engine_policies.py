"""Engine policies on the real paper venue: rejections, stop loss, stop modes, strays, watch."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from actors.engine import Engine
from domain.errors import InvalidOrder
from domain.events import StopMode, StopRequested
from domain.orders import OrderState, OrderType, Side
from persistence.records import CycleStatus, EngineState
from strategy.state import Phase
from tests.actors.fakes import PARAMS, SYMBOL, Crash, EngineWorld, FaultyStore


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def _eth(w: EngineWorld) -> Decimal:
    balance = w.paper.fetch_balances().get("ETH")
    return balance.total if balance is not None else Decimal(0)


def test_a_rejected_base_order_finishes_the_strategy_with_the_reason(world: EngineWorld) -> None:
    world.exchange.reject[world.coid(1, "b")] = InvalidOrder("Filter failure: LOT_SIZE")
    engine = world.started()
    state = engine.state
    assert state is not None and state.phase is Phase.FINISHED
    assert state.finished_reason is not None and "LOT_SIZE" in state.finished_reason
    assert world.db_orders()[world.coid(1, "b")].state is OrderState.REJECTED
    assert world.venue_orders() == []
    assert ("finished", state.finished_reason) in world.host.reports
    assert engine.watch().below is None and engine.watch().above is None


def test_safety_orders_the_venue_rejects_are_recorded_and_the_ladder_moves_on(
    tmp_path: Path,
) -> None:
    w = EngineWorld(tmp_path, usdt="250")  # base + safety 1 fit; safety 2 and 3 do not
    try:
        engine = w.started()
        w.move("99")
        engine.sync()
        db = w.db_orders()
        assert db[w.coid(1, "s2")].state is OrderState.REJECTED
        assert db[w.coid(1, "s3")].state is OrderState.REJECTED
        on_venue = {o.client_order_id for o in w.venue_orders()}
        assert w.coid(1, "s2") not in on_venue and w.coid(1, "s3") not in on_venue
        state = engine.state
        assert state is not None and state.phase is Phase.ACTIVE
        assert [o.client_order_id for o in state.orders] == [w.coid(1, "t2")]  # TP protects
        w.move("101")
        engine.sync()
        assert engine.state is not None and engine.state.phase is Phase.COOLDOWN
    finally:
        w.close()


def test_the_stop_loss_sells_at_market_on_a_tick_below_its_trigger(tmp_path: Path) -> None:
    params = {**PARAMS, "max_safety_orders": "1", "stop_loss": "5"}
    w = EngineWorld(tmp_path, params=params)
    try:
        engine = w.started()
        w.move("95.5")  # safety 1 (99) fills: average 99.4975..., trigger 94.52...
        engine.on_tick(Decimal("95.5"), w.clock.now)
        state = engine.state
        assert state is not None and state.phase is Phase.ACTIVE
        position = state.book.position
        assert position == Decimal("2.0101")

        w.move("94")
        engine.on_tick(Decimal("94"), w.clock.now)
        state = engine.state
        assert state is not None and state.phase is Phase.COOLDOWN
        exit_order = next(o for o in w.venue_orders() if o.client_order_id == w.coid(1, "x1"))
        assert exit_order.side is Side.SELL and exit_order.state is OrderState.FILLED
        assert exit_order.amount == position
        assert _eth(w) == 0
        cycle = w.repo.list_cycles(w.strategy_id)[-1]
        assert cycle.status is CycleStatus.CLOSED
        assert cycle.realized_profit == Decimal("94") * position - Decimal("199.9999")
        assert w.venue.resting_count(SYMBOL) == 0  # the take-profit was canceled first
        assert w.host.scheduled[-1][1] == "cooldown"
    finally:
        w.close()


def test_stop_after_the_cycle_keeps_trading_until_the_take_profit_then_finishes(
    world: EngineWorld,
) -> None:
    engine = world.started()
    engine.request_stop(StopRequested(at=world.clock.now, mode=StopMode.FINISH_CYCLE))
    assert engine.state is not None and engine.state.phase is Phase.ACTIVE
    assert world.venue.resting_count(SYMBOL) == 2  # take-profit and safety 1 stay

    world.move("101")
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.FINISHED
    assert world.host.scheduled == []  # no cooldown: no next cycle
    assert world.venue.resting_count(SYMBOL) == 0
    assert world.repo.list_cycles(world.strategy_id)[-1].status is CycleStatus.CLOSED


def test_stop_with_cancel_cancels_the_orders_and_keeps_the_position(world: EngineWorld) -> None:
    engine = world.started()
    engine.request_stop(StopRequested(at=world.clock.now, mode=StopMode.CANCEL))
    state = engine.state
    assert state is not None and state.phase is Phase.FINISHED
    assert world.venue.resting_count(SYMBOL) == 0
    assert _eth(world) == Decimal("1")
    assert state.book.position == Decimal("1")  # carried, still the strategy's
    assert not any(o.side is Side.SELL and o.filled for o in world.venue_orders())
    assert world.repo.list_cycles(world.strategy_id)[-1].realized_profit == 0


def test_stop_with_sell_cancels_and_sells_the_position_at_market(world: EngineWorld) -> None:
    engine = world.started()
    world.move("99.5")
    engine.request_stop(StopRequested(at=world.clock.now, mode=StopMode.SELL))
    state = engine.state
    assert state is not None and state.phase is Phase.FINISHED
    assert world.venue.resting_count(SYMBOL) == 0
    assert _eth(world) == 0
    sells = [o for o in world.venue_orders() if o.side is Side.SELL and o.filled]
    assert [o.client_order_id for o in sells] == [world.coid(1, "x1")]
    assert world.repo.list_cycles(world.strategy_id)[-1].realized_profit == Decimal("-0.5")


def test_stray_open_orders_with_our_ids_are_canceled_on_start_and_others_left_alone(
    world: EngineWorld,
) -> None:
    other_strategy = f"mg{world.repo.deployment_tag()}{world.strategy_id + 1}c1s1"
    other_deployment = f"mgzzzz{world.strategy_id}c7s2"  # same strategy id, another database
    untagged = f"mg{world.strategy_id}c7s2"  # made before tags, or by a tagless deployment
    ours = world.coid(7, "s2")
    for coid in (ours, other_strategy, other_deployment, untagged, "manual-1"):
        world.paper.create_order(
            client_order_id=coid,
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            amount=Decimal("1"),
            price=Decimal("50"),
        )
    world.started()
    states = {o.client_order_id: o.state for o in world.venue_orders()}
    assert states[ours] is OrderState.CANCELED
    assert states[other_strategy] is OrderState.OPEN
    assert states[other_deployment] is OrderState.OPEN
    assert states[untagged] is OrderState.OPEN
    assert states["manual-1"] is OrderState.OPEN
    assert ("orphan_canceled", ours) in world.host.reports


def test_watch_levels_are_the_highest_buy_or_stop_loss_and_the_lowest_sell(
    tmp_path: Path,
) -> None:
    params = {**PARAMS, "max_active_safety_orders": "2"}
    w = EngineWorld(tmp_path, params=params)
    try:
        engine = w.started()  # safety orders at 99 and 98, take-profit at 101
        watch = engine.watch()
        assert (watch.below, watch.above) == (Decimal("99.00"), Decimal("101.00"))
        assert w.host.watched[-1] == (watch.below, watch.above)
        w.move("98.5")  # safety 1 fills: the take-profit moves down, safety 3 joins
        engine.sync()
        watch = engine.watch()
        assert (watch.below, watch.above) == (Decimal("98.00"), Decimal("100.50"))
        assert w.host.watched[-1] == (watch.below, watch.above)
    finally:
        w.close()

    params = {**PARAMS, "max_safety_orders": "1", "stop_loss": "5"}
    w = EngineWorld(tmp_path / "stop-loss", params=params)
    try:
        engine = w.started()
        assert engine.watch().below == Decimal("99.00")  # the safety order is above the trigger
        w.move("99")
        engine.sync()  # the ladder is done: only the stop loss is below us now
        state = engine.state
        assert state is not None and state.book.average is not None
        assert engine.watch().below == state.book.average * Decimal("0.95")
        assert w.host.watched[-1] == (engine.watch().below, engine.watch().above)
    finally:
        w.close()


def test_a_replaced_engine_cancels_nothing_on_its_way_through_reconcile(
    world: EngineWorld,
) -> None:
    """An instance stuck since before its successor started loaded a stale snapshot: the
    successor's live orders look like strays to it, and the fence must stop the cancel."""
    stale = world.repo.load_engine_state(world.strategy_id)
    successor = world.started()
    assert successor.state is not None and len(successor.state.orders) == 2

    class StaleStore(FaultyStore):
        def load_engine_state(self, strategy_id: int) -> EngineState:
            return stale

    world.host.fenced = True
    old = Engine(
        strategy_id=world.strategy_id,
        exchange=world.exchange,
        store=StaleStore(world.repo),
        host=world.host,
        clock=world.clock,
        price=lambda: Decimal("100"),
    )
    with pytest.raises(Crash):
        old.start()
    assert world.venue.resting_count(SYMBOL) == 2
    assert "orphan_canceled" not in world.host.kinds()
