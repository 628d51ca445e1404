"""The translation table: every ccxt class binance really raises -> the domain error and policy.

Freqtrade-style: for each ccxt error, on a read and on a write, the mapped domain class.
"""

from __future__ import annotations

import ccxt
import pytest

from domain import errors as de
from exchange.ccxt_adapter.errors import (
    AUTH_CODES,
    IP_BAN_PAUSE,
    IP_RATE_PAUSE,
    counts_as_outage,
    is_auth_refusal,
    parse_retry_after,
    redact,
    translate,
)

U = de.OrderOutcomeUnknown
CASES = [
    (
        ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'),
        de.DuplicateOrder,
        de.DuplicateOrder,
    ),
    (ccxt.DuplicateOrderId("dup"), de.DuplicateOrder, de.DuplicateOrder),
    (
        ccxt.BadRequest('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}'),
        de.MarketFilterRejected,
        de.MarketFilterRejected,
    ),
    (
        ccxt.BadRequest('binance {"code":-1111,"msg":"Precision is over the maximum defined"}'),
        de.MarketFilterRejected,
        de.MarketFilterRejected,
    ),
    (
        ccxt.InvalidOrder("binance order amount should be evenly divisible by lot size LOT_SIZE"),
        de.InvalidOrder,
        de.InvalidOrder,
    ),
    (
        ccxt.InsufficientFunds("binance Account has insufficient balance"),
        de.InsufficientFunds,
        de.InsufficientFunds,
    ),
    (
        ccxt.OrderNotFound('binance {"code":-2013,"msg":"Order does not exist."}'),
        de.OrderNotFound,
        de.OrderNotFound,
    ),
    (ccxt.BadSymbol("binance does not have market symbol X/Y"), de.UnknownSymbol, de.UnknownSymbol),
    (ccxt.AuthenticationError('{"code":-2015}'), de.AuthenticationFailed, de.AuthenticationFailed),
    (
        ccxt.PermissionDenied("no trading permission"),
        de.AuthenticationFailed,
        de.AuthenticationFailed,
    ),
    (ccxt.AccountSuspended("suspended"), de.AuthenticationFailed, de.AuthenticationFailed),
    (ccxt.DDoSProtection("binance 418 I'm a teapot"), de.RateLimited, de.RateLimited),
    (ccxt.RateLimitExceeded('{"code":-1003}'), de.RateLimited, de.RateLimited),
    (
        ccxt.OnMaintenance("System is under maintenance."),
        de.ExchangeUnavailable,
        de.ExchangeUnavailable,
    ),
    (ccxt.InvalidNonce('{"code":-1021}'), de.ExchangeUnavailable, de.ExchangeUnavailable),
    (ccxt.RequestTimeout("binance POST /api/v3/order"), de.NetworkError, U),
    (ccxt.NetworkError("connection reset"), de.NetworkError, U),
    (ccxt.ExchangeNotAvailable("binance 503 Service Unavailable"), de.ExchangeUnavailable, U),
    (
        ccxt.OperationFailed('{"code":-1000,"msg":"An unknown error occurred"}'),
        de.ExchangeUnavailable,
        U,
    ),
    (ccxt.BadResponse("garbled"), de.ExchangeUnavailable, U),
    (ccxt.NotSupported("no fetchMyTrades"), de.ConfigurationError, de.ConfigurationError),
    (ccxt.ExchangeError("something else"), de.ExchangeUnavailable, de.InvalidOrder),
    (KeyError("price"), de.ExchangeUnavailable, U),
]


@pytest.mark.parametrize(
    ("exc", "on_read", "on_write"),
    CASES,
    ids=[type(c[0]).__name__ + str(i) for i, c in enumerate(CASES)],
)
def test_each_ccxt_error_maps_to_its_domain_error(
    exc: BaseException, on_read: type, on_write: type
) -> None:
    read = translate(exc, operation="fetch_order", write=False, exchange_id="binance")
    write = translate(
        exc, operation="create_order", write=True, exchange_id="binance", client_order_id="mg1c1b"
    )
    assert type(read) is on_read
    assert type(write) is on_write
    if isinstance(write, de.OrderOutcomeUnknown):
        assert write.client_order_id == "mg1c1b" and "do not resend" in str(write)


def test_rate_limited_carries_retry_after() -> None:
    err = translate(
        ccxt.DDoSProtection("429"), operation="x", write=False, exchange_id="b", retry_after=7.0
    )
    assert isinstance(err, de.RateLimited) and err.retry_after == 7.0
    assert err.policy is de.Policy.RETRY


