"""The REST API as a part of `martingale run`: built after the actor tree, stopped before it.

The web gets its own database engine (a small pool; the service's repository actor keeps its
own) and writes only rows, through services/, that the running service polls. Exchange clients
for balances and key reports are built per account from its row by the service's own factory
and kept while the account's key is unchanged (a replaced key gets a new client).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from config.schema import ServiceConfig
from domain.errors import ValidationError
from domain.market import MarketRules
from exchange.port import Exchange
from persistence.database import make_engine
from persistence.records import AccountRecord
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault
from web.app import create_app
from web.context import WebContext
from web.server import WebServer

if TYPE_CHECKING:
    from app.bootstrap import Service

PAPER = "paper"


class WebPart:
    def __init__(self, config: ServiceConfig, *, vault: Vault | None, port: int | None = None):
        self.config = config
        self.vault = vault
        self.port = config.web.port if port is None else port
        self.server: WebServer | None = None
        self._engine: Any = None
        self._clients: dict[int, tuple[str | None, Exchange]] = {}
        self._lock = threading.Lock()
        self._build: Any = None

    def start(self, service: Service) -> None:
        self._engine = make_engine(self.config.database.url)
        repo = SqlRepository(self._engine)
        self._build = service.exchange_factory(repo)
        ctx = WebContext(
            repo=repo,
            vault=self.vault,
            exchange_for=self.exchange_for,
            rules_for=self.rules_for,
            allowed_hosts=frozenset(self.config.web.allowed_hosts),
            secure_cookies=self.config.web.secure_cookies,
            observer=service.observer() if hasattr(service, "observer") else None,
        )
        self._repo = repo
        self.server = WebServer(create_app(ctx), host=self.config.web.host, port=self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for _, client in clients:
            client.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def exchange_for(self, account_id: int) -> Exchange:
        """The account's client, rebuilt when its stored key changed."""
        fingerprint = self._repo.get_account(account_id).credentials_fingerprint
        with self._lock:
            cached = self._clients.get(account_id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
        client = self._build(account_id)
        with self._lock:
            old = self._clients.get(account_id)
            self._clients[account_id] = (fingerprint, client)
        if old is not None:
            old[1].close()
        return client

    def rules_for(self, account: AccountRecord, symbol: str) -> MarketRules | None:
        """Paper: the markets of the config file (the paper venue trades nothing else).
        Live: the venue's own rules, read now."""
        if account.exchange == PAPER:
            rules = self.config.market_rules(symbol)
            if rules is None:
                known = ", ".join(sorted(self.config.markets)) or "none"
                raise ValidationError(
                    f"the paper exchange has no market {symbol!r} (configured: {known})",
                    field="symbol",
                )
            return rules
        return self.exchange_for(account.id).load_market_rules(symbol)
