"""The REST API as a part of `martingale run`: built after the actor tree, stopped before it.

The web gets its own database engine (a small pool; the service's repository actor keeps its
own) and writes only rows, through services/, that the running service polls. Exchange clients
for balances, key reports and market rules are built per request from the account's row by
the service's own factory (app.exchanges), and closed after it: a replaced key is used at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from cachetools import TTLCache

from actors import metrics
from config.schema import ServiceConfig
from domain.errors import UnknownSymbol, ValidationError
from domain.market import MarketRules
from domain.venues import PAPER_VENUE
from exchange.port import Exchange
from persistence.database import make_engine
from persistence.records import AccountRecord
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault
from services.observe import observer_for
from web.app import create_app
from web.context import WebContext
from web.server import WebServer

if TYPE_CHECKING:
    from app.bootstrap import Service

T = TypeVar("T")

RULES_TTL_S = 300.0  # a market's tick and step sizes change rarely; orders re-check them
PRICE_TTL_S = 5.0  # a preview's start price


class WebPart:
    def __init__(self, config: ServiceConfig, *, vault: Vault | None, port: int | None = None):
        self.config = config
        self.vault = vault
        self.port = config.web.port if port is None else port
        self.server: WebServer | None = None
        self._engine: Any = None
        self._build: Callable[[int], Exchange] | None = None
        # A live venue's answers, shared by every user of the venue (they are public data).
        self._lock = threading.Lock()
        self._rules: TTLCache[tuple[str, str], MarketRules] = TTLCache(1024, RULES_TTL_S)
        self._prices: TTLCache[tuple[str, str], Decimal] = TTLCache(1024, PRICE_TTL_S)

    def start(self, service: Service) -> None:
        self._engine = make_engine(self.config.database.url)
        repo = SqlRepository(self._engine)
        self._build = service.exchange_factory(repo)
        ctx = WebContext(
            repo=repo,
            vault=self.vault,
            exchange_for=self._build,
            rules_for=self.rules_for,
            price_for=self.price_for,
            open_paper=service.paper_opener,
            allowed_hosts=frozenset(self.config.web.allowed_hosts),
            secure_cookies=self.config.web.secure_cookies,
            workers=self.config.web.workers,
            observer=observer_for(service),
            trading_busy=metrics.AWAKE.busy,
            yield_to_trading_s=self.config.web.yield_to_trading_ms / 1000,
        )
        self.server = WebServer(create_app(ctx), host=self.config.web.host, port=self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

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
        assert self._build is not None, "the venue is asked only while the web runs"
        client = self._build(account.id)
        try:
            return ask(client)
        except UnknownSymbol as exc:
            raise ValidationError(str(exc), field="symbol") from None
        finally:
            client.close()
