"""Reading what a venue says an API key may do, for the venues that say it.

Per ccxt id: the ccxt API section and implicit method that answer, and how to read the answer.
Only exact ids are listed: binanceus inherits binance's methods in ccxt, but whether its venue
serves the endpoint is not something we know, so it reports nothing rather than guess. A client
whose section has no URL (binance's testnet has no sapi) reports nothing either: calling it would
be a configuration error, not a fact about the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.keys import KeyReport
from exchange.ccxt_adapter.pipeline import Pipeline

OPERATION = "key_report"


@dataclass(frozen=True, slots=True)
class Source:
    section: str  # the key of ccxt's urls["api"] the request goes to
    method: str  # ccxt's implicit method
    read: Callable[[Any], KeyReport]


def _flag(answer: Mapping[str, Any], name: str) -> bool | None:
    """A permission flag: None when the venue leaves it out; anything but a bool is unreadable."""
    if name not in answer:
        return None
    value = answer[name]
    if not isinstance(value, bool):
        raise TypeError(f"{name} is {type(value).__name__}, not a boolean")
    return value


def _binance(answer: Any) -> KeyReport:
    """GET /sapi/v1/account/apiRestrictions: enableWithdrawals, ipRestrict,
    enableSpotAndMarginTrading (and others the service does not use)."""
    if not isinstance(answer, Mapping):
        raise TypeError(f"expected an object, got {type(answer).__name__}")
    return KeyReport.from_permissions(
        can_trade=_flag(answer, "enableSpotAndMarginTrading"),
        can_withdraw=_flag(answer, "enableWithdrawals"),
        ip_restricted=_flag(answer, "ipRestrict"),
    )


SOURCES: dict[str, Source] = {
    "binance": Source("sapi", "sapi_get_account_apirestrictions", _binance),
}


def read_key_report(pipe: Pipeline, client: Any, exchange_id: str) -> KeyReport | None:
    """The key's report through the request pipeline (guards, breaker, rate limit, read retry,
    error translation); None for a venue or environment that does not tell."""
    source = SOURCES.get(exchange_id)
    if source is None or not client.urls.get("api", {}).get(source.section):
        return None
    answer = pipe.read(OPERATION, getattr(client, source.method))
    return pipe.parsed(OPERATION, None, lambda: source.read(answer))
