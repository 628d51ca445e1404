"""Market rules that change while the service runs, through the real ccxt.binance client.

The fake venue changes BTC/USDT's lot step from 0.00001 to 0.001 at runtime; the adapter must
notice on its TTL, after a filter refusal, and when asked for fresh rules, without hammering
exchangeInfo. The cache's clock is moved by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from domain.errors import MarketFilterRejected
from domain.orders import OrderState, OrderType, Side
from exchange.ccxt_adapter import CcxtExchange
from exchange.ccxt_adapter.markets import MarketCache
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import Venue

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"
OLD_STEP, NEW_STEP = Decimal("0.00001"), Decimal("0.001")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> MarketCache:
    return MarketCache(clock=clock)


def buy(ex: CcxtExchange, coid: str, amount: str) -> object:
    return ex.create_order(
        client_order_id=coid,
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(amount),
        price=Decimal("29000"),
    )


def test_rules_are_reloaded_after_an_hour(
    make_adapter: Make, fake: FakeBinance, venue: Venue, clock: Clock, cache: MarketCache
) -> None:
    ex = make_adapter(markets=cache)
    assert ex.load_market_rules(SYM).step_size == OLD_STEP
    venue.set_filters("BTCUSDT", step=NEW_STEP, min_qty=NEW_STEP)
    clock.now = 3599
    assert ex.load_market_rules(SYM).step_size == OLD_STEP
    clock.now = 3600
    assert ex.load_market_rules(SYM).step_size == NEW_STEP
    assert fake.count("GET", "exchangeInfo") == 2


def test_a_filter_refusal_makes_every_client_read_the_new_rules(
    make_adapter: Make, fake: FakeBinance, venue: Venue, clock: Clock, cache: MarketCache
) -> None:
    ex, other_tenant = make_adapter(markets=cache), make_adapter(markets=cache)
    assert ex.load_market_rules(SYM).step_size == OLD_STEP
    assert other_tenant.load_market_rules(SYM).step_size == OLD_STEP
    venue.set_filters("BTCUSDT", step=NEW_STEP, min_qty=NEW_STEP)
    clock.now = 60
    with pytest.raises(MarketFilterRejected, match="LOT_SIZE"):
        buy(ex, "mg1c1b", "0.00123")  # fine by the old rules, refused by the venue's
    assert ex.load_market_rules(SYM).step_size == NEW_STEP
    assert other_tenant.load_market_rules(SYM).step_size == NEW_STEP
    assert fake.count("GET", "exchangeInfo") == 2  # one reload serves every client
    fake.reset_log()
    # Refused locally by the current rules, as the venue's filter would refuse it: the caller,
    # whose rules may be older, re-reads them and places the order again under them.
    with pytest.raises(MarketFilterRejected, match=r"step size 0\.001"):
        buy(other_tenant, "mg2c1b", "0.00123")
    assert fake.count("POST", "order") == 0
    assert buy(other_tenant, "mg2c1b", "0.002").state is OrderState.OPEN  # type: ignore[attr-defined]


def test_a_burst_of_refusals_and_fresh_reads_costs_one_reload(
    make_adapter: Make, fake: FakeBinance, venue: Venue, clock: Clock, cache: MarketCache
) -> None:
    ex = make_adapter(markets=cache)
    ex.load_market_rules(SYM)
    venue.set_filters("BTCUSDT", step=NEW_STEP, min_qty=NEW_STEP)
    clock.now = 30
    with pytest.raises(MarketFilterRejected):
        buy(ex, "mg3c1b", "0.00123")
    for _ in range(5):  # every strategy that was refused re-reads before re-placing
        assert ex.load_market_rules(SYM, fresh=True).step_size == NEW_STEP
    assert fake.count("GET", "exchangeInfo") == 2
    venue.set_filters("BTCUSDT", min_notional=Decimal("10"))
    clock.now = 59
    assert ex.load_market_rules(SYM, fresh=True).min_notional == Decimal("5")
    clock.now = 60
    assert ex.load_market_rules(SYM, fresh=True).min_notional == Decimal("10")
    assert fake.count("GET", "exchangeInfo") == 3
