"""Venue keys: which market a price, a feed or a watch board belongs to.

A symbol alone does not name a market: the paper exchange's BTC/USDT, binance's live BTC/USDT
and binance's testnet BTC/USDT are three markets with three prices. Everything that holds a
price, a feed or watched levels is keyed by (venue key, symbol), where the venue key is the
exchange id plus its environment: ``paper``, ``binance@live``, ``binance@sandbox`` or
``binance@https://testnet.example.com`` for an explicit base URL.
"""

from __future__ import annotations

PAPER_VENUE = "paper"


def paper_account_key(user_name: str, account_name: str) -> str:
    """An account's key on the paper venue. Shared by the service, which trades on it, and the
    services that open it (an account created through the API), so both name the same one."""
    return f"{user_name}/{account_name}"


def venue_key(exchange_id: str, *, sandbox: bool = False, base_url: str | None = None) -> str:
    """The key of the market an account trades on; equal keys mean one shared price."""
    if base_url:
        return f"{exchange_id}@{base_url.rstrip('/')}"
    if exchange_id == PAPER_VENUE:
        return PAPER_VENUE
    return f"{exchange_id}@{'sandbox' if sandbox else 'live'}"
