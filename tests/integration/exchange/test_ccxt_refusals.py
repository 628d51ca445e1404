"""Refusals through the real ccxt.binance client: a key refused while running, rate limits.

What matters is what the venue sees afterwards, so each test counts the fake server's requests.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from domain.errors import AuthenticationFailed, ExchangeUnavailable, OrderRateLimited, RateLimited
from domain.orders import OrderState, OrderType, Side
from domain.secrets import Secret
from exchange.ccxt_adapter import CcxtExchange
from exchange.ccxt_adapter.errors import IP_BAN_PAUSE, IP_RATE_PAUSE
from exchange.resilience.account import AccountGuardRegistry
from exchange.resilience.circuit import CircuitOpen
from exchange.resilience.rate_limit import RateLimit, RateLimiterRegistry
from exchange.resilience.retry import ReadRetryPolicy
from tests.integration.exchange.conftest import API_KEY, API_SECRET
from tests.integration.exchange.fake_binance import FakeBinance, Fault
from tests.integration.exchange.fake_binance_venue import Venue

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


def test_a_client_built_after_the_key_was_fixed_asks_again(
    make_adapter: Make, fake: FakeBinance
) -> None:
    """A resume (or a restart) builds a new client: the key gets one more request, even while
    an old client of the refused key is still alive somewhere in the process."""
    old = make_adapter()
    limit_buy(old, "mg1c1b")
    fake.revoke_key()
    with pytest.raises(AuthenticationFailed):
        old.fetch_balances()
    fake.restore_key(API_KEY)  # the owner fixed the whitelist; the old client is still alive
    resumed = make_adapter()
    assert resumed.fetch_balances()["USDT"].free > 0


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


# --- rate limits -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TOO_MANY_ORDERS = {
    "code": -1015,
    "msg": "Too many new orders; current limit is 50 orders per 10 SECOND.",
}
WEIGHT = {"code": -1003, "msg": "Too much request weight used; current limit is 6000 per 1 MINUTE."}


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        (Fault.http("POST", "order", 429, WEIGHT, Retry_After="3"), RateLimited, 3),
        (Fault.http("POST", "order", 429, WEIGHT), RateLimited, IP_RATE_PAUSE),
        (Fault.http("POST", "order", 418, "<html>I'm a teapot</html>"), RateLimited, IP_BAN_PAUSE),
        (Fault.http("POST", "order", 400, WEIGHT), RateLimited, IP_RATE_PAUSE),
        (Fault.http("POST", "order", 429, TOO_MANY_ORDERS), OrderRateLimited, 10),
        (Fault.http("POST", "order", 400, TOO_MANY_ORDERS, Retry_After="7"), OrderRateLimited, 7),
    ],
    ids=["429-retry-after", "429-bare", "418-bare", "400--1003", "429--1015", "400--1015"],
)
def test_every_rate_limit_refusal_of_a_create_is_not_placed(
    make_adapter: Make,
    fake: FakeBinance,
    venue: Venue,
    fault: Fault,
    error: type[RateLimited],
    retry_after: float,
) -> None:
    ex = make_adapter()
    ex.load_market_rules(SYM)
    fake.inject(fault)
    with pytest.raises(RateLimited) as caught:
        limit_buy(ex, "mg2c1b")
    assert type(caught.value) is error and caught.value.retry_after == retry_after
    assert fake.count("POST", "order") == 1
    assert fake.count("GET", "order") == 0  # a definite refusal: nothing to look up
    assert venue.orders == {}


def test_the_local_bucket_refusal_of_a_create_is_not_placed(
    make_adapter: Make, fake: FakeBinance, venue: Venue
) -> None:
    clock = Clock()
    limiters = RateLimiterRegistry(clock=clock)
    ex = make_adapter(limiters=limiters)
    ex.load_market_rules(SYM)
    host = fake.base_url.split("://")[1]  # type: ignore[attr-defined]
    limiters.bucket(host, RateLimit(rate=1, capacity=1)).pause(60)
    with pytest.raises(RateLimited) as caught:
        limit_buy(ex, "mg2c2b")
    assert type(caught.value) is RateLimited and caught.value.retry_after == pytest.approx(60)
    assert fake.count("POST", "order") == 0 and venue.orders == {}


def test_a_418_without_retry_after_still_pauses_the_host(
    make_adapter: Make, fake: FakeBinance
) -> None:
    clock = Clock()
    limiters = RateLimiterRegistry(clock=clock)
    ex, other_tenant = make_adapter(limiters=limiters), make_adapter(limiters=limiters)
    ex.load_market_rules(SYM)
    fake.inject(Fault.http("GET", "ticker/24hr", 418, "<html>banned</html>"))
    with pytest.raises(RateLimited) as caught:
        ex.fetch_ticker(SYM)
    assert caught.value.retry_after == IP_BAN_PAUSE
    with pytest.raises(RateLimited):
        other_tenant.fetch_balances()  # held locally: the venue is not asked during the ban
    assert fake.count("GET", "account") == 0
    clock.now += IP_BAN_PAUSE
    assert other_tenant.fetch_balances()["USDT"].free == Decimal("10000")


def test_an_account_order_limit_holds_that_accounts_orders_only(
    make_adapter: Make, fake: FakeBinance
) -> None:
    clock = Clock()
    accounts = AccountGuardRegistry(clock=clock)
    limiters = RateLimiterRegistry(clock=clock)
    fake.add_key("bob-key-0123456789", "bob-secret-0123456789")
    alice = make_adapter(accounts=accounts, limiters=limiters)
    alice_engine_2 = make_adapter(accounts=accounts, limiters=limiters)  # same key
    bob = make_adapter(
        accounts=accounts,
        limiters=limiters,
        api_key=Secret("bob-key-0123456789"),
        secret=Secret("bob-secret-0123456789"),
    )
    alice.load_market_rules(SYM)
    fake.inject(Fault.http("POST", "order", 429, TOO_MANY_ORDERS, Retry_After="5"))
    with pytest.raises(OrderRateLimited):
        limit_buy(alice, "mg3c1b")
    for ex in (alice, alice_engine_2):
        with pytest.raises(OrderRateLimited) as caught:
            limit_buy(ex, "mg3c2b")  # held without sending
        assert caught.value.retry_after == pytest.approx(5)
    assert fake.count("POST", "order") == 1
    assert alice.fetch_balances()["USDT"].free == Decimal("10000")  # reads carry on
    assert limit_buy(bob, "mg4c1b").state is OrderState.OPEN  # another tenant: not held
    clock.now += 5
    assert limit_buy(alice, "mg3c3b").state is OrderState.OPEN


def test_generic_error_answers_on_reads_do_not_open_the_breaker(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter(retry=ReadRetryPolicy(max_attempts=1))  # threshold 3
    ex.load_market_rules(SYM)
    odd = {"code": -1199, "msg": "Some refusal ccxt has no class for."}
    fake.inject(*[Fault.http("GET", "ticker/24hr", 400, odd)] * 4)
    for _ in range(4):
        with pytest.raises(ExchangeUnavailable) as caught:
            ex.fetch_ticker(SYM)
        assert not isinstance(caught.value, CircuitOpen)
    assert ex.fetch_ticker(SYM).last == Decimal("30000")
    assert fake.count("GET", "ticker/24hr") == 5
