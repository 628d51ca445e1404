"""The price feeds of a paper venue served by its own process (`martingale paper-venue`).

The same feeds a service runs for its own venue file (one `MarketFeedActor` per market, moving
the venue's prices, supervised and restarted by a `FeedPool`), under a parent of their own: the
venue process has no root supervisor, no database and no engines. Nobody trades here, so a
market's health is only logged (the services see it as the venue's ticker going stale).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pykka
import structlog

from actors.feed import PriceBoard
from actors.feed_pool import FeedPool, FeedSpec
from actors.messages import FeedFailed, FeedHealth, RestartFeed
from actors.supervision import RestartPolicy
from actors.timers import TimerService

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 30.0


class VenueFeeds(pykka.ThreadingActor):
    """Starts `specs`' feeds, restarts those that die (`policy`), stops them on stop."""

    def __init__(
        self, specs: list[FeedSpec], *, timers: TimerService, policy: RestartPolicy
    ) -> None:
        super().__init__()
        self._specs = specs
        self._stopping = threading.Event()
        self.feeds = FeedPool(timers=timers, prices=PriceBoard(), policy=policy)

    def on_start(self) -> None:
        self.feeds.bind(self.actor_ref)
        for spec in self._specs:
            self.feeds.start(spec)

    def on_stop(self) -> None:
        self._stopping.set()
        for future in self.feeds.stop_all():
            with contextlib.suppress(Exception):
                future.get(timeout=STOP_TIMEOUT_S)

    def on_receive(self, message: Any) -> Any:
        try:  # nothing may escape: this actor has no parent
            if isinstance(message, FeedFailed):
                self.feeds.failed(message)
            elif isinstance(message, FeedHealth):
                self.feeds.health(message)
            elif isinstance(message, RestartFeed) and not self._stopping.is_set():
                self.feeds.restart(message)
        except Exception:
            log.exception("venue feeds: cannot handle a message", message=type(message).__name__)
        return None