def test_messages_never_carry_signatures_or_credentials() -> None:
    exc = ccxt.AuthenticationError(
        "binance GET http://h/api/v3/account?timestamp=1&signature=deadbeef00 key=SUPERSECRETKEY"
    )
    err = translate(
        exc,
        operation="fetch_balances",
        write=False,
        exchange_id="binance",
        secrets=["SUPERSECRETKEY"],
    )
    assert "deadbeef00" not in str(err) and "SUPERSECRETKEY" not in str(err)
    assert "signature=***" in str(err)
    assert len(redact("x" * 5000)) < 400


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({}, None),
        (None, None),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after_header(headers: dict[str, str] | None, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


BINANCE_REVOKED = 'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'
AUTH_REFUSALS = [
    ("binance", ccxt.DDoSProtection(BINANCE_REVOKED)),  # ccxt's "temporary ban" reading
    ("binance", ccxt.DDoSProtection("binance 418 I'm a teapot " + BINANCE_REVOKED[8:])),
    ("binance", ccxt.ExchangeError('binance {"code":-2008,"msg":"Invalid Api-Key ID."}')),
    ("binance", ccxt.BadRequest('binance {"code":-1022,"msg":"Signature ... not valid."}')),
    ("binance", ccxt.ExchangeError('binance {"code": -2014, "msg": "API-key format invalid."}')),
    ("binanceus", ccxt.RateLimitExceeded('binanceus {"code":-2015,"msg":"x"}')),
    ("okx", ccxt.ExchangeError('okx {"code":"50111","msg":"Invalid OK-ACCESS-KEY","data":[]}')),
    ("bybit", ccxt.BadRequest('bybit {"retCode":10003,"retMsg":"API key is invalid."}')),
    ("kucoin", ccxt.ExchangeError('kucoin {"code":"400003","msg":"KC-API-KEY not exists"}')),
    ("somevenue", ccxt.ExchangeError("somevenue: Invalid signature")),
]


@pytest.mark.parametrize(("exchange_id", "exc"), AUTH_REFUSALS)
def test_key_refusals_are_fatal_whatever_the_ccxt_class(
    exchange_id: str, exc: BaseException
) -> None:
    for write in (False, True):
        err = translate(exc, operation="create_order", write=write, exchange_id=exchange_id)
        assert type(err) is de.AuthenticationFailed
        assert err.policy is de.Policy.FATAL and "replace it" in str(err)


@pytest.mark.parametrize(
    ("exchange_id", "exc"),
    [
        ("binance", ccxt.DDoSProtection('binance 429 {"code":-1003,"msg":"Too much weight"}')),
        ("binance", ccxt.ExchangeError('binance {"code":-20150,"msg":"other"}')),
        ("binance", ccxt.ExchangeError('binance {"code":"50111","msg":"okx code, not ours"}')),
        ("okx", ccxt.ExchangeError('okx {"code":"-2015","msg":"binance code, not okx"}')),
        ("binance", KeyError("-2015")),
    ],
)
def test_codes_are_read_per_venue_and_exactly(exchange_id: str, exc: BaseException) -> None:
    assert not is_auth_refusal(exc, exchange_id)


def _ccxt_classes_for(code: str, table: object) -> list[type]:
    """Every class ccxt's exception map (any market type, exact match) gives `code`."""
    found: list[type] = []
    if isinstance(table, dict):
        for key, value in table.items():
            if key == code and isinstance(value, type):
                found.append(value)
            else:
                found.extend(_ccxt_classes_for(code, value))
    return found


@pytest.mark.parametrize("family", sorted(AUTH_CODES))
def test_every_auth_code_is_one_ccxt_itself_calls_an_authentication_error(family: str) -> None:
    client = getattr(ccxt, family)()
    for code in sorted(AUTH_CODES[family]):
        classes = _ccxt_classes_for(code, client.exceptions)
        assert classes and any(issubclass(c, ccxt.AuthenticationError) for c in classes), code


MANY_ORDERS = (
    'binance {"code":-1015,"msg":"Too many new orders; current limit is %s orders per %s."}'
)


@pytest.mark.parametrize(
    ("exc", "status", "header", "kind", "pause"),
    [
        (ccxt.DDoSProtection("binance 418 I'm a teapot <html>"), 418, None, de.RateLimited, 120),
        (ccxt.DDoSProtection("binance 418 I'm a teapot"), 418, 900.0, de.RateLimited, 900),
        (ccxt.RateLimitExceeded('binance {"code":-1003}'), 400, None, de.RateLimited, 10),
        (
            ccxt.DDoSProtection("binance 429 " + MANY_ORDERS % (50, "10 SECOND")),
            429,
            None,
            de.OrderRateLimited,
            10,
        ),
        (
            ccxt.RateLimitExceeded(MANY_ORDERS % (160000, "1 DAY")),
            400,
            None,
            de.OrderRateLimited,
            60,
        ),
        (ccxt.InvalidOrder(MANY_ORDERS % (50, "10 SECOND")), 400, 3.0, de.OrderRateLimited, 3),
        (ccxt.ExchangeError("weird venue answer"), 429, None, de.RateLimited, 10),
    ],
)
def test_rate_limits_say_whose_limit_and_how_long(
    exc: BaseException, status: int, header: float | None, kind: type, pause: float
) -> None:
    for write in (False, True):
        err = translate(
            exc,
            operation="create_order",
            write=write,
            exchange_id="binance",
            retry_after=header,
            status=status,
        )
        assert type(err) is kind and err.retry_after == pause  # type: ignore[attr-defined]
    assert (IP_BAN_PAUSE, IP_RATE_PAUSE) == (120, 10)


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (ccxt.RequestTimeout("binance GET"), True),
        (ccxt.NetworkError("connection refused"), True),
        (ccxt.ExchangeNotAvailable("binance 503"), True),
        (ccxt.OnMaintenance("maintenance"), True),
        (ccxt.OperationFailed('{"code":-1000}'), True),
        (ccxt.BadResponse("<html>proxy error</html>"), True),
        (ccxt.ExchangeError('{"code":-1199,"msg":"odd"}'), False),
        (ccxt.BadRequest("bad"), False),
        (ccxt.AuthenticationError("no"), False),
        (ccxt.DDoSProtection("429"), False),
        (ccxt.RateLimitExceeded("-1003"), False),
        (ccxt.InvalidNonce("-1021"), False),
        (KeyError("lastPrice"), False),
    ],
)
def test_only_evidence_of_a_down_venue_counts_for_its_breaker(
    exc: BaseException, outage: bool
) -> None:
    assert counts_as_outage(exc) is outage
