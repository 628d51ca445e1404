"""The web process: `python -m app.web_child`, started and supervised by `app.web_process`.

It serves the API and the dashboard exactly as `app.web_part` does in the service's process,
from the database on a connection pool of its own, with two differences:

- What only the trading process holds (prices, /health/ready, /metrics, the paper venue) is
  asked across the bridge (`app.web_bridge`). The web never places or cancels an order: the
  paper client it gets refuses both, and a live one is built only for balances, key reports
  and market rules, as in the service.
- Its lifetime is the parent's: it reads its `WebSpec` (config, vault, the bridge's address
  and key) from stdin, prints one JSON line on stdout (`{"port": N}` once it listens, or
  `{"error": ..., "field": ...}`), then serves until stdin closes (the parent closed it to stop
  us, or the parent died) or SIGTERM. SIGINT is ignored: a Ctrl-C reaches the whole process
  group, and the parent stops the web first, in its own order.
"""

from __future__ import annotations

import json
import pickle
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from app.exchanges import account_exchanges
from app.venue_answers import VenueAnswers
from app.web_bridge import BridgeClient
from config.logging import configure_logging
from config.schema import ServiceConfig
from config.secrets import resolved_url
from domain.errors import ConfigurationError, ExchangeUnavailable, FatalError
from domain.keys import KeyReport
from domain.market import Balance, Candle, MarketRules, Ticker
from domain.orders import Fill, Order, OrderType, Side
from persistence.database import make_engine
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault
from services.observe import CheckResult, ReadyReport
from web.app import create_app
from web.context import WebContext
from web.server import WebServer

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 2.0
PRICE_TIMEOUT_S = 2.0  # a dashboard row shows "unknown" rather than wait longer


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSpec:
    """What the parent hands the web process through its stdin."""

    config: ServiceConfig
    vault: Vault | None = field(repr=False)
    port: int
    bridge: str
    bridge_key: bytes = field(repr=False)
    paper: bool  # the service has a paper venue (else paper accounts are refused)


class BridgedView:
    """The `services.observe.ServiceView` of the trading process, across the bridge."""

    def __init__(self, bridge: BridgeClient) -> None:
        self._bridge = bridge

    def price(self, venue: str, symbol: str) -> Decimal | None:
        try:
            price: Decimal | None = self._bridge.call(
                "price", venue, symbol, timeout=PRICE_TIMEOUT_S
            )
        except ExchangeUnavailable:
            return None
        return price

    def price_history(self, venue: str, symbol: str) -> list[tuple[datetime, Decimal]]:
        try:
            history: list[tuple[datetime, Decimal]] = self._bridge.call(
                "price_history", venue, symbol, timeout=PRICE_TIMEOUT_S
            )
        except ExchangeUnavailable:
            return []
        return history

    def live(self) -> dict[str, str]:
        """This process serves; it exits when the service does, so that is the service's."""
        return {"status": "ok"}

    def ready(self, *, timeout_s: float | None = None) -> ReadyReport:
        wait = READY_TIMEOUT_S if timeout_s is None else timeout_s
        try:
            report: ReadyReport = self._bridge.call("ready", wait, timeout=wait + 1.0)
        except ExchangeUnavailable as exc:
            return ReadyReport(ok=False, checks={"service": CheckResult(ok=False, detail=str(exc))})
        return report

    def metrics(self) -> bytes:
        text: bytes = self._bridge.call("metrics")
        return text


class BridgedPaperExchange:
    """An account on the service's paper venue, as the web sees it: its reads are answered by
    the service; orders are the engines' alone."""

    def __init__(self, bridge: BridgeClient, account: str) -> None:
        self._bridge = bridge
        self._account = account

    def __repr__(self) -> str:
        return f"BridgedPaperExchange(account={self._account!r})"

    @property
    def exchange_id(self) -> str:
        return "paper"

    def _read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._bridge.call("paper", self._account, method, args, kwargs)

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        rules: MarketRules = self._read("load_market_rules", symbol, fresh=fresh)
        return rules

    def fetch_ticker(self, symbol: str) -> Ticker:
        ticker: Ticker = self._read("fetch_ticker", symbol)
        return ticker

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> Sequence[Candle]:
        candles: Sequence[Candle] = self._read("fetch_candles", symbol, timeframe, limit)
        return candles

    def fetch_balances(self) -> dict[str, Balance]:
        balances: dict[str, Balance] = self._read("fetch_balances")
        return balances

    def create_order(
        self,
        *,
        client_order_id: str,
        symbol: str,
        side: Side,
        type: OrderType,
        amount: Decimal,
        price: Decimal | None = None,
        cost: Decimal | None = None,
    ) -> Order:
        raise FatalError("the web process places no orders: the service's engines do")

    def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        raise FatalError("the web process cancels no orders: the service's engines do")

    def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        order: Order = self._read(
            "fetch_order",
            symbol,
            exchange_order_id=exchange_order_id,
            client_order_id=client_order_id,
        )
        return order

    def fetch_open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        orders: Sequence[Order] = self._read("fetch_open_orders", symbol)
        return orders

    def fetch_fills(
        self, symbol: str, *, since: datetime | None = None, limit: int | None = None
    ) -> Sequence[Fill]:
        fills: Sequence[Fill] = self._read("fetch_fills", symbol, since=since, limit=limit)
        return fills

    def key_report(self) -> KeyReport | None:
        report: KeyReport | None = self._read("key_report")
        return report

    def close(self) -> None:
        return None


class ChildWeb:
    def __init__(self, spec: WebSpec) -> None:
        self.spec = spec
        self._engine: Any = None
        self._server: WebServer | None = None

    def start(self) -> int:
        spec, config = self.spec, self.spec.config
        self._engine = make_engine(resolved_url(config))
        repo = SqlRepository(self._engine)
        bridge = BridgeClient(spec.bridge, spec.bridge_key)
        build = account_exchanges(
            repo,
            vault=spec.vault,
            venue=None,
            paper=lambda key: BridgedPaperExchange(bridge, key),
        )
        venues = VenueAnswers(config, build)

        def open_paper(key: str, balances: Mapping[str, Decimal], fee_rate: Decimal) -> None:
            bridge.call("open_paper", key, dict(balances), fee_rate)

        ctx = WebContext(
            repo=repo,
            vault=spec.vault,
            exchange_for=build,
            rules_for=venues.rules_for,
            price_for=venues.price_for,
            open_paper=open_paper if spec.paper else None,
            allowed_hosts=frozenset(config.web.allowed_hosts),
            secure_cookies=config.web.secure_cookies,
            workers=config.web.workers,
            observer=BridgedView(bridge),
        )
        self._server = WebServer(create_app(ctx), host=config.web.host, port=spec.port)
        self._server.start()
        return self._server.bound_port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _say(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    # From our parent, on the pipe only it holds (not a file, not a socket anyone can reach).
    spec: WebSpec = pickle.load(sys.stdin.buffer)  # noqa: S301
    configure_logging(format=spec.config.logging.format, level=spec.config.logging.level)
    web = ChildWeb(spec)
    try:
        port = web.start()
    except ConfigurationError as exc:
        web.stop()
        _say({"error": str(exc), "field": exc.field})
        return 1

    def until_eof() -> None:  # the parent closes our stdin to stop us, or dies
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=until_eof, name="web-parent", daemon=True).start()
    _say({"port": port})
    while not stop.wait(1.0):
        pass
    web.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
