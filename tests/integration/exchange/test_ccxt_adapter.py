"""The ccxt adapter through the real `ccxt.binance` client against the fake binance server.

Each scenario asserts the domain outcome *and* what the venue saw: how many requests (so retries
and the absence of blind resends are counted) and the exact wire values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest

from domain.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    UnknownSymbol,
)
from domain.orders import OrderState, OrderType, Side
from domain.secrets import Secret
from exchange.ccxt_adapter import CcxtExchange
from exchange.port import Exchange
from exchange.resilience.circuit import CircuitOpen
from exchange.resilience.rate_limit import RateLimit, RateLimiterRegistry
from exchange.resilience.retry import ReadRetryPolicy
from tests.integration.exchange.conftest import API_KEY, API_SECRET, STALL_S, SleepLog
from tests.integration.exchange.fake_binance import FakeBinance, Fault
from tests.integration.exchange.fake_binance_venue import Venue

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"


def limit_buy(ex: CcxtExchange, coid: str, amount: str = "0.001", price: str = "29000.5"):
    return ex.create_order(
        client_order_id=coid,
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(amount),
        price=Decimal(price),
    )


def test_adapter_implements_the_port(make_adapter: Make) -> None:
    assert isinstance(make_adapter(), Exchange)


def test_market_rules_come_from_the_raw_filters_and_load_once(
    make_adapter: Make, fake: FakeBinance
) -> None:
    first, second = make_adapter(), make_adapter()
    rules = first.load_market_rules(SYM)
    assert (rules.tick_size, rules.step_size) == (Decimal("0.01"), Decimal("0.00001"))
    assert (rules.min_amount, rules.max_amount) == (Decimal("0.00001"), Decimal("9000"))
    assert rules.min_notional == Decimal("5")
    assert second.load_market_rules("ETH/BTC").tick_size == Decimal("0.00001")
    assert fake.count("GET", "exchangeInfo") == 1
    with pytest.raises(UnknownSymbol):
        first.load_market_rules("DOGE/EUR")
    assert fake.count("GET", "exchangeInfo") == 1


def test_ticker_and_balances_are_exact_decimals(make_adapter: Make) -> None:
    ex = make_adapter()
    ticker = ex.fetch_ticker(SYM)
    assert ticker.last == Decimal("30000") and ticker.bid == Decimal("29999.99")
    balances = ex.fetch_balances()
    assert balances["USDT"].free == Decimal("10000") and balances["BTC"].total == Decimal("1")


def test_limit_order_round_trip_sends_strings_and_reads_back_by_either_id(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    placed = limit_buy(ex, "mg1c1b")
    assert placed.state is OrderState.OPEN and placed.client_order_id == "mg1c1b"
    assert (placed.amount, placed.price) == (Decimal("0.001"), Decimal("29000.5"))
    _, _, sent = next(r for r in fake.seen if r[:2] == ("POST", "order"))
    assert (sent["quantity"], sent["price"], sent["newClientOrderId"]) == (
        "0.001",
        "29000.5",
        "mg1c1b",
    )
    assert ex.fetch_balances()["USDT"].used == Decimal("29.0005")
    by_coid = ex.fetch_order(SYM, client_order_id="mg1c1b")
    by_id = ex.fetch_order(SYM, exchange_order_id=placed.exchange_order_id)
    assert by_coid == by_id == placed
    assert [o.client_order_id for o in ex.fetch_open_orders(SYM)] == ["mg1c1b"]
    assert [o.client_order_id for o in ex.fetch_open_orders()] == ["mg1c1b"]
    canceled = ex.cancel_order(SYM, client_order_id="mg1c1b")
    assert canceled.state is OrderState.CANCELED
    assert canceled.client_order_id == "mg1c1b"  # not binance's cancel request id
    assert ex.fetch_balances()["USDT"].free == Decimal("10000")
    with pytest.raises(OrderNotFound):  # no longer open: binance's "Unknown order sent."
        ex.cancel_order(SYM, exchange_order_id=placed.exchange_order_id)
    with pytest.raises(OrderNotFound):
        ex.cancel_order(SYM, client_order_id="mg1c99b")


def test_market_order_and_fills_after_a_price_move(make_adapter: Make, venue: Venue) -> None:
    ex = make_adapter()
    bought = ex.create_order(
        client_order_id="mg2c1b",
        symbol=SYM,
        side=Side.BUY,
        type=OrderType.MARKET,
        amount=Decimal("0.002"),
    )
    assert bought.state is OrderState.FILLED and bought.cost == Decimal("60")
    assert bought.price is None and bought.average_price == Decimal("30000")
    resting = limit_buy(ex, "mg2c1s1", amount="0.003", price="27000")
    [first_fill] = ex.fetch_fills(SYM)
    assert venue.set_price("BTCUSDT", Decimal("26999.99")) == 1
    assert ex.fetch_order(SYM, client_order_id="mg2c1s1").state is OrderState.FILLED
    fills = ex.fetch_fills(SYM)
    assert [f.client_order_id for f in fills] == ["mg2c1b", "mg2c1s1"]
    second = fills[1]
    assert (second.price, second.amount) == (Decimal("27000"), Decimal("0.003"))
    assert (second.fee, second.fee_currency) == (Decimal("0.000003"), "BTC")
    assert second.exchange_order_id == resting.exchange_order_id
    assert first_fill.timestamp is not None
    since = ex.fetch_fills(SYM, since=second.timestamp)
    assert [f.trade_id for f in since] == [second.trade_id]


def test_fills_of_orders_this_process_never_saw_learn_their_client_id(
    make_adapter: Make, fake: FakeBinance
) -> None:
    limit_buy(make_adapter(), "mg3c1b", price="30000")  # crosses: fills at once
    fresh = make_adapter()
    fake.reset_log()
    assert [f.client_order_id for f in fresh.fetch_fills(SYM)] == ["mg3c1b"]
    assert fake.count("GET", "order") == 1


@pytest.mark.parametrize(
    ("amount", "price", "error", "message"),
    [
        ("0.0001", "29000", InvalidOrder, "NOTIONAL"),
        ("9001", "29000", InvalidOrder, "LOT_SIZE"),
        ("1", "29000", InsufficientFunds, "insufficient balance"),
    ],
)
def test_order_rejections_map_to_order_errors(
    make_adapter: Make, fake: FakeBinance, amount: str, price: str, error: type, message: str
) -> None:
    ex = make_adapter()
    with pytest.raises(error, match=message):
        limit_buy(ex, "mg4c1b", amount=amount, price=price)
    assert fake.count("POST", "order") == 1
    assert fake.count("GET", "order") == 0  # a definite rejection needs no lookup


def test_price_filter_answer_maps_to_invalid_order(make_adapter: Make, fake: FakeBinance) -> None:
    fake.inject(
        Fault.http("POST", "order", 400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    )
    with pytest.raises(InvalidOrder, match="PRICE_FILTER"):
        limit_buy(make_adapter(), "mg4c2b")
    assert fake.count("POST", "order") == 1 and fake.count("GET", "order") == 0


@pytest.mark.parametrize(("amount", "price"), [("0.000015", "29000"), ("0.001", "29000.005")])
def test_off_precision_values_are_refused_before_ccxt_can_truncate_them(
    make_adapter: Make, fake: FakeBinance, amount: str, price: str
) -> None:
    with pytest.raises(InvalidOrder, match="not a multiple"):
        limit_buy(make_adapter(), "mg4c3b", amount=amount, price=price)
    assert fake.count("POST", "order") == 0


def test_duplicate_client_order_id_is_a_duplicate_order(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    limit_buy(ex, "mg5c1b")
    with pytest.raises(DuplicateOrder):
        limit_buy(ex, "mg5c1b")
    assert fake.count("POST", "order") == 2


def test_order_not_found_is_not_retried(make_adapter: Make, fake: FakeBinance) -> None:
    with pytest.raises(OrderNotFound):
        make_adapter().fetch_order(SYM, client_order_id="mg6c1b")
    assert fake.count("GET", "order") == 1


@pytest.mark.parametrize(("key", "secret"), [("wrong-key-123", API_SECRET), (API_KEY, "bad-sec")])
def test_refused_credentials_are_fatal_and_never_echoed(
    make_adapter: Make, fake: FakeBinance, key: str, secret: str
) -> None:
    ex = make_adapter(api_key=Secret(key), secret=Secret(secret))
    with pytest.raises(AuthenticationFailed) as caught:
        ex.fetch_balances()
    assert fake.count("GET", "account") == 1
    text = str(caught.value) + repr(ex)
    assert (
        key not in text
        and secret not in text
        and "signature=" not in text.replace("signature=***", "")
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_5xx_on_a_read_is_retried_with_backoff(
    make_adapter: Make, fake: FakeBinance, sleep_log: SleepLog
) -> None:
    fake.inject(Fault.http("GET", "ticker/24hr", 500, {"code": -1000, "msg": "unknown error"}))
    assert make_adapter().fetch_ticker(SYM).last == Decimal("30000")
    assert fake.count("GET", "ticker/24hr") == 2
    assert len(sleep_log.slept) == 1 and 0 <= sleep_log.slept[0] <= 0.25


def test_persistent_outage_gives_up_after_the_attempt_limit(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    ex.load_market_rules(SYM)
    fake.inject(*[Fault.http("GET", "ticker/24hr", 502, "<html>Bad Gateway</html>")] * 3)
    with pytest.raises(ExchangeUnavailable):
        ex.fetch_ticker(SYM)
    assert fake.count("GET", "ticker/24hr") == 3


def test_429_retry_after_is_honoured(
    make_adapter: Make, fake: FakeBinance, sleep_log: SleepLog
) -> None:
    fake.inject(
        Fault.http("GET", "ticker/24hr", 429, {"code": -1003, "msg": "Too much"}, Retry_After="2")
    )
    assert make_adapter().fetch_ticker(SYM).last == Decimal("30000")
    assert fake.count("GET", "ticker/24hr") == 2
    assert sleep_log.slept[0] >= 2.0


def test_418_ban_longer_than_the_budget_fails_at_once_and_pauses_the_host(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex, other_user = make_adapter(), make_adapter()
    ex.load_market_rules(SYM)
    fake.inject(
        Fault.http("GET", "ticker/24hr", 418, {"code": -1003, "msg": "banned"}, Retry_After="120")
    )
    with pytest.raises(RateLimited) as caught:
        ex.fetch_ticker(SYM)
    assert caught.value.retry_after == 120
    with pytest.raises(RateLimited):
        other_user.fetch_balances()  # same host: held locally, the venue is not asked
    assert fake.count("GET", "ticker/24hr") == 1 and fake.count("GET", "account") == 0


def test_read_timeout_is_retried(make_adapter: Make, fake: FakeBinance) -> None:
    fake.inject(Fault.timeout("GET", "ticker/24hr", STALL_S))
    assert make_adapter().fetch_ticker(SYM).last == Decimal("30000")
    assert fake.count("GET", "ticker/24hr") == 2


def test_create_applied_but_answer_lost_is_resolved_by_client_order_id(
    make_adapter: Make, fake: FakeBinance, venue: Venue
) -> None:
    ex = make_adapter()
    fake.inject(Fault.lost_response("POST", "order", STALL_S))
    order = limit_buy(ex, "mg7c1b")
    assert order.state is OrderState.OPEN and order.client_order_id == "mg7c1b"
    assert fake.count("POST", "order") == 1  # never resent
    assert fake.count("GET", "order") == 1
    assert len(venue.orders) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.timeout("POST", "order", STALL_S),
        Fault.http("POST", "order", 500, {"code": -1000, "msg": "An unknown error occurred"}),
        Fault.http("POST", "order", 503, "<html>Service Unavailable</html>"),
    ],
    ids=["timeout", "5xx-json", "503-html"],
)
def test_create_with_no_answer_and_no_order_stays_unknown(
    make_adapter: Make, fake: FakeBinance, venue: Venue, fault: Fault
) -> None:
    ex = make_adapter()
    fake.inject(fault)
    with pytest.raises(OrderOutcomeUnknown) as caught:
        limit_buy(ex, "mg8c1b")
    assert caught.value.client_order_id == "mg8c1b"
    assert fake.count("POST", "order") == 1
    assert fake.count("GET", "order") == 1
    assert venue.orders == {}


def test_create_rate_limited_is_a_definite_refusal(make_adapter: Make, fake: FakeBinance) -> None:
    fake.inject(Fault.http("POST", "order", 429, {"code": -1015, "msg": "Too many new orders"}))
    with pytest.raises(RateLimited):
        limit_buy(make_adapter(), "mg9c1b")
    assert fake.count("POST", "order") == 1 and fake.count("GET", "order") == 0


def test_cancel_applied_but_answer_lost_returns_the_canceled_order(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    limit_buy(ex, "mg10c1b")
    fake.inject(Fault.lost_response("DELETE", "order", STALL_S))
    assert ex.cancel_order(SYM, client_order_id="mg10c1b").state is OrderState.CANCELED
    assert fake.count("DELETE", "order") == 1


def test_cancel_lost_before_the_venue_keeps_the_outcome_unknown(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    limit_buy(ex, "mg11c1b")
    fake.inject(Fault.timeout("DELETE", "order", STALL_S))
    with pytest.raises(OrderOutcomeUnknown, match="still open"):
        ex.cancel_order(SYM, client_order_id="mg11c1b")
    assert fake.count("DELETE", "order") == 1


def test_circuit_opens_after_repeated_unavailability(make_adapter: Make, fake: FakeBinance) -> None:
    ex = make_adapter(retry=ReadRetryPolicy(max_attempts=1))
    ex.load_market_rules(SYM)
    fake.inject(*[Fault.http("GET", "ticker/24hr", 503, "<html>down</html>")] * 3)
    for _ in range(3):
        with pytest.raises(ExchangeUnavailable):
            ex.fetch_ticker(SYM)
    with pytest.raises(CircuitOpen):
        ex.fetch_ticker(SYM)
    with pytest.raises(CircuitOpen):
        make_adapter().fetch_balances()  # the breaker is per exchange, not per client
    assert fake.count("GET", "ticker/24hr") == 3 and fake.count("GET", "account") == 0


def test_business_errors_do_not_trip_the_circuit(make_adapter: Make, fake: FakeBinance) -> None:
    ex = make_adapter(retry=ReadRetryPolicy(max_attempts=1))
    for _ in range(5):
        with pytest.raises(OrderNotFound):
            ex.fetch_order(SYM, client_order_id="mg12c1b")
    assert ex.fetch_ticker(SYM).last == Decimal("30000")


def test_clients_of_one_host_share_one_weighted_bucket(
    make_adapter: Make, sleep_log: SleepLog
) -> None:
    frozen = RateLimiterRegistry(clock=lambda: 0.0)  # no refill: waits are exact
    limit = RateLimit(rate=10, capacity=20)
    alice = make_adapter(limiters=frozen, rate_limit=limit)
    bob = make_adapter(limiters=frozen, rate_limit=limit)
    alice.load_market_rules(SYM)  # weight 20: the whole burst
    alice.fetch_ticker(SYM)  # weight 2
    bob.fetch_ticker(SYM)
    assert sleep_log.slept == pytest.approx([0.2, 0.4])


def test_concurrent_first_callers_load_markets_once(make_adapter: Make, fake: FakeBinance) -> None:
    adapters = [make_adapter() for _ in range(8)]
    barrier = threading.Barrier(len(adapters))
    results: list[Decimal] = []

    def work(ex: CcxtExchange) -> None:
        barrier.wait()
        results.append(ex.load_market_rules(SYM).tick_size)

    threads = [threading.Thread(target=work, args=(ex,)) for ex in adapters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [Decimal("0.01")] * 8
    assert fake.count("GET", "exchangeInfo") == 1
