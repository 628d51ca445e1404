"""Properties of the take-profit variants, driven by the simulated exchange (tests/unit/strategy
/sim.py) over random and real prices: the invariants of every run (check_run: position ==
buys - sells, funds within the plan, unique ids, a replay gives the same states and commands,
the snapshot resumes), plus: the sells resting never exceed the position, and a trailing
take-profit never sells below its take-profit price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.commands import PlaceOrder
from domain.market import MarketRules
from domain.orders import Side
from strategy.ladder import take_profit_price
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.state import MartingaleState, Role, initial_state
from tests.unit.strategy.sim import SimRun
from tests.unit.strategy.test_properties import RULES, check_run, load_candles, walked

BASE = {
    "base_order": "10",
    "safety_order": "20",
    "max_safety_orders": 4,
    "price_deviation": "1",
    "step_scale": "1.5",
    "volume_scale": "1.5",
    "max_active_safety_orders": 2,
    "cooldown": 300,
}
VARIANTS = [
    MartingaleParams.from_mapping({**BASE, "take_profit": "1", "trailing_deviation": "0.5"}),
    MartingaleParams.from_mapping(
        {**BASE, "take_profit": "1.5", "trailing_deviation": "2", "stop_loss": "15"}
    ),
    MartingaleParams.from_mapping(
        {
            **BASE,
            "take_profit_steps": [
                {"percent": "0.5", "portion": "30"},
                {"percent": "1", "portion": "30"},
                {"percent": "2", "portion": "40"},
            ],
        }
    ),
    MartingaleParams.from_mapping(
        {
            **BASE,
            "max_active_safety_orders": 4,
            "take_profit_steps": "1:50,2.5:50",
            "stop_loss": "15",
        }
    ),
]


def check_take_profits(run: SimRun) -> None:
    """Replays the run and checks every state and every take-profit it placed."""
    s = run.state
    state: MartingaleState = initial_state(s.strategy_id, s.symbol, s.params, s.rules)
    for event in run.events:
        state, cmds = decide(state, event)
        resting = sum(
            (o.amount - o.filled for o in state.orders if o.side is Side.SELL), start=Decimal(0)
        )
        # never sell what is not held (with no step, amounts are 28-digit quotients that round)
        slack = Decimal(0) if state.rules.step_size > 0 else Decimal("1e-20")
        assert resting <= state.book.position + slack, (event, state.orders)
        average = state.book.average  # the take-profit follows the position it sells
        for c in cmds:
            if not isinstance(c, PlaceOrder) or c.side is not Side.SELL or c.price is None:
                continue
            assert average is not None
            assert c.price >= take_profit_price(state.params, average, state.rules), c
        if state.params.take_profit_steps:
            assert state.trail_peak is None
            legs = [o.leg for o in state.orders_with(Role.TAKE_PROFIT)]
            assert all(len(leg) >= 3 and leg[1].isalpha() for leg in legs), legs


prices = st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=150)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=prices,
    params=st.sampled_from(VARIANTS),
    rules=st.sampled_from(RULES),
    fee_mode=st.sampled_from(["none", "quote", "received", "third"]),
    split=st.booleans(),
    duplicate=st.booleans(),
    reject_rate=st.sampled_from([0.0, 0.0, 0.2]),
    seed=st.integers(0, 2**16),
)
def test_take_profit_variants_keep_the_invariants(
    steps: list[int],
    params: MartingaleParams,
    rules: MarketRules,
    fee_mode: str,
    split: bool,
    duplicate: bool,
    reject_rate: float,
    seed: int,
) -> None:
    run = walked(
        params, rules, steps, None, fee_mode, split, duplicate, reject_rate=reject_rate, seed=seed
    )
    check_run(run)
    check_take_profits(run)


def test_real_candles_with_each_variant_close_cycles_in_profit() -> None:
    rules = MarketRules(
        symbol="ETH/BTC",
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.001"),
        min_notional=Decimal("0.0001"),
    )
    candles = load_candles("ETH-BTC-5m.csv")[:2500]
    for extra in (
        {"take_profit": "1", "trailing_deviation": "0.5"},
        {"take_profit_steps": "0.8:50,1.6:50"},
    ):
        params = MartingaleParams.from_mapping(
            {
                "base_order": "0.01",
                "safety_order": "0.02",
                "max_safety_orders": 5,
                "price_deviation": "1.5",
                "step_scale": "1.3",
                "volume_scale": "1.5",
                "max_active_safety_orders": 2,
                "cooldown": 600,
                **extra,
            }
        )
        run = SimRun(
            state=initial_state(3, "ETH/BTC", params, rules),
            fee_mode="received",
            split_fills=True,
            seed=1,
        )
        run.start(candles[0][0], candles[0][1])
        for at, open_, high, low, close in candles:
            for k, price in enumerate((open_, low, high, close)):
                run.move(at + timedelta(seconds=k), price)
        assert run.state.cycles_closed >= 5, extra
        assert run.state.realized_profit > 0
        check_run(run)
        check_take_profits(run)
