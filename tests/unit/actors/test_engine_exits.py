"""The engine with the trailing stop, the cycle timeout and reinvestment: the trail's best
price survives a restart, the timeout is a timer the engine keeps (and schedules again on a
restart), and the next cycle is sized with the balance the engine reads."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from domain import codec
from domain.orders import OrderState, OrderType, Side
from strategy.queries import stop_loss_price
from strategy.state import MartingaleState, Phase
from tests.actors.fakes import PARAMS, EngineWorld


def _world(tmp_path: Path, **extra: str) -> EngineWorld:
    return EngineWorld(tmp_path, params={**PARAMS, **extra})


def _stored_state(w: EngineWorld) -> MartingaleState:
    loaded = w.repo.load_engine_state(w.strategy_id)
    assert loaded.snapshot
    return codec.loads(loaded.snapshot, MartingaleState)


def test_a_restarted_engine_resumes_the_trail_from_the_stored_best_price(tmp_path: Path) -> None:
    w = _world(tmp_path, stop_loss="5", stop_loss_trailing="true", take_profit="20")
    try:
        engine = w.started()
        assert engine.watch().above == Decimal("100.01")  # a new best wakes the engine
        w.move("110")
        engine.on_tick(Decimal("110"), w.clock.now)
        # The step changed only the state (no order moved), and it was committed.
        assert _stored_state(w).stop_best == Decimal("110")
        assert engine.watch().below == Decimal("104.50")  # 110 * 0.95 (above safety order 1)
        del engine  # a crash: the next engine loads what the database holds

        restarted = w.started()
        state = restarted.state
        assert state is not None and state.stop_best == Decimal("110")
        assert stop_loss_price(state) == Decimal("104.50")
        w.move("104.6")
        restarted.on_tick(Decimal("104.6"), w.clock.now)
        assert restarted.state is not None and restarted.state.phase is Phase.ACTIVE
        w.move("104.5")
        restarted.on_tick(Decimal("104.5"), w.clock.now)
        state = restarted.state
        assert state is not None and state.phase is Phase.COOLDOWN
        exit_order = w.venue_orders()[-1]
        assert exit_order.side is Side.SELL and exit_order.state is OrderState.FILLED
        (cycle,) = w.repo.list_cycles(w.strategy_id)
        assert cycle.realized_profit == Decimal("4.5")  # 0.95 locked in of a 10 % rise
    finally:
        w.close()


def test_the_timeout_is_a_timer_kept_across_a_restart_and_sells_at_market(tmp_path: Path) -> None:
    w = _world(tmp_path, stop_loss_timeout="2")
    try:
        engine = w.started()
        deadline = w.clock.now + timedelta(hours=2)  # from the base fill
        assert w.host.scheduled == [(deadline, "cooldown")]
        w.clock.advance(3600)
        engine.on_cooldown()  # early (a stale timer): nothing happens, asked again
        assert engine.state is not None and engine.state.phase is Phase.ACTIVE
        assert w.host.scheduled[-1] == (deadline, "cooldown")

        w.host.scheduled.clear()
        restarted = w.started()
        assert w.host.scheduled == [(deadline, "cooldown")]
        w.move("99.5", seconds=3600)  # safety order 1 (at 99) does not fill
        restarted.on_cooldown()
        state = restarted.state
        assert state is not None and state.phase is Phase.COOLDOWN
        sold = w.venue_orders()[-1]
        assert (sold.side, sold.state, sold.amount) == (Side.SELL, OrderState.FILLED, Decimal(1))
        assert w.db_orders()[w.coid(1, "x1")].type is OrderType.MARKET
        closed = [
            json.loads(e.payload)
            for e in w.repo.recent_events(w.strategy_id)
            if e.type == "CycleClosed"
        ]
        assert [c["reason"] for c in closed] == ["timeout"]
        assert w.host.scheduled[-1] == (w.clock.now + timedelta(seconds=60), "cooldown")
    finally:
        w.close()


def test_the_next_cycle_is_sized_with_reinvested_profit_within_the_balance(tmp_path: Path) -> None:
    w = _world(tmp_path, reinvest_percent="100")
    try:
        engine = w.started()
        for price in ("99", "98", "100.5"):  # two safety fills, then the take-profit
            w.move(price)
            engine.sync()
        state = engine.state
        assert state is not None and state.phase is Phase.COOLDOWN
        assert state.reinvested == Decimal("3.020595")
        w.clock.advance(60)
        engine.on_cooldown()
        state = engine.state
        assert state is not None and state.cycle == 2
        assert state.size_scale == Decimal("1.0075")  # 403.020595 / 400, down to 0.0001
        base = next(o for o in w.venue_orders() if o.client_order_id == w.coid(2, "b"))
        assert base.cost <= Decimal("100.75") and base.cost > Decimal("100.7")
        started = [
            json.loads(e.payload)
            for e in w.repo.recent_events(w.strategy_id)
            if e.type == "CooldownElapsed"
        ]
        free = w.paper.fetch_balances()["USDT"]
        assert started and Decimal(started[-1]["balance"]) > free.free  # read before the buy
    finally:
        w.close()
