"""A short ladder's funds are base: the config check reads the base balance."""

from __future__ import annotations

from collections.abc import Callable

from config.loader import ConfigError
from config.schema import ServiceConfig
from tests.unit.config.conftest import MINIMAL
from tests.unit.config.test_loader_errors import only

LoadError = Callable[[str], ConfigError]
SHORT = MINIMAL.replace(
    "        take_profit: 1.5\n", "        take_profit: 1.5\n        direction: short\n"
)


def test_a_short_needs_base_not_quote(load_error: LoadError) -> None:
    # 1 BTC of quote is plenty for the long ladder, but a short sells ETH it must hold
    text = only(load_error(SHORT))
    assert "users[0].accounts[0].balances.ETH: strategy 's1' needs up to" in text
    assert "has 0 ETH" in text


def test_a_short_with_the_base_it_sells_loads(load_ok: Callable[[str], ServiceConfig]) -> None:
    # 0.02 + 0.04/0.1015 + ... about 0.13 ETH; no BTC needed at all
    config = load_ok(SHORT.replace("balances: {BTC: 1}", "balances: {ETH: 0.2}"))
    assert config.users[0].strategies[0].direction == "short"


def test_shorts_sharing_an_account_must_fit_its_base_together(load_error: LoadError) -> None:
    block = SHORT.split("    strategies:\n", 1)[1]
    head = SHORT.split("    strategies:\n", 1)[0].replace("{BTC: 1}", "{ETH: 0.2}")
    two = block + block.replace("name: s1", "name: s2")
    text = only(load_error(head + "    strategies:\n" + two))
    assert "users[0].accounts[0].balances.ETH: the strategies on account 'main' can commit" in text


STOPPED_OUT = SHORT.replace(
    "        direction: short\n", "        direction: short\n        stop_loss: 20\n"
)


def test_a_shorts_stop_loss_needs_the_quote_its_buy_back_costs(load_error: LoadError) -> None:
    # the sells receive about 0.0138 BTC; buying it all back 20 % higher costs about 0.0028 more
    text = only(load_error(STOPPED_OUT.replace("balances: {BTC: 1}", "balances: {ETH: 0.2}")))
    assert "users[0].strategies[0].stop_loss: after the last level the stop loss buys back" in text
    assert "the quote balance is 0; keep at least 0.002" in text


def test_a_short_with_the_quote_for_its_stop_loss_loads(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    config = load_ok(STOPPED_OUT.replace("balances: {BTC: 1}", "balances: {ETH: 0.2, BTC: 0.003}"))
    assert config.users[0].strategies[0].stop_loss is not None


def test_the_stop_loss_buy_backs_of_shorts_sharing_an_account_must_fit_together(
    load_error: LoadError,
) -> None:
    block = STOPPED_OUT.split("    strategies:\n", 1)[1]
    head = STOPPED_OUT.split("    strategies:\n", 1)[0]
    head = head.replace("{BTC: 1}", "{ETH: 0.5, BTC: 0.004}")  # one buy-back fits, not two
    two = block + block.replace("name: s1", "name: s2")
    text = only(load_error(head + "    strategies:\n" + two))
    assert "users[0].accounts[0].balances.BTC: the strategies on account 'main' can commit" in text
