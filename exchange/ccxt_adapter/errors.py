"""The one place ccxt exceptions become `domain.errors` (Freqtrade's single-boundary habit).

The table is ordered most specific first and matched with isinstance, because ccxt's classes form
a tree (RequestTimeout < NetworkError < OperationFailed; OrderNotFound < InvalidOrder) and binance
reports some conditions only in the message: "Duplicate order sent." arrives as -2010 InvalidOrder.

Reads and writes differ only where the venue may have acted: a timeout, dropped connection, 5xx
or unparsable answer on a create or cancel is `OrderOutcomeUnknown` (resolve by client order id,
never resend), while on a read it is a retryable `NetworkError`/`ExchangeUnavailable`.

An authentication refusal is recognised by the venue's own code or message whatever class ccxt
gives it: binance's -2015 arrives as DDoSProtection once a key has worked (ccxt reads it as a
temporary ban), and a 418/429 is DDoSProtection before ccxt looks at the body at all. Retrying a
refused key only hammers the venue with requests it will refuse, so it is always fatal here.

A rate-limit refusal (HTTP 429/418, binance -1003/-1015, whatever class ccxt gives it) was
refused at the venue's gate: it is `RateLimited`, never an unknown outcome, even on a create, and
it always carries `retry_after`. binance -1015 is the account's own order limit
(`OrderRateLimited`: hold that key's orders); the others are the IP's (hold the host).

Messages are rebuilt from the ccxt class name and a redacted excerpt of its text: request
signatures and the caller's credentials are cut out, and the ccxt exception is not chained
(``from None``) so its URL-bearing text does not travel up in tracebacks either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import ccxt

from domain import errors as de

_SIGNATURE_RE = re.compile(
    r"(signature|apiKey|api_key|X-MBX-APIKEY)=?[\"':= ]*[A-Za-z0-9%._~+/=-]+"
)
_MAX_DETAIL = 300
#: The venue's error code in a JSON answer body, as ccxt quotes it in its exception text.
_CODE_RE = re.compile(r'"(?:code|retCode|ret_code|sCode)"\s*:\s*"?(-?\d+)')

#: Codes that mean "this API key is refused" (bad, revoked, wrong signature or passphrase, IP not
#: whitelisted), per venue family (the ccxt id's prefix: binance covers binanceus too). Each code
#: is one that ccxt's own exception map for that venue sends to AuthenticationError or
#: PermissionDenied (a unit test checks that), so this only overrides the *class*, never guesses.
AUTH_CODES: dict[str, frozenset[str]] = {
    # -2014 API-key format invalid; -2015 Invalid API-key, IP, or permissions for action;
    # -1022 Signature for this request is not valid; -2008 Invalid Api-Key ID.
    "binance": frozenset({"-2014", "-2015", "-1022", "-2008"}),
    # 50103-50107 OK-ACCESS-* header missing / passphrase incorrect; 50110 IP not whitelisted;
    # 50111 invalid OK-ACCESS-KEY; 50113 invalid signature; 50114 invalid authorization.
    "okx": frozenset(
        {"50103", "50104", "50105", "50106", "50107", "50110", "50111", "50113", "50114"}
    ),
    # 10003 invalid api key; 10004 invalid sign; 10005 permission denied for this key;
    # 10007 api key missing; 10010 request IP mismatch; 33004 api key expired.
    "bybit": frozenset({"10003", "10004", "10005", "10007", "10010", "33004"}),
    # 400001 auth headers missing; 400003 KC-API-KEY not exists; 400004 passphrase error;
    # 400005 signature error; 400006 IP not whitelisted; 400007 key lacks the permission.
    "kucoin": frozenset({"400001", "400003", "400004", "400005", "400006", "400007"}),
}
#: Venue-neutral phrases of a key refusal (lower case), for venues without a code table.
AUTH_PHRASES: tuple[str, ...] = (
    "invalid api-key",
    "api-key format invalid",
    "invalid signature",
    "signature for this request is not valid",
)


#: Refusals by a market filter, whose rules may have changed since we read them: binance -1013
#: "Filter failure: PRICE_FILTER / LOT_SIZE / MIN_NOTIONAL / NOTIONAL" and -1111 "Precision is
#: over the maximum defined for this asset."
FILTER_CODES: dict[str, frozenset[str]] = {"binance": frozenset({"-1013", "-1111"})}
_FILTER_NAMES = ("PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL", "NOTIONAL")

#: Rate limits that belong to one account (API key), not to the IP: binance's order-count limits
#: (-1015 "Too many new orders; current limit is %s orders per %s."). Everything else a venue
#: rate-limits with (HTTP 429/418, binance -1003 request weight) is counted per IP.
ACCOUNT_RATE_CODES: dict[str, frozenset[str]] = {"binance": frozenset({"-1015"})}
_ACCOUNT_RATE_PHRASE = "too many new orders"
_WINDOW_RE = re.compile(r"per\s+(\d+)\s+(SECOND|MINUTE|HOUR|DAY)", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

#: Pauses when the venue gives no Retry-After. binance's 418 is an automatic IP ban "from 2
#: minutes to 3 days" for ignoring 429s: wait at least its minimum, since every request sent
#: during a ban lengthens it. A 429 (or -1003) without a Retry-After is a request-weight window
#: that resets within a minute; 10 s lets most of it refill without stalling every tenant long.
#: An account order limit is held for its window (parsed from -1015's text) up to a minute:
#: the 10 s window is the common one, and a daily window is then probed once a minute.
IP_BAN_PAUSE = 120.0
IP_RATE_PAUSE = 10.0
ACCOUNT_RATE_PAUSE = 10.0
ACCOUNT_RATE_MAX_PAUSE = 60.0


@dataclass(frozen=True, slots=True)
class Rule:
    ccxt_class: type[BaseException]
    message: str | None  # substring of the venue's message, or None for any
    on_read: type[de.MartingaleError]
    on_write: type[de.MartingaleError]


_UNKNOWN = de.OrderOutcomeUnknown
_RULES: tuple[Rule, ...] = (
    Rule(ccxt.DuplicateOrderId, None, de.DuplicateOrder, de.DuplicateOrder),
    Rule(ccxt.ExchangeError, "Duplicate order sent", de.DuplicateOrder, de.DuplicateOrder),
    Rule(ccxt.OrderNotFound, None, de.OrderNotFound, de.OrderNotFound),
    Rule(ccxt.InsufficientFunds, None, de.InsufficientFunds, de.InsufficientFunds),
    Rule(ccxt.BadSymbol, None, de.UnknownSymbol, de.UnknownSymbol),
    Rule(ccxt.AuthenticationError, None, de.AuthenticationFailed, de.AuthenticationFailed),
    Rule(ccxt.InvalidOrder, None, de.InvalidOrder, de.InvalidOrder),
    Rule(ccxt.BadRequest, None, de.InvalidOrder, de.InvalidOrder),
    Rule(ccxt.OperationRejected, None, de.InvalidOrder, de.InvalidOrder),
    Rule(ccxt.NotSupported, None, de.ConfigurationError, de.ConfigurationError),
    Rule(ccxt.ArgumentsRequired, None, de.ConfigurationError, de.ConfigurationError),
    # Rejected at the gate before the matching engine saw it: definitely not placed.
    Rule(ccxt.DDoSProtection, None, de.RateLimited, de.RateLimited),
    Rule(ccxt.RateLimitExceeded, None, de.RateLimited, de.RateLimited),
    Rule(ccxt.OnMaintenance, None, de.ExchangeUnavailable, de.ExchangeUnavailable),
    Rule(ccxt.InvalidNonce, None, de.ExchangeUnavailable, de.ExchangeUnavailable),
    # The venue may or may not have acted.
    Rule(ccxt.RequestTimeout, None, de.NetworkError, _UNKNOWN),
    Rule(ccxt.ExchangeNotAvailable, None, de.ExchangeUnavailable, _UNKNOWN),
    Rule(ccxt.NetworkError, None, de.NetworkError, _UNKNOWN),
    Rule(ccxt.OperationFailed, None, de.ExchangeUnavailable, _UNKNOWN),
    # A definite error answer we have no finer rule for: the order was refused.
    Rule(ccxt.ExchangeError, None, de.ExchangeUnavailable, de.InvalidOrder),
    Rule(ccxt.BaseError, None, de.ExchangeUnavailable, _UNKNOWN),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Cut signatures and the given secret values out of `text` and bound its length."""
    out = _SIGNATURE_RE.sub(r"\1=***", text)
    for value in secrets:
        if value and len(value) >= 4:
            out = out.replace(value, "***")
    if len(out) > _MAX_DETAIL:
        out = out[:_MAX_DETAIL] + "..."
    return out


