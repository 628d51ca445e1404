"""The shipped short example loads, and its account holds the base its ladder sells."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from config.loader import load_config
from config.schema import PaperAccount
from strategy.ladder import build_plan
from strategy.options import Direction
from strategy.params import MartingaleParams

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "examples" / "short.yaml"


def test_the_short_example_loads_with_the_base_it_sells() -> None:
    config = load_config(EXAMPLE)
    user = config.users[0]
    (strategy,) = user.strategies
    params = MartingaleParams.from_mapping(strategy.parameters())
    assert params.direction is Direction.SHORT and params.stop_loss == Decimal(15)
    account = user.account(strategy.account)
    assert isinstance(account, PaperAccount)
    plan = build_plan(params, Decimal("0.09"))
    assert plan.required_funds == plan.max_base < account.balances["ETH"]
