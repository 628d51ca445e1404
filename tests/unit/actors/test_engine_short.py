"""A short strategy through the real engine, paper venue and repository: it sells the base it
holds, buys it back lower, records the cycle with its signed figures and carries what a base
fee leaves owed."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from domain.orders import OrderState, Side
from persistence.records import CycleStatus
from strategy.state import Phase
from tests.actors.fakes import PARAMS, SYMBOL, EngineWorld

SHORT = {**PARAMS, "direction": "short"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path, params=SHORT, fee_rate=Decimal("0.001"))
    w.venue.deposit("alice", "ETH", Decimal("10"))
    yield w
    w.close()


def test_a_short_cycle_sells_first_and_buys_back_lower(world: EngineWorld) -> None:
    engine = world.started()  # a market sell of 100 / 100 = 1 ETH
    base = world.db_orders()[world.coid(1, "b")]
    assert (base.side, base.state, base.amount) == (Side.SELL, OrderState.FILLED, Decimal(1))
    tp = world.db_orders()[world.coid(1, "t1")]
    s1 = world.db_orders()[world.coid(1, "s1")]
    assert (tp.side, tp.price) == (Side.BUY, Decimal("98.9"))  # 99.9 average * 0.99, down
    assert (s1.side, s1.price) == (Side.SELL, Decimal("101"))
    balances = world.paper.fetch_balances()
    assert balances["ETH"].total == Decimal(9)  # the ETH sold
    world.move("98.9")  # the buy-back fills, paying its fee in ETH
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.COOLDOWN
    closed = world.repo.list_cycles(world.strategy_id)[0]
    assert closed.status is CycleStatus.CLOSED
    bought = tp.amount - tp.amount * Decimal("0.001")  # the base fee keeps 0.001 ETH owed
    assert closed.amount == Decimal(-1)  # the base the cycle sold, negative like its position
    assert closed.average_price == Decimal("99.9")
    assert closed.carried_amount == bought - 1 < 0
    assert closed.carried_cost == (bought - 1) * Decimal("99.9")
    assert closed.realized_profit == closed.received - closed.cost + closed.carried_cost
    assert closed.realized_profit > 0
    assert state.book.position == bought - 1


def test_the_direction_waits_until_nothing_is_carried(world: EngineWorld) -> None:
    engine = world.started()
    world.move("98.9")  # cycle 1 closes owing 0.001 ETH (the buy-back's base fee)
    engine.sync()
    record = world.repo.get_strategy(world.strategy_id)
    world.repo.upsert_strategy(
        record.user_id,
        record.name,
        account_id=record.account_id,
        symbol=SYMBOL,
        params={**PARAMS, "direction": "long"},
        desired_state=record.desired_state,
        now=world.clock(),
    )
    world.clock.advance(60)
    engine.on_cooldown()
    state = engine.state
    assert state is not None and state.cycle == 2
    assert state.params.direction.value == "short"  # a long could not buy back the debt
    assert "params_refused" in world.host.kinds()
    base = world.db_orders()[world.coid(2, "b")]
    assert base.side is Side.SELL


def test_a_restarted_engine_resumes_the_short_where_it_was(world: EngineWorld) -> None:
    world.started()
    world.move("101")  # safety 1 sells; the buy-back is re-placed for the new average
    again = world.engine()  # a restart: the same store and venue, a fresh engine
    again.start()
    state = again.state
    assert state is not None and state.phase is Phase.ACTIVE
    assert state.book.position == Decimal("-1.99")  # 1 + 100 / 101 = 0.990099.. down to 0.99
    resting = {o.client_order_id: o.side for o in world.venue.open_orders("alice", SYMBOL)}
    assert resting == {world.coid(1, "t2"): Side.BUY, world.coid(1, "s2"): Side.SELL}