def venue_codes(text: str) -> list[str]:
    """The error codes quoted in a ccxt exception's text (the venue's JSON body)."""
    return _CODE_RE.findall(text)


def _family(exchange_id: str, table: dict[str, frozenset[str]]) -> frozenset[str]:
    for family, codes in table.items():
        if exchange_id.startswith(family):
            return codes
    return frozenset()


def is_auth_refusal(exc: BaseException, exchange_id: str) -> bool:
    """The venue refused the key itself, whatever ccxt class carries the answer."""
    if isinstance(exc, ccxt.AuthenticationError):
        return True
    if not isinstance(exc, ccxt.BaseError):
        return False
    text = str(exc)
    if _family(exchange_id, AUTH_CODES).intersection(venue_codes(text)):
        return True
    lowered = text.lower()
    return any(phrase in lowered for phrase in AUTH_PHRASES)


def is_account_rate_limit(exc: BaseException, exchange_id: str) -> bool:
    if not isinstance(exc, ccxt.BaseError):
        return False
    text = str(exc)
    if _family(exchange_id, ACCOUNT_RATE_CODES).intersection(venue_codes(text)):
        return True
    return _ACCOUNT_RATE_PHRASE in text.lower()


def is_filter_refusal(exc: BaseException, exchange_id: str) -> bool:
    if not isinstance(exc, ccxt.BaseError):
        return False
    text = str(exc)
    if _family(exchange_id, FILTER_CODES).intersection(venue_codes(text)):
        return True
    return "Filter failure" in text and any(name in text for name in _FILTER_NAMES)


