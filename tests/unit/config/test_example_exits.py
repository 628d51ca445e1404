"""The exits example config loads, and each strategy's parameters are the exits it names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from config.loader import load_config
from services.onboarding import strategy_params
from strategy.options import TimeoutAction
from strategy.params import MartingaleParams

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "examples" / "exits.yaml"


def test_the_exits_example_loads_with_each_exit() -> None:
    config = load_config(EXAMPLE)
    (user,) = config.users
    params = {s.name: MartingaleParams.from_mapping(strategy_params(s)) for s in user.strategies}
    assert params["eth-trailing-stop"].stop_loss_trailing is True
    assert params["eth-trailing-stop"].stop_loss == Decimal("4")
    assert params["eth-timeout"].stop_loss_timeout == Decimal("6")
    assert params["ltc-break-even"].stop_loss_timeout_action is TimeoutAction.BREAK_EVEN
    assert params["eth-compound"].reinvest_percent == Decimal("50")
    assert config.paper.state_file.name == "paper-exits.sqlite"
