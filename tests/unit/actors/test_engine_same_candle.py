"""A safety order and the take-profit filled in the same candle (issue 11, item 23).

The outcome must not depend on the order of the working orders inside the engine's state.
Policy: when one look finds several orders changed, buys are applied before sells, highest buy
first, lowest sell first: for a long strategy the low of an interval is taken to come before
its high (the backtest assumes the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain.market import Candle
from strategy.state import Phase, Role
from tests.actors.fakes import SYMBOL, EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def _both_fill_in_one_candle(world: EngineWorld, *, reverse: bool) -> tuple[object, ...]:
    engine = world.started()  # base filled at 100: take-profit at 101, safety orders below
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE
    roles = [o.role for o in state.orders]
    assert Role.TAKE_PROFIT in roles and Role.SAFETY in roles
    if reverse:
        engine.state = replace(state, orders=tuple(reversed(state.orders)))
    world.clock.advance(10)
    candle = Candle(
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        open=Decimal(100),
        high=Decimal("101.5"),
        low=Decimal("98.9"),
        close=Decimal(100),
    )
    fills = world.venue.update_candle(SYMBOL, candle)
    assert len(fills) == 2, "the scenario needs the take-profit and a safety order to fill"
    engine.sync()
    after = engine.state
    assert after is not None
    return (
        after.phase,
        after.book,
        sorted((o.leg, o.price, o.amount) for o in after.orders),
        after.next_safety,
        after.cycles_closed,
    )


def test_the_outcome_does_not_depend_on_the_order_of_the_working_orders(
    tmp_path: Path,
) -> None:
    results = []
    for reverse in (False, True):
        w = EngineWorld(tmp_path / ("reversed" if reverse else "natural"))
        try:
            results.append(_both_fill_in_one_candle(w, reverse=reverse))
        finally:
            w.close()
    assert results[0] == results[1]


def test_the_safety_fill_is_applied_before_the_take_profit_fill(world: EngineWorld) -> None:
    phase, _book, orders, next_safety, closed = _both_fill_in_one_candle(world, reverse=False)
    # Buy first: the ladder goes on (the next level is placed) and the take-profit that filled
    # sold the base order's amount; a new take-profit covers what the safety order bought.
    assert phase is Phase.ACTIVE and closed == 0
    legs = [leg for leg, _, _ in orders]  # type: ignore[attr-defined]
    assert legs == ["s2", "t2"] and next_safety == 3  # s2 placed once s1 filled
