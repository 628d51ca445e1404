"""The REST API as a part of `martingale run`, on a thread of the service's own process
(`web.mode: thread`): built after the actor tree, stopped before it.

The web gets its own database engine (a small pool; the service's repository actor keeps its
own) and writes only rows, through services/, that the running service polls. Exchange clients
for balances, key reports and market rules are built per request from the account's row by
the service's own factory (app.exchanges), and closed after it: a replaced key is used at once.

The default is a process of its own (`app.web_process`): requests then never take the engines'
interpreter. This mode serves tests and single-core machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import metrics
from app.venue_answers import VenueAnswers
from config.schema import ServiceConfig
from config.secrets import resolved_url
from persistence.database import make_engine
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault
from services.observe import observer_for
from web.app import create_app
from web.context import WebContext
from web.server import WebServer

if TYPE_CHECKING:
    from app.bootstrap import Service


class WebPart:
    def __init__(self, config: ServiceConfig, *, vault: Vault | None, port: int | None = None):
        self.config = config
        self.vault = vault
        self.port = config.web.port if port is None else port
        self.server: WebServer | None = None
        self._engine: Any = None

    def start(self, service: Service) -> None:
        self._engine = make_engine(resolved_url(self.config))
        repo = SqlRepository(self._engine)
        build = service.exchange_factory(repo)
        venues = VenueAnswers(self.config, build)
        ctx = WebContext(
            repo=repo,
            vault=self.vault,
            exchange_for=build,
            rules_for=venues.rules_for,
            price_for=venues.price_for,
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

    @property
    def bound_port(self) -> int | None:
        return self.server.bound_port if self.server is not None else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
