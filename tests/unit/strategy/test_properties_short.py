"""The machine's properties for a short ladder, driven by the simulated exchange.

The same invariants as the long side (position == buys - sells, replay gives the same commands,
the snapshot resumes exactly), and the funds: a short commits base, never more than the plan's
`max_base` from the cycle's P0, and never more than max_funds of quote value.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import CycleClosed, PlaceOrder
from domain.events import StopMode
from domain.market import MarketRules
from domain.orders import Side
from strategy.ladder import build_plan
from strategy.options import Direction
from strategy.params import MartingaleParams
from strategy.state import initial_state
from tests.unit.strategy.sim import SimRun
from tests.unit.strategy.test_properties import (
    PARAMS,
    RULES,
    check_run,
    load_candles,
    walked,
)

SHORT_PARAMS = [replace(p, direction=Direction.SHORT) for p in PARAMS]


def check_short_run(run: SimRun) -> None:
    check_run(run)
    params = run.state.params
    for cycle, base in run.committed_base.items():
        p0 = run.base_prices.get(cycle)
        if p0 is None:
            continue  # the base order never filled: only it was placed
        plan = build_plan(params, p0)
        assert base <= plan.max_base * (1 + Decimal("1e-20")), (cycle, base, plan.max_base)
    entries = [c for c in run.commands if isinstance(c, PlaceOrder) and c.leg[0] in "bsu"]
    assert entries and all(c.side is Side.SELL and c.cost is None for c in entries)
    exits = [c for c in run.commands if isinstance(c, PlaceOrder) and c.leg[0] in "tx"]
    assert all(c.side is Side.BUY for c in exits)


prices = st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=prices,
    params=st.sampled_from(SHORT_PARAMS),
    rules=st.sampled_from(RULES),
    fee_mode=st.sampled_from(["none", "quote", "received", "third"]),
    split=st.booleans(),
    duplicate=st.booleans(),
    reject_rate=st.sampled_from([0.0, 0.0, 0.2]),
    stop=st.none() | st.tuples(st.integers(0, 119), st.sampled_from(list(StopMode))),
    seed=st.integers(0, 2**16),
)
def test_random_price_paths_keep_the_invariants_for_a_short(
    steps: list[int],
    params: MartingaleParams,
    rules: MarketRules,
    fee_mode: str,
    split: bool,
    duplicate: bool,
    reject_rate: float,
    stop: tuple[int, StopMode] | None,
    seed: int,
) -> None:
    run = walked(
        params, rules, steps, stop, fee_mode, split, duplicate, reject_rate=reject_rate, seed=seed
    )
    check_short_run(run)


def test_real_eth_btc_crash_closes_profitable_short_cycles() -> None:
    """ETH/BTC through January 2018: a short ladder's buy-backs close at a profit."""
    params = MartingaleParams.from_mapping(
        {
            "base_order": "0.01",
            "safety_order": "0.02",
            "max_safety_orders": 5,
            "price_deviation": "1.5",
            "step_scale": "1.3",
            "volume_scale": "1.5",
            "take_profit": "1",
            "max_active_safety_orders": 2,
            "cooldown": 600,
            "direction": "short",
        }
    )
    rules = MarketRules(
        symbol="ETH/BTC",
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.001"),
        min_notional=Decimal("0.0001"),
    )
    candles = load_candles("ETH-BTC-5m.csv")[:2500]
    run = SimRun(
        state=initial_state(3, "ETH/BTC", params, rules),
        fee_mode="received",
        split_fills=True,
        seed=1,
    )
    run.start(candles[0][0], candles[0][1])
    for at, open_, high, low, close in candles:
        # open -> high -> low -> close, the pessimistic path for a short position
        for k, price in enumerate((open_, high, low, close)):
            run.move(at + timedelta(seconds=k), price)
    closed = [c for c in run.commands if isinstance(c, CycleClosed)]
    assert len(closed) >= 5
    assert all(c.realized_profit > 0 for c in closed if c.reason.value == "take_profit")
    assert run.state.realized_profit == sum(c.realized_profit for c in closed)
    assert run.tp_checks >= len(closed)
    check_short_run(run)
