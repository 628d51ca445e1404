"""ccxt structures -> domain: precision modes, raw strings over floats, state mapping, secrets."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ConfigurationError
from domain.orders import OrderState
from domain.secrets import Credentials, Secret
from domain.venues import venue_key
from exchange.ccxt_adapter import CcxtConfig
from exchange.ccxt_adapter.client import api_host, build_client, rewrite_urls
from exchange.ccxt_adapter.parse import (
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    dec,
    market_rules,
    order,
    plain,
    precision_to_step,
)


@pytest.mark.parametrize(
    ("value", "mode", "step"),
    [
        (0.01, TICK_SIZE, Decimal("0.01")),
        (1e-05, TICK_SIZE, Decimal("0.00001")),
        (10.0, TICK_SIZE, Decimal("10")),
        (2, DECIMAL_PLACES, Decimal("0.01")),
        (0, DECIMAL_PLACES, Decimal("1")),
        (5, SIGNIFICANT_DIGITS, Decimal("0")),
        (None, TICK_SIZE, Decimal("0")),
    ],
)
def test_precision_modes_become_step_sizes(value: object, mode: int, step: Decimal) -> None:
    assert precision_to_step(value, mode) == step


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e9"), places=8))
def test_float_fallback_recovers_the_shortest_decimal(value: Decimal) -> None:
    as_float = float(value)
    assert dec(as_float) == Decimal(repr(as_float))
    assert float(dec(as_float)) == as_float  # type: ignore[arg-type]


def test_plain_strips_zeros_without_exponents() -> None:
    assert str(plain(Decimal("0.01000000"))) == "0.01"
    assert str(plain(Decimal("100.00000000"))) == "100"


def test_generic_market_rules_without_raw_filters() -> None:
    market = {
        "symbol": "ETH/EUR",
        "precision": {"price": 2, "amount": 4},
        "limits": {"amount": {"min": 0.001, "max": None}, "cost": {"min": 10.0}},
        "info": {},
    }
    rules = market_rules(market, DECIMAL_PLACES)
    assert (rules.tick_size, rules.step_size) == (Decimal("0.01"), Decimal("0.0001"))
    assert (rules.min_amount, rules.max_amount, rules.min_notional) == (
        Decimal("0.001"),
        Decimal("0"),
        Decimal("10"),
    )


def test_market_rules_carry_the_maker_fee_rate_zero_when_the_venue_does_not_say() -> None:
    generic = {"symbol": "ETH/EUR", "precision": {"price": 2}, "limits": {}, "info": {}}
    assert market_rules({**generic, "maker": 0.001}, DECIMAL_PLACES).maker_fee_rate == Decimal(
        "0.001"
    )
    assert market_rules(generic, DECIMAL_PLACES).maker_fee_rate == 0
    assert market_rules({**generic, "maker": -0.0001}, DECIMAL_PLACES).maker_fee_rate == Decimal(
        "-0.0001"
    )  # a rebate, as the venue lists it
    for nonsense in (1, 2.5, "n/a"):  # not a rate: no rate, rather than no market
        assert market_rules({**generic, "maker": nonsense}, DECIMAL_PLACES).maker_fee_rate == 0
    binance = {
        "symbol": "ETH/USDT",
        "maker": 0.00075,
        "info": {"filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"}]},
    }
    rules = market_rules(binance, TICK_SIZE)
    assert (rules.tick_size, rules.maker_fee_rate) == (Decimal("0.01"), Decimal("0.00075"))


def test_order_prefers_raw_strings_and_the_original_client_id() -> None:
    raw = {
        "id": "77",
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "status": "canceled",
        "amount": 0.30000000000000004,
        "price": 0.1,
        "clientOrderId": "cancel77",
        "info": {
            "origClientOrderId": "mg1c2s3",
            "clientOrderId": "cancel77",
            "price": "0.10000000",
            "origQty": "0.30000000",
            "executedQty": "0.10000000",
            "cummulativeQuoteQty": "0.01000000",
            "status": "CANCELED",
            "time": 1700000000000,
        },
    }
    parsed = order(raw)
    assert parsed.client_order_id == "mg1c2s3"
    assert (parsed.amount, parsed.filled, parsed.cost) == (
        Decimal("0.3"),
        Decimal("0.1"),
        Decimal("0.01"),
    )
    assert parsed.state is OrderState.CANCELED and parsed.exchange_order_id == "77"


def test_generic_open_order_with_fills_is_partially_filled() -> None:
    raw = {
        "id": 1,
        "symbol": "A/B",
        "side": "sell",
        "type": "limit",
        "status": "open",
        "amount": 2.0,
        "filled": 0.5,
        "cost": 1.5,
        "price": 3.0,
        "clientOrderId": "c1",
        "info": {},
    }
    parsed = order(raw)
    assert parsed.state is OrderState.PARTIALLY_FILLED and parsed.remaining == Decimal("1.5")


def test_config_keeps_secrets_out_of_reprs_and_validates() -> None:
    config = CcxtConfig(exchange_id="binance", api_key=Secret("AKIA-xyz"), secret=Secret("s3cr3t!"))
    assert "AKIA-xyz" not in repr(config) and "s3cr3t!" not in f"{config}"
    assert config.environment == "binance@live"
    with pytest.raises(ConfigurationError, match="exchange_id"):
        CcxtConfig(exchange_id="nope")
    with pytest.raises(ConfigurationError, match="base_url"):
        CcxtConfig(exchange_id="binance", base_url="localhost:1")


def test_base_url_rewrites_every_api_entry_and_keys_the_limiter() -> None:
    config = CcxtConfig(exchange_id="binance", base_url="http://127.0.0.1:9/")
    client = build_client(config)
    urls = [u for u in client.urls["api"].values() if isinstance(u, str)]
    assert urls and all(u.startswith("http://127.0.0.1:9/") for u in urls)
    assert client.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    assert api_host(client) == "127.0.0.1:9"
    assert client.enableRateLimit is False and client.options["maxRetriesOnFailure"] == 0
    assert rewrite_urls({"a": {"b": "https://x.y/p/q"}}, "http://h") == {"a": {"b": "http://h/p/q"}}


def test_sandbox_switches_to_the_testnet_urls() -> None:
    client = build_client(CcxtConfig(exchange_id="binance", sandbox=True))
    assert "testnet" in client.urls["api"]["public"]
    assert CcxtConfig(exchange_id="binance", sandbox=True).environment == "binance@sandbox"


@pytest.mark.parametrize(
    ("sandbox", "base_url"),
    [(False, None), (True, None), (False, "https://testnet.example.com/"), (True, "http://h:9")],
)
def test_the_environment_is_the_venue_key(sandbox: bool, base_url: str | None) -> None:
    """Breakers and markets are shared by the same key that prices and feeds use."""
    config = CcxtConfig(exchange_id="binance", sandbox=sandbox, base_url=base_url)
    assert config.environment == venue_key("binance", sandbox=sandbox, base_url=base_url)


def test_secret_never_prints_and_compares_by_value() -> None:
    secret = Secret("hunter22")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r:>20}", str.format("{}", secret)]
    assert all("hunter22" not in text for text in shown)
    assert secret.reveal() == "hunter22" and secret == Secret("hunter22") and secret != Secret("x")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_config_from_vault_credentials() -> None:
    creds = Credentials(api_key=Secret("k-123"), secret=Secret("s-456"), passphrase=Secret("p-789"))
    config = CcxtConfig.for_account("okx", creds, sandbox=True)
    assert config.secret_values() == ("k-123", "s-456", "p-789")
    assert "k-123" not in repr(config)
    client = build_client(config)
    assert (client.apiKey, client.secret, client.password) == ("k-123", "s-456", "p-789")
