"""Every issue-16 option at once, in random combinations and both directions: the invariants of
`test_properties.check_run` hold (position = entries - exits, funds within the plan, unique
order ids, a replay gives the same states and commands, the snapshot resumes exactly)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.market import MarketRules
from strategy.params import MartingaleParams
from strategy.state import initial_state
from tests.unit.strategy.sim import SimRun
from tests.unit.strategy.test_properties import check_run, prices, walk

RULES = MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.0001"))


@st.composite
def option_sets(draw: Any) -> MartingaleParams:
    values: dict[str, Any] = {
        "base_order": "10",
        "safety_order": "15",
        "max_safety_orders": draw(st.integers(1, 5)),
        "price_deviation": draw(st.sampled_from(["0.5", "1", "1.5"])),
        "volume_scale": draw(st.sampled_from(["1", "1.3"])),
        "max_active_safety_orders": draw(st.integers(1, 3)),
        "cooldown": draw(st.sampled_from([0, 300])),
        "direction": draw(st.sampled_from(["long", "short"])),
        "reinvest_percent": draw(st.sampled_from(["0", "50", "100"])),
    }
    tp = draw(st.sampled_from(["plain", "steps", "trailing"]))
    if tp == "steps":
        values["take_profit_steps"] = draw(st.sampled_from(["0.5:50,1:50", "0.4:30,0.8:30,1.2:40"]))
    else:
        values["take_profit"] = draw(st.sampled_from(["0.5", "1"]))
        if tp == "trailing":
            values["trailing_deviation"] = draw(st.sampled_from(["0.2", "0.5"]))
    if draw(st.booleans()):
        values["stop_loss"] = "40"
        values["stop_loss_trailing"] = draw(st.booleans())
    if draw(st.booleans()):
        values["stop_loss_timeout"] = draw(st.sampled_from(["1", "3"]))
        values["stop_loss_timeout_action"] = draw(st.sampled_from(["market", "break_even"]))
    return MartingaleParams.from_mapping(values)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=prices,
    params=option_sets(),
    fee_mode=st.sampled_from(["none", "quote", "received"]),
    split=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_mix_of_options_keeps_the_invariants(
    steps: list[int], params: MartingaleParams, fee_mode: str, split: bool, seed: int
) -> None:
    run = SimRun(
        state=initial_state(9, "ETH/USDT", params, RULES),
        fee_mode=fee_mode,
        split_fills=split,
        seed=seed,
    )
    walk(run, steps)
    # Reinvestment scales a cycle's sizes (never past what the balance covers, not simulated
    # here); every cycle stays within the plan times the largest scale the run used.
    scale = max((s.size_scale for s in run.states), default=Decimal(1))
    check_run(run, funds=params.max_funds * scale)
    if params.reinvest_percent == 0:
        assert scale == 1
