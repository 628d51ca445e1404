"""Market rules that change under a running strategy, and market buys sized by quote amount
(issue 11, items 8 and 24): the engine uses the venue's current rules at each cycle, re-places
an order the venue's filters refused after re-reading them, and a market base order never
spends more than base_order whatever the price did since the last tick."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from domain.orders import OrderState, Side
from strategy.state import Phase, Role
from tests.actors.fakes import RULES, SYMBOL, EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def _open_sells(world: EngineWorld) -> list[Decimal]:
    return [
        o.price
        for o in world.paper.fetch_open_orders(SYMBOL)
        if o.side is Side.SELL and o.price is not None
    ]


def test_a_take_profit_refused_by_new_filters_is_placed_again_under_them(
    world: EngineWorld,
) -> None:
    engine = world.started()  # base at 100: take-profit t1 at 101, safety s1 at 99 resting
    coarse = replace(RULES, tick_size=Decimal("0.3"))
    world.venue.set_market_rules(coarse)  # the venue changes its tick size
    world.move("99")  # s1 fills: the new take-profit is sized with the snapshot's old tick
    engine.sync()
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE
    assert state.rules == coarse and not state.tp_blocked
    sells = _open_sells(world)
    assert len(sells) == 1 and sells[0] % Decimal("0.3") == 0, "no take-profit is resting"


def test_every_cycle_is_sized_with_the_venue_s_current_rules(world: EngineWorld) -> None:
    engine = world.started()
    world.move("101.5")  # the take-profit fills: cooldown
    engine.sync()
    assert engine.state is not None and engine.state.phase is Phase.COOLDOWN
    world.venue.set_market_rules(replace(RULES, step_size=Decimal("0.01")))
    world.clock.advance(61)
    world.venue.update_price(SYMBOL, Decimal("97"))
    engine.on_cooldown()
    state = engine.state
    assert state is not None and state.cycle == 2 and state.rules.step_size == Decimal("0.01")
    bought = [o for o in world.venue_orders() if o.client_order_id == world.coid(2, "b")]
    assert bought and bought[0].filled == Decimal("1.03")  # 100 / 97 = 1.0309, to the 0.01 step


def test_a_market_base_order_never_spends_more_than_base_order(world: EngineWorld) -> None:
    # The engine's last seen price is stale (95) while the venue already trades at 100: sized
    # from the stale price the order would spend 105.26 for a base_order of 100.
    engine = world.engine()
    engine._price = lambda: Decimal("95")  # type: ignore[method-assign]
    engine.start()
    (base,) = [o for o in world.venue_orders() if o.client_order_id == world.coid(1, "b")]
    assert base.state is OrderState.FILLED
    assert base.cost <= Decimal("100") and base.cost > Decimal("99")
    state = engine.state
    assert state is not None
    working_roles = {o.role for o in state.orders}
    assert Role.TAKE_PROFIT in working_roles
