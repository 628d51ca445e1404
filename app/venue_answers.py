"""What the web asks a venue while a user creates a strategy: the market's rules and its price.

Paper markets' rules come from the config file (the paper venue trades nothing else); a live
venue's answers are public data shared by every user of the venue, asked on a client built for
the asking account and cached (rules for RULES_TTL_S, the price for PRICE_TTL_S), so a preview
at every keystroke does not reach the exchange at every keystroke. Used by the web wherever it
runs: a thread of the service (`app.web_part`) or a process of its own (`app.web_child`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from cachetools import TTLCache

from config.schema import ServiceConfig
from domain.errors import UnknownSymbol, ValidationError
from domain.market import MarketRules
from domain.venues import PAPER_VENUE
from exchange.port import Exchange
from persistence.records import AccountRecord

T = TypeVar("T")

RULES_TTL_S = 300.0  # a market's tick and step sizes change rarely; orders re-check them
PRICE_TTL_S = 5.0  # a preview's start price


class VenueAnswers:
    """`rules_for` and `price_for` of `web.context.WebContext`. `build`: account id -> a new
    client for it (closed after each question)."""

    def __init__(self, config: ServiceConfig, build: Callable[[int], Exchange]) -> None:
        self.config = config
        self.build = build
        self._lock = threading.Lock()
        self._rules: TTLCache[tuple[str, str], MarketRules] = TTLCache(1024, RULES_TTL_S)
        self._prices: TTLCache[tuple[str, str], Decimal] = TTLCache(1024, PRICE_TTL_S)

    def rules_for(self, account: AccountRecord, symbol: str) -> MarketRules | None:
        """Paper: the markets of the config file (the paper venue trades nothing else).
        Live: the venue's own rules, read now."""
        if account.exchange == PAPER_VENUE:
            rules = self.config.market_rules(symbol)
            if rules is None:
                known = ", ".join(sorted(self.config.markets)) or "none"
                raise ValidationError(
                    f"the paper exchange has no market {symbol!r} (configured: {known})",
                    field="symbol",
                )
            return rules
        return self._cached(
            self._rules, account, symbol, lambda client: client.load_market_rules(symbol)
        )

    def price_for(self, account: AccountRecord, symbol: str) -> Decimal:
        """The market's last price, from the account's venue (paper: the simulated or replayed
        market's last tick); a live venue's is asked at most once per PRICE_TTL_S."""
        if account.exchange == PAPER_VENUE:
            return self._ask(account, lambda client: client.fetch_ticker(symbol).last)
        return self._cached(
            self._prices, account, symbol, lambda client: client.fetch_ticker(symbol).last
        )

    def _cached(
        self,
        cache: TTLCache[tuple[str, str], T],
        account: AccountRecord,
        symbol: str,
        ask: Callable[[Exchange], T],
    ) -> T:
        """`cache`'s answer for the account's venue and `symbol`, asking the venue on a miss
        (outside the lock: a slow exchange holds up no other question)."""
        key = (account.venue, symbol)
        with self._lock:
            cached = cache.get(key)
        if cached is None:
            cached = self._ask(account, ask)
            with self._lock:
                cache[key] = cached
        return cached

    def _ask(self, account: AccountRecord, ask: Callable[[Exchange], T]) -> T:
        """One question to the account's venue on a client of its own, closed after; a market
        the venue does not list is the request's `symbol` problem."""
        client = self.build(account.id)
        try:
            return ask(client)
        except UnknownSymbol as exc:
            raise ValidationError(str(exc), field="symbol") from None
        finally:
            client.close()
