"""Parameters changed while a strategy runs (issue 12, item 5): the running engine takes them
from its next cycle, with no restart, and the current cycle's resting orders stay where they
are. Engine without threads, as in test_engine.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from persistence.records import DesiredState
from strategy.state import Phase
from tests.actors.fakes import PARAMS, SYMBOL, EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def _change_params(world: EngineWorld, **changes: str) -> None:
    """What the API or `martingale onboard` writes: the strategy's row, nothing else."""
    record = world.repo.get_strategy(world.strategy_id)
    world.repo.upsert_strategy(
        record.user_id,
        record.name,
        account_id=record.account_id,
        symbol=SYMBOL,
        params={**PARAMS, **changes},
        desired_state=DesiredState.RUNNING,
        now=world.clock(),
    )


def _resting(world: EngineWorld) -> dict[str, Decimal | None]:
    """The orders resting on the venue: client order id -> limit price."""
    return {o.client_order_id: o.price for o in world.venue.open_orders("alice", SYMBOL)}


def test_new_params_apply_from_the_next_cycle_and_leave_resting_orders_alone(
    world: EngineWorld,
) -> None:
    engine = world.started()
    before = _resting(world)
    assert set(before) == {world.coid(1, "t1"), world.coid(1, "s1")}
    assert before[world.coid(1, "s1")] == Decimal("99")  # 1% below the base price of 100

    _change_params(world, price_deviation="3", take_profit="2", cooldown="30")
    world.move("99.5")  # nothing reached: the engine looks anyway
    engine.sync()
    assert _resting(world) == before  # the cycle under way keeps its ladder
    world.move("99")  # safety 1 fills: the next level is placed by this cycle's parameters
    engine.sync()
    state = engine.state
    assert state is not None and state.params.price_deviation == Decimal("1")
    assert _resting(world)[world.coid(1, "s2")] == Decimal("98")  # 2% below 100, not 6%

    world.move("100.5")  # the take-profit sells: the cycle closes, cooldown as it was set
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.COOLDOWN
    assert world.host.scheduled[-1] == (world.clock.now + timedelta(seconds=60), "cooldown")

    world.clock.advance(60)
    engine.on_cooldown()  # cycle 2 starts: with the stored parameters
    state = engine.state
    assert state is not None and state.cycle == 2
    assert state.params.price_deviation == Decimal("3")
    assert state.params.take_profit == Decimal("2")
    resting = _resting(world)
    assert resting[world.coid(2, "s1")] == Decimal("97.48")  # 3% below the base of 100.5
    # ...and what the database holds is what runs: a restart goes on with the same parameters
    restarted = world.started()
    assert restarted.state is not None and restarted.state.params == state.params


def test_params_that_cannot_be_used_are_said_and_the_next_cycle_keeps_the_old_ones(
    world: EngineWorld,
) -> None:
    engine = world.started()
    _change_params(world, price_deviation="-1")
    world.move("101")  # the take-profit sells: cycle 1 closes
    engine.sync()
    world.clock.advance(60)
    engine.on_cooldown()
    state = engine.state
    assert state is not None and state.cycle == 2
    assert state.params.price_deviation == Decimal("1")
    assert "params_refused" in world.host.kinds()
