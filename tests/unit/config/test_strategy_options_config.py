"""The issue-16 strategy options in a config file: read exactly, and errors point at the line."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from config.loader import ConfigError
from config.schema import ServiceConfig
from strategy.options import Direction, StartKind
from strategy.params import MartingaleParams
from tests.unit.config.conftest import MINIMAL

OPTIONS = """        direction: short
        take_profit_steps:
          - {percent: 1.5, portion: 50}
          - {percent: 3, portion: 50}
        stop_loss: 20
        stop_loss_trailing: true
        stop_loss_timeout: 48
        stop_loss_timeout_action: break_even
        reinvest_percent: 25
        start_condition: {type: rsi, below: 30, period: 14, timeframe: 1h}
"""


def with_options(text: str) -> str:
    # a short sells ETH it holds: the account's balance check asks for base (same line count)
    return MINIMAL.replace("balances: {BTC: 1}", "balances: {BTC: 1, ETH: 1}") + text


def test_every_option_reaches_the_parameters(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(with_options(OPTIONS))
    params = MartingaleParams.from_mapping(config.users[0].strategies[0].parameters())
    assert params.direction is Direction.SHORT
    assert [s.portion for s in params.take_profit_steps] == [Decimal(50), Decimal(50)]
    assert params.take_profit == Decimal("1.5")
    assert params.stop_loss_trailing is True
    assert params.stop_loss_timeout == Decimal(48)
    assert params.reinvest_percent == Decimal(25)
    assert params.start_condition.kind is StartKind.RSI
    assert params.start_condition.timeframe == "1h"


def test_start_condition_may_be_a_bare_word(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(with_options("        start_condition: signal\n"))
    params = MartingaleParams.from_mapping(config.users[0].strategies[0].parameters())
    assert params.start_condition.kind is StartKind.SIGNAL


def test_a_bad_step_names_its_path_and_line(load_error: Callable[[str], ConfigError]) -> None:
    bad = OPTIONS.replace("{percent: 3, portion: 50}", "{percent: 1, portion: 50}")
    text = str(load_error(with_options(bad)))
    assert "users[0].strategies[0].take_profit_steps[1].percent" in text
    assert ":27:" in text  # the second step's line (take_profit is the file's 23rd)
    assert "above the previous step" in text


def test_a_bad_start_setting_names_its_path(load_error: Callable[[str], ConfigError]) -> None:
    bad = OPTIONS.replace("below: 30", "below: 130")
    text = str(load_error(with_options(bad)))
    assert "users[0].strategies[0].start_condition.below" in text


def test_take_profit_beside_other_steps_is_refused(
    load_error: Callable[[str], ConfigError],
) -> None:
    text = str(load_error(with_options(OPTIONS.replace("percent: 1.5", "percent: 2"))))
    assert "users[0].strategies[0].take_profit:" in text
    assert "first step" in text


def test_a_step_too_small_for_the_market_names_its_portion(
    load_error: Callable[[str], ConfigError],
) -> None:
    # the base order's 0.02 ETH: 4 % of it is 0.0008, below the 0.001 step; the least the
    # market takes at the step's 0.0985 is 0.002 (0.001 is worth less than the 0.0001 minimum)
    small = OPTIONS.replace("{percent: 1.5, portion: 50}", "{percent: 1.5, portion: 4}").replace(
        "{percent: 3, portion: 50}", "{percent: 3, portion: 96}"
    )
    text = str(load_error(with_options(small)))
    assert "users[0].strategies[0].take_profit_steps[0].portion: step 1" in text
    assert "amount rounds to zero" in text and "least order there is 0.002" in text
    assert "a portion of at least 10 %" in text and ":26:" in text  # the step's own line
