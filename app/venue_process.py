"""`martingale paper-venue`: one paper venue served to several service processes.

Opens the venue file (`paper.state_file`) with the config's markets and their rules, runs those
markets' price feeds exactly as a service with its own venue file does (`app.paper_markets`),
and serves the venue over HTTP on `paper.serve` (`app.venue_server`) until SIGTERM or SIGINT.
Services reach it through `paper.venue_url`: whichever process holds a user, its paper account
is this one, so a user that moves between processes (shed, failover) keeps its account.

Start order: venue file, timers, feeds, server; stop in reverse inside `finally` (no request
reaches the venue once it is closing; the file is closed last, with the last prices written).
"""

from __future__ import annotations

import threading

import pykka
import structlog

from actors.supervision import RestartPolicy
from actors.timers import TimerService
from actors.venue_feeds import STOP_TIMEOUT_S, VenueFeeds
from app.paper_markets import open_paper_venue, paper_feed_specs
from app.until_signal import run_until_signal
from app.venue_server import venue_app
from config.schema import ServiceConfig
from domain.errors import ConfigurationError
from domain.secrets import Secret
from exchange.paper import PaperVenue
from web.server import WebServer

log = structlog.get_logger(__name__)

VENUE_KEEP_ALIVE_S = 300


class VenueProcess:
    """`start()` then `stop()`; `run()` waits for a signal in between."""

    def __init__(
        self, config: ServiceConfig, token: Secret, *, policy: RestartPolicy | None = None
    ) -> None:
        if config.paper.serve is None:
            raise ConfigurationError(
                "the venue process needs paper.serve (port, and token_env or token_file)",
                field="paper.serve",
            )
        self.config = config
        self._serve = config.paper.serve
        self._token = token
        self._policy = policy or RestartPolicy()
        self.venue: PaperVenue | None = None
        self.server: WebServer | None = None
        self._timers: TimerService | None = None
        self._feeds: pykka.ActorRef[VenueFeeds] | None = None
        self._done = threading.Event()

    @property
    def port(self) -> int:
        return self.server.bound_port if self.server is not None else self._serve.port

    def start(self) -> None:
        try:
            venue = self.venue = open_paper_venue(self.config)
            self._timers = TimerService()
            self._feeds = VenueFeeds.start(
                paper_feed_specs(self.config, venue), timers=self._timers, policy=self._policy
            )
            server = WebServer(
                venue_app(venue, self._token),
                host=self._serve.host,
                port=self._serve.port,
                setting="paper.serve",
                # Services keep pooled connections and poll prices every few seconds: an idle
                # connection the server closes as a request goes out fails that request.
                keep_alive_s=VENUE_KEEP_ALIVE_S,
                # Every service process keeps up to `remote.POOL_SIZE` connections.
                limit_concurrency=1024,
            )
            server.start()
            self.server = server
        except BaseException:
            self.stop()
            raise
        log.info(
            "paper venue serving",
            host=self._serve.host,
            port=self.port,
            markets=len(self.config.markets),
            state_file=str(self.config.paper.state_file),
        )

    def stop(self) -> None:
        try:
            if self.server is not None:
                self.server.stop()
                self.server = None
            if self._feeds is not None:
                self._feeds.stop(timeout=STOP_TIMEOUT_S)
                self._feeds = None
        finally:
            if self._timers is not None:
                self._timers.stop()
                self._timers = None
            if self.venue is not None:
                self.venue.close()
                self.venue = None
        log.info("paper venue stopped")

    def run(self) -> int:
        run_until_signal(self.start, self.stop, self._done)
        return 0
