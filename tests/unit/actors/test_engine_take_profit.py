"""The take-profit variants through the real engine (paper venue, in-memory repository): a
trail's peak is a step of its own, committed with the snapshot, so a restarted engine resumes
the trail where it was; take-profit steps reach the venue as one order per step."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from domain.orders import Side
from strategy.state import Phase, Role
from tests.actors.fakes import PARAMS, EngineWorld, duplicated_ids


@pytest.fixture
def trailing(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path, params={**PARAMS, "trailing_deviation": "0.5"})
    yield w
    w.close()


def _tick(world: EngineWorld, engine: object, price: str) -> None:
    world.move(price)
    engine.on_tick(Decimal(price), world.clock.now)  # type: ignore[attr-defined]


def test_a_restarted_engine_resumes_the_trail_from_the_persisted_peak(
    trailing: EngineWorld,
) -> None:
    w = trailing
    engine = w.started()
    state = engine.state
    assert state is not None and state.phase is Phase.ACTIVE
    assert not state.orders_with(Role.TAKE_PROFIT)  # nothing rests while the trail watches
    assert engine.watch().above == Decimal("101.00")
    _tick(w, engine, "101.5")
    _tick(w, engine, "103")
    version = engine.version
    assert engine.state is not None and engine.state.trail_peak == Decimal("103")
    assert w.host.watched[-1] == (Decimal("102.485"), Decimal("103"))

    restarted = w.started()  # the old engine is gone; the new one loads the snapshot
    assert restarted.state is not None and restarted.state.trail_peak == Decimal("103")
    assert restarted.version != 0 and version != 0
    _tick(w, restarted, "102.6")  # above the pull-back level: nothing
    assert not [o for o in w.venue_orders() if o.side is Side.SELL]
    _tick(w, restarted, "102.4")  # 0.5 % back from 103: sold at the market, above the tp
    sells = [o for o in w.venue_orders() if o.side is Side.SELL]
    assert [(o.client_order_id, o.cost / o.filled) for o in sells] == [
        (w.coid(1, "t1"), Decimal("102.4"))
    ]
    assert w.db_orders()[w.coid(1, "t1")].price == Decimal("102.40")
    state = restarted.state
    assert state is not None and state.phase is Phase.COOLDOWN
    assert duplicated_ids(w.venue_orders()) == []


def test_a_peak_alone_is_committed(trailing: EngineWorld) -> None:
    w = trailing
    engine = w.started()
    _tick(w, engine, "101.5")
    before = engine.version
    _tick(w, engine, "102")  # a new peak: no order, only the state changes
    assert engine.version != before
    _tick(w, engine, "101.9")  # neither a peak nor the pull-back: nothing to write
    assert engine.state is not None and engine.state.trail_peak == Decimal("102")


def test_take_profit_steps_reach_the_venue_one_order_per_step(tmp_path: Path) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "take_profit"}
    w = EngineWorld(tmp_path, params={**params, "take_profit_steps": "1:50,2:50"})
    try:
        engine = w.started()
        db = w.db_orders()
        sells = {o.client_order_id: o for o in w.venue_orders() if o.side is Side.SELL}
        assert {c: (db[c].price, o.amount) for c, o in sells.items()} == {
            w.coid(1, "ta1"): (Decimal("101.00"), Decimal("0.5000")),
            w.coid(1, "tb1"): (Decimal("102.00"), Decimal("0.5000")),
        }
        w.move("101.5")
        engine.sync()
        state = engine.state
        assert state is not None and state.tp_steps_done == (0,)
        assert state.book.position == Decimal("0.5000")
        w.move("102")
        engine.sync()
        state = engine.state
        assert state is not None and state.phase is Phase.COOLDOWN and state.cycles_closed == 1
    finally:
        w.close()