def is_rate_limit(exc: BaseException, status: int | None) -> bool:
    """The venue refused the request at its gate for pacing: it was definitely not acted on."""
    return isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded) or status in (418, 429)


def rate_limit_pause(
    exc: BaseException, *, exchange_id: str, status: int | None, retry_after: float | None
) -> float:
    """How long to hold: the venue's Retry-After when it gave one, else the defaults above."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    if is_account_rate_limit(exc, exchange_id):
        window = _WINDOW_RE.search(str(exc))
        if window is None:
            return ACCOUNT_RATE_PAUSE
        seconds = int(window.group(1)) * _UNIT_SECONDS[window.group(2).lower()]
        return float(min(max(seconds, 1), ACCOUNT_RATE_MAX_PAUSE))
    return IP_BAN_PAUSE if status == 418 else IP_RATE_PAUSE


def counts_as_outage(exc: BaseException) -> bool:
    """Whether a failure is evidence that the venue is down, for its circuit breaker: no answer
    (timeouts, dropped connections), 5xx / ExchangeNotAvailable, maintenance, or a server-side
    failure (-1000 unknown error, garbled answer). Any real answer, even a refusal or a rate
    limit, proves the venue is up; a request timestamp refused is our clock, not the venue."""
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded | ccxt.InvalidNonce):
        return False
    return isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed)


def rule_for(exc: BaseException) -> Rule | None:
    text = str(exc)
    for rule in _RULES:
        if isinstance(exc, rule.ccxt_class) and (rule.message is None or rule.message in text):
            return rule
    return None


def translate(
    exc: BaseException,
    *,
    operation: str,
    write: bool,
    exchange_id: str,
    secrets: Iterable[str] = (),
    client_order_id: str | None = None,
    retry_after: float | None = None,
    status: int | None = None,
) -> de.MartingaleError:
    """Map a ccxt (or transport) exception raised during `operation` to a domain error.

    `status` is the HTTP status of the answer, when one came. A rate-limit refusal is
    `RateLimited` (never an unknown outcome: the venue's gate refused it before acting) with
    `retry_after` always set, and `OrderRateLimited` when the limit is the account's own."""
    rule = rule_for(exc)
    target: type[de.MartingaleError]
    if is_auth_refusal(exc, exchange_id):
        target = de.AuthenticationFailed
    elif is_rate_limit(exc, status) or is_account_rate_limit(exc, exchange_id):
        target = de.RateLimited
    elif rule is None:  # not a ccxt error at all: a bug in parsing, or the venue sent garbage
        target = _UNKNOWN if write else de.ExchangeUnavailable
    else:
        target = rule.on_write if write else rule.on_read
    detail = redact(str(exc), secrets)
    message = f"{exchange_id} {operation}: {type(exc).__name__}: {detail}"
    if isinstance(exc, ccxt.InvalidNonce):
        message += " (request timestamp rejected: check the host clock)"
    if rule is None and target is de.ExchangeUnavailable:
        message += " (the venue's answer could not be read)"
    if target is de.AuthenticationFailed:
        message += (
            " (the exchange refused the API key: check that it is valid, not revoked, allowed "
            "to trade spot and whitelists this IP, then replace it)"
        )
    if target is de.RateLimited:
        pause = rate_limit_pause(
            exc, exchange_id=exchange_id, status=status, retry_after=retry_after
        )
        if is_account_rate_limit(exc, exchange_id):
            return de.OrderRateLimited(
                message + f" (this account's order limit: new orders wait {pause:g}s)",
                retry_after=pause,
            )
        return de.RateLimited(message, retry_after=pause)
    if target is de.OrderOutcomeUnknown:
        return de.OrderOutcomeUnknown(
            message + " (outcome unknown: look the order up, do not resend)",
            client_order_id=client_order_id,
        )
    if target is de.ConfigurationError:
        return de.ConfigurationError(message, field="exchange")
    if target is de.InvalidOrder and is_filter_refusal(exc, exchange_id):
        return de.MarketFilterRejected(
            message + " (the venue's market rules may have changed: re-read them and re-size)"
        )
    return target(message)


def parse_retry_after(headers: object) -> float | None:
    """Seconds from a Retry-After header (binance sends seconds; HTTP dates are not used)."""
    if not headers:
        return None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
