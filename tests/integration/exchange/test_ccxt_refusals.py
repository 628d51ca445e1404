"""Refusals through the real ccxt.binance client: a key refused while running, rate limits.

What matters is what the venue sees afterwards, so each test counts the fake server's requests.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from domain.errors import AuthenticationFailed
from domain.orders import OrderType, Side
from domain.secrets import Secret
from exchange.ccxt_adapter import CcxtExchange
from tests.integration.exchange.conftest import API_KEY, API_SECRET
from tests.integration.exchange.fake_binance import FakeBinance, Fault

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"
REFUSED = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}


def limit_buy(ex: CcxtExchange, coid: str, amount: str = "0.001", price: str = "29000.5"):
    return ex.create_order(
        client_order_id=coid,
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(amount),
        price=Decimal(price),
    )


def every_port_call(ex: CcxtExchange) -> list[Callable[[], object]]:
    return [
        ex.fetch_balances,
        lambda: ex.fetch_ticker(SYM),
        lambda: ex.load_market_rules(SYM),
        lambda: limit_buy(ex, "mg1c2b"),
        lambda: ex.cancel_order(SYM, client_order_id="mg1c1b"),
        lambda: ex.fetch_order(SYM, client_order_id="mg1c1b"),
        lambda: ex.fetch_open_orders(SYM),
        lambda: ex.fetch_fills(SYM),
    ]


def test_a_key_revoked_while_running_is_fatal_and_latched(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex, same_key = make_adapter(), make_adapter()
    limit_buy(ex, "mg1c1b")  # a first signed success: ccxt now reads -2015 as a temporary ban
    fake.revoke_key()
    with capture_logs() as logs:
        with pytest.raises(AuthenticationFailed, match="-2015") as caught:
            ex.fetch_balances()
        sent = len(fake.seen)
        for call in every_port_call(ex) + every_port_call(same_key):
            with pytest.raises(AuthenticationFailed, match="refused this API key"):
                call()
    assert len(fake.seen) == sent  # nothing more was sent with that key, by any client
    assert fake.count("GET", "account") == 1  # the refusal itself was not retried
    refusals = [e for e in logs if e["event"] == "exchange.key_refused"]
    assert len(refusals) == 1 and refusals[0]["log_level"] == "error"
    text = repr(logs) + str(caught.value)
    assert API_KEY not in text and API_SECRET not in text


@pytest.mark.parametrize("status", [401, 418, 429])
def test_a_key_refusal_is_recognised_whatever_class_ccxt_gives_it(
    make_adapter: Make, fake: FakeBinance, status: int
) -> None:
    """418/429 are DDoSProtection before ccxt reads the body; 401 after a success is too."""
    ex = make_adapter()
    ex.fetch_balances()
    fake.inject(Fault.http("GET", "account", status, REFUSED))
    with pytest.raises(AuthenticationFailed):
        ex.fetch_balances()
    with pytest.raises(AuthenticationFailed):
        ex.fetch_ticker(SYM)
    assert fake.count("GET", "account") == 2 and fake.count("GET", "ticker/24hr") == 0


def test_another_key_on_the_same_host_keeps_trading(make_adapter: Make, fake: FakeBinance) -> None:
    refused = make_adapter(api_key=Secret("some-other-key-000"))
    with pytest.raises(AuthenticationFailed):
        refused.fetch_balances()
    assert make_adapter().fetch_balances()["USDT"].free == Decimal("10000")
