"""The paper venue's wire format: domain values and errors as JSON, for the venue served over
HTTP (`app.venue_server`) and its client (`exchange.paper.remote`).

One codec for every value type, driven by the dataclass fields (no hand-written pair per type):
Decimals travel as strings (`str(Decimal)` parses back to the very same Decimal, exponent and
trailing zeros included), datetimes as ISO-8601 in UTC, enums as their value. An error travels
as a stable code (the `ERRORS` table, never a class name that a rename would change), its
message, and the field a `ValidationError` names, so the client raises the same exception the
venue raised.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    MarketFilterRejected,
    MartingaleError,
    NetworkError,
    OrderError,
    OrderNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    ValidationError,
)
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order

T = TypeVar("T")

# Stable code -> (error class, HTTP status). Order matters: `error_code` takes the first class
# the error is an instance of, so subclasses come before their bases.
ERRORS: dict[str, tuple[type[MartingaleError], int]] = {
    "market_filter_rejected": (MarketFilterRejected, 400),
    "invalid_order": (InvalidOrder, 400),
    "insufficient_funds": (InsufficientFunds, 400),
    "order_not_found": (OrderNotFound, 404),
    "duplicate_order": (DuplicateOrder, 409),
    "unknown_symbol": (UnknownSymbol, 404),
    "order_error": (OrderError, 400),
    "authentication_failed": (AuthenticationFailed, 403),
    "validation_error": (ValidationError, 422),
    "configuration_error": (ConfigurationError, 422),
    "rate_limited": (RateLimited, 429),
    "order_outcome_unknown": (OrderOutcomeUnknown, 503),
    "network_error": (NetworkError, 503),
    "exchange_unavailable": (ExchangeUnavailable, 503),
}
# Not a domain error: a bug in the venue (500). What it did is unknown.
INTERNAL = "internal"
# The request's shared token is missing or wrong (401).
UNAUTHORIZED = "unauthorized"
# The request could not be read (400): a client of another version, or a bug.
BAD_REQUEST = "bad_request"

WIRE_TYPES = (MarketRules, Ticker, Balance, Order, Fill, Candle)


# --- values ------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A domain value (or a list / str-keyed dict of them) as JSON-ready data."""
    if value is None or isinstance(value, bool | int | float | str):  # float: never money
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return encode_time(value)
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"no wire form for {type(value).__name__}")


def decode(kind: type[T], data: Any) -> T:
    """`data` (from `encode`) as a `kind`; ValueError naming the field when it does not fit."""
    return _decode(kind, data, kind.__name__ if isinstance(kind, type) else "value")  # type: ignore[no-any-return]


def encode_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire: give it a time zone")
    return value.astimezone(UTC).isoformat()


def decode_time(text: Any, where: str = "timestamp") -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected an ISO-8601 time, got {type(text).__name__}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an ISO-8601 time") from None
    if value.tzinfo is None:
        raise ValueError(f"{where}: {text!r} has no time zone")
    return value.astimezone(UTC)


def decode_decimal(text: Any, where: str = "value") -> Decimal:
    if not isinstance(text, str):
        raise ValueError(f"{where}: money travels as a string, got {type(text).__name__}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{where}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return value


@cache
def _hints(kind: type) -> dict[str, Any]:
    return get_type_hints(kind)


def _decode(kind: Any, data: Any, where: str) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        if data is None:
            if len(options) < len(get_args(kind)):
                return None
            raise ValueError(f"{where}: must not be null")
        return _decode(options[0], data, where)
    if origin is list:
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list")
        (item,) = get_args(kind)
        return [_decode(item, value, f"{where}[{n}]") for n, value in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object")
        _, item = get_args(kind)
        return {str(k): _decode(item, v, f"{where}.{k}") for k, v in data.items()}
    if kind is Decimal:
        return decode_decimal(data, where)
    if kind is datetime:
        return decode_time(data, where)
    if kind is str:
        if not isinstance(data, str):
            raise ValueError(f"{where}: expected a string")
        return data
    if kind is bool or kind is int:
        if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
            raise ValueError(f"{where}: expected {kind.__name__}")
        return data
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(data)
        except ValueError:
            raise ValueError(f"{where}: {data!r} is not a {kind.__name__}") from None
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object")
        hints = _hints(kind)  # type: ignore[arg-type]
        values = {}
        for f in dataclasses.fields(kind):
            if f.name in data:
                values[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}.{f.name}: missing")
        return kind(**values)  # type: ignore[operator]
    raise TypeError(f"{where}: no wire form for {kind!r}")


# --- errors ------------------------------------------------------------------------------------


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for an error the venue raised. A domain error keeps its message
    (venue messages hold no secret); anything else is a bug, named by its type only."""
    for code, (cls, status) in ERRORS.items():
        if isinstance(exc, cls):
            error: dict[str, Any] = {"code": code, "message": _message(exc)}
            if isinstance(exc, ConfigurationError) and exc.field is not None:
                error["field"] = exc.field
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                error["retry_after"] = exc.retry_after
            if isinstance(exc, OrderOutcomeUnknown) and exc.client_order_id is not None:
                error["client_order_id"] = exc.client_order_id
            return status, {"error": error}
    message = f"the paper venue failed: {type(exc).__name__} (see the venue's log)"
    return 500, {"error": {"code": INTERNAL, "message": message}}


def error_from(body: Any) -> MartingaleError | None:
    """The domain error a response body carries, or None when it names no known code."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("code") not in ERRORS:
        return None
    cls = ERRORS[error["code"]][0]
    message = str(error.get("message", ""))
    if issubclass(cls, ConfigurationError):
        field = error.get("field")
        return cls(message, field=field if isinstance(field, str) else None)
    if issubclass(cls, RateLimited):
        after = error.get("retry_after")
        return cls(message, retry_after=float(after) if isinstance(after, int | float) else None)
    if issubclass(cls, OrderOutcomeUnknown):
        coid = error.get("client_order_id")
        return cls(message, client_order_id=coid if isinstance(coid, str) else None)
    return cls(message)


def error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _message(exc: BaseException) -> str:
    """The message as given: a ConfigurationError's str() is prefixed with its field, which
    travels apart and is put back by the constructor on the other side."""
    text = str(exc)
    if isinstance(exc, ConfigurationError) and exc.field and text.startswith(f"{exc.field}: "):
        return text[len(exc.field) + 2 :]
    return text
