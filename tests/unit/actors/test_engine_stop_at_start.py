"""A stop asked before the engine starts (a paused or never started strategy told to stop, a
stop a previous process did not complete) is handled by the start path in place of a new
cycle: a strategy between cycles finishes without buying a base order first; one mid-cycle
cancels its ladder and keeps its position, as a stop of a running engine does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.events import StopMode, StopRequested
from domain.orders import OrderState
from strategy.state import Phase
from tests.actors.fakes import EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize("mode", list(StopMode))
def test_a_strategy_between_cycles_started_with_a_stop_buys_nothing(
    world: EngineWorld, mode: StopMode
) -> None:
    engine = world.engine()

    engine.start(StopRequested(at=world.clock.now, mode=mode))

    assert engine.finished
    assert engine.state is not None and engine.state.finished_reason is not None
    assert "stopped on request" in engine.state.finished_reason
    assert world.venue_orders() == []
    assert world.repo.list_orders(world.strategy_id) == []


def test_a_strategy_mid_cycle_started_with_a_cancel_cancels_its_ladder_and_keeps_its_buy(
    world: EngineWorld,
) -> None:
    world.started()  # base bought at once, take-profit and safety order resting
    restarted = world.engine()  # a new process, with the stop the last one did not complete

    restarted.start(StopRequested(at=world.clock.now, mode=StopMode.CANCEL))

    assert restarted.finished
    states = {o.client_order_id: o.state for o in world.venue_orders()}
    assert states == {
        world.coid(1, "b"): OrderState.FILLED,
        world.coid(1, "t1"): OrderState.CANCELED,
        world.coid(1, "s1"): OrderState.CANCELED,
    }
    assert restarted.state is not None and restarted.state.phase is Phase.FINISHED
    assert restarted.state.book.position > 0
