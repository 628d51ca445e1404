"""Start conditions in the machine: phase WAITING, and StartSignalled (strategy.start)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import codec
from domain.commands import PlaceOrder, StrategyFinished
from domain.events import (
    CooldownElapsed,
    OrderCanceled,
    OrderFilled,
    Started,
    StartSignalled,
    StopMode,
    StopRequested,
)
from domain.market import MarketRules
from strategy.machine import decide
from strategy.options import start_condition
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, Phase, Role, initial_state
from tests.unit.strategy.helpers import at, fill, fresh, params, placed, run
from tests.unit.strategy.sim import SimRun
from tests.unit.strategy.test_properties import PARAMS, RULES, T0, check_run

RSI = {"type": "rsi", "below": "30", "period": 14, "timeframe": "5m"}


def waiting() -> MartingaleState:
    s, cmds = decide(fresh(params(start_condition=RSI)), Started(at=at(), price=D(100)))
    assert cmds == () and s.phase is Phase.WAITING
    return s


def test_started_waits_for_the_condition_and_places_nothing() -> None:
    s = waiting()
    assert codec.loads(codec.dumps(s)) == s  # the snapshot keeps the phase


def test_start_signalled_in_waiting_starts_the_cycle_with_its_price_and_rules() -> None:
    rules = MarketRules(symbol="ETH/USDT", tick_size=D("0.1"), step_size=D("0.001"))
    s, cmds = decide(waiting(), StartSignalled(at=at(5), price=D(50), source="rsi", rules=rules))
    base = placed(cmds)["b"]
    assert s.phase is Phase.ENTERING and s.rules == rules and s.cycle == 1
    assert base.amount == D("0.2")  # 10 / 50 at the new step


def test_start_signalled_outside_waiting_does_nothing() -> None:
    idle = fresh(params(start_condition=RSI))
    assert decide(idle, StartSignalled(at=at(), price=D(1), source="rsi")) == (idle, ())
    entering, _ = decide(fresh(), Started(at=at(), price=D(100)))
    assert decide(entering, StartSignalled(at=at(1), price=D(1), source="signal")) == (
        entering,
        (),
    )


def test_a_cooldown_ends_in_waiting_not_in_a_new_cycle() -> None:
    p = params(start_condition={"type": "signal", "max_lag": 30}, take_profit="1")
    s, _ = run(fresh(p), Started(at=at(), price=D(100)))
    s, _ = run(s, StartSignalled(at=at(1), price=D(100), source="signal"))
    s, _ = run(
        s, OrderFilled(at=at(2), client_order_id="mg1c1b", fill=fill("mg1c1b", "100", "0.1"))
    )
    tp = s.orders_with(Role.TAKE_PROFIT)[0]
    sell = fill(tp.client_order_id, str(tp.price), str(tp.amount), side=tp.side)
    s, cmds = run(s, OrderFilled(at=at(3), client_order_id=tp.client_order_id, fill=sell))
    assert s.phase in (Phase.CLOSING, Phase.COOLDOWN)
    while s.phase is Phase.CLOSING:
        coid = s.orders[0].client_order_id
        s, _ = run(s, OrderCanceled(at=at(4), client_order_id=coid))
    assert s.phase is Phase.COOLDOWN and s.wake_at is not None
    s, cmds = decide(s, CooldownElapsed(at=s.wake_at, price=D(100)))
    assert s.phase is Phase.WAITING and not placed(cmds)
    s, cmds = decide(s, StartSignalled(at=at(100), price=D(100), source="signal"))
    assert s.phase is Phase.ENTERING and s.cycle == 2 and set(placed(cmds)) == {"b"}


def test_a_stop_in_waiting_finishes_at_once() -> None:
    for mode in StopMode:
        s, cmds = decide(waiting(), StopRequested(at=at(1), mode=mode))
        assert s.phase is Phase.FINISHED
        assert [type(c) for c in cmds] == [StrategyFinished]


CONDITIONS = [
    {"type": "rsi", "below": "30", "period": 14, "timeframe": "5m"},
    {"type": "ma", "period": 20, "timeframe": "1h"},
    {"type": "signal", "max_lag": 60},
]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=100),
    base=st.sampled_from(PARAMS),
    condition=st.sampled_from(CONDITIONS),
    rules=st.sampled_from(RULES),
    signals=st.sets(st.integers(0, 99), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_a_waiting_strategy_places_no_order_until_start_signalled(
    steps: list[int],
    base: MartingaleParams,
    condition: dict[str, object],
    rules: MarketRules,
    signals: set[int],
    seed: int,
) -> None:
    params = dataclasses.replace(base, start_condition=start_condition(condition))
    sim = SimRun(state=initial_state(7, "ETH/USDT", params, rules), fee_mode="quote", seed=seed)
    price = D(100)
    sim.start(T0, price)
    assert sim.state.phase is Phase.WAITING and not sim.commands
    for i, step in enumerate(steps):
        price = (price * (1 + D(step) / 1000)).quantize(D("0.01"))
        now = T0 + timedelta(minutes=5 * (i + 1))
        was_waiting = sim.state.phase is Phase.WAITING
        before = len(sim.commands)
        if i in signals:
            sim.now, sim.price = now, price  # the signal carries the current price
            sim.feed(StartSignalled(at=now, price=price, source=condition["type"]))  # type: ignore[arg-type]
            if was_waiting and sim.state.phase is not Phase.FINISHED:
                assert sim.state.phase is not Phase.WAITING
            elif not was_waiting:
                assert len(sim.commands) == before  # ignored outside WAITING
        before = len(sim.commands)
        waiting_before_move = sim.state.phase is Phase.WAITING
        sim.move(now, price)
        if waiting_before_move:
            # no StartSignalled in a move: a waiting strategy stays put and orders nothing
            assert sim.state.phase is Phase.WAITING
            assert not [c for c in sim.commands[before:] if isinstance(c, PlaceOrder)]
    check_run(sim)
