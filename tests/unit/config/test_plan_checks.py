"""Strategy parameters and paper ladders are checked when the file is loaded, with exact paths."""

from __future__ import annotations

from collections.abc import Callable

from config.loader import ConfigError
from config.schema import ServiceConfig
from tests.unit.config.conftest import MINIMAL
from tests.unit.config.test_loader_errors import only

LoadError = Callable[[str], ConfigError]


def test_negative_order_size_names_the_parameter(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("base_order: 0.002", "base_order: -0.002")))
    assert ":19: users[0].strategies[0].base_order: must be > 0" in text


def test_error_in_second_user_names_its_path(load_error: LoadError) -> None:
    second = MINIMAL.split("users:\n", 1)[1].replace("name: alice", "name: bob")
    text = only(load_error(MINIMAL + second.replace("take_profit: 1.5", "take_profit: 0")))
    assert ":38: users[1].strategies[0].take_profit: must be > 0 (percent), got 0" in text


def test_missing_required_parameter(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("        take_profit: 1.5\n", "")))
    assert ":16: users[0].strategies[0].take_profit: is required" in text


def test_fractional_count_is_refused(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("max_safety_orders: 3", "max_safety_orders: 2.5")))
    assert "users[0].strategies[0].max_safety_orders" in text


def test_level_below_min_notional_names_the_level(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("min_notional: 0.0001", "min_notional: 0.003")))
    assert ":19: users[0].strategies[0].base_order: level 0 (base order" in text
    assert "below the minimum notional 0.003" in text
    assert "start price 0.1 of ETH/BTC" in text


def test_unaffordable_ladder_points_at_the_balance(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("balances: {BTC: 1}", "balances: {BTC: 0.01}")))
    assert ":14: users[0].accounts[0].balances.BTC: strategy 's1' needs up to" in text
    assert "has 0.01 BTC" in text


def test_missing_quote_balance_counts_as_zero(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("balances: {BTC: 1}", "balances: {ETH: 5}")))
    assert "users[0].accounts[0].balances.BTC: strategy 's1' needs up to" in text
    assert "has 0 BTC" in text


def strategies(count: int, state: str = "") -> str:
    block = MINIMAL.split("    strategies:\n", 1)[1]
    out = ""
    for i in range(count):
        out += block.replace(
            "name: s1", f"name: s{i}" + (f"\n        {state}" if state and i else "")
        )
    return out


def test_strategies_sharing_an_account_must_fit_its_balance_together(
    load_error: LoadError,
) -> None:
    # one ladder needs 0.0138325 BTC after rounding amounts down to the step
    head = MINIMAL.split("    strategies:\n", 1)[0].replace("{BTC: 1}", "{BTC: 0.03}")
    text = only(load_error(head + "    strategies:\n" + strategies(3)))
    assert "users[0].accounts[0].balances.BTC: the strategies on account 'main' can commit" in text
    assert (
        "up to 0.0414975 BTC together (s0 0.0138325, s1 0.0138325, s2 0.0138325) "
        "but the balance is 0.03 BTC"
    ) in text


def test_stopped_strategies_do_not_count_against_the_balance(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    head = MINIMAL.split("    strategies:\n", 1)[0].replace("{BTC: 1}", "{BTC: 0.03}")
    config = load_ok(head + "    strategies:\n" + strategies(3, "enabled: false"))
    assert [s.desired_state for s in config.users[0].strategies] == [
        "running",
        "stopped",
        "stopped",
    ]


def test_live_accounts_skip_ladder_checks_but_not_parameter_checks(
    load_error: LoadError,
) -> None:
    live = (
        "      - name: live\n        exchange: binance\n"
        "        api_key_env: BINANCE_API_KEY\n        secret_env: BINANCE_SECRET\n"
    )
    text = MINIMAL.replace("    strategies:", live + "    strategies:")
    text = text.replace(
        "account: main\n        symbol: ETH/BTC", "account: live\n        symbol: DOGE/USDT"
    )
    text = text.replace("price_deviation: 1.5", "price_deviation: 150")
    assert "users[0].strategies[0].price_deviation: must be > 0 and < 100" in only(load_error(text))
