"""The root's market feeds: one per (venue, symbol), started on demand and supervised.

Keyed by venue (exchange id plus environment, `domain.venues`), never by symbol alone: a paper
BTC/USDT, binance's live one and binance's testnet one are three markets, three feeds, three
prices. Configured feeds (the paper markets of the config file) start with the service; a live
market's feed starts when the first engine that trades it is spawned, built by the root's
`live_feed` factory from that engine's account row, so accounts added later get theirs.

Supervision mirrors users supervising engines (`actors.supervision`): a feed actor that dies is
restarted with jittered backoff on the same `FeedLink`, so no engine's watched levels are lost
and engines never learn about the new actor. Past the policy's limit the market is given up on
(its strategies stay DEGRADED with the reason). While a feed is down, restarting or given up,
the link carries the reason, and every user with strategies on that market is told
(`MarketHealthChanged`), so their engines show DEGRADED, and RUNNING again once prices flow.

Runs on the root's thread, except `link()`, which user actors call on theirs (under a lock).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

from actors.feed import MarketFeedActor, PriceBoard
from actors.feed_link import FeedLink
from actors.messages import FeedFailed, FeedHealth, MarketHealthChanged, RestartFeed
from actors.supervision import FailureHistory, GiveUp, RestartPolicy
from actors.telemetry import Telemetry
from actors.timers import TimerService
from exchange.feeds.source import PriceSource
from exchange.paper.venue import PaperVenue

log = structlog.get_logger(__name__)

Market = tuple[str, str]  # (venue key, symbol)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSpec:
    """How to build a market's feed. `source` is called for every (re)start: a fresh source.
    `paper`: the paper venue whose prices this feed moves (None for a live market)."""

    venue: str
    symbol: str
    source: Callable[[], PriceSource]
    paper: PaperVenue | None = None


@dataclass(slots=True)
class _Feed:
    spec: FeedSpec
    link: FeedLink
    ref: pykka.ActorRef[Any] | None = None
    incarnation: int = 0
    history: FailureHistory = field(default_factory=FailureHistory)
    given_up: bool = False


class FeedPool:
    def __init__(
        self,
        *,
        timers: TimerService,
        prices: PriceBoard,
        policy: RestartPolicy,
        down_after: int | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry or Telemetry()
        self._timers = timers
        self._prices = prices
        self._policy = policy
        self._down_after = down_after
        self._rng = random.Random(0)
        self._feeds: dict[Market, _Feed] = {}
        self._lock = threading.Lock()  # `link` is read from user actors' threads
        self._parent: pykka.ActorRef[Any] | None = None

    def bind(self, parent: pykka.ActorRef[Any]) -> None:
        """The actor that hears the feeds' `FeedFailed`/`FeedHealth` (the root)."""
        self._parent = parent

    # --- lookups (any thread) -------------------------------------------------------------

    def link(self, venue: str, symbol: str) -> FeedLink | None:
        with self._lock:
            feed = self._feeds.get((venue, symbol))
        return None if feed is None else feed.link

    def stats(self) -> dict[str, dict[str, int]]:
        return {f"{link.venue}:{link.symbol}": link.stats() for link in self.links()}

    def links(self) -> list[FeedLink]:
        """Every market's link (the health check reads their last price time and error)."""
        with self._lock:
            return [feed.link for feed in self._feeds.values()]

    # --- the root's thread -----------------------------------------------------------------

    def start(self, spec: FeedSpec) -> FeedLink:
        """The market's link, its feed started first if it has none yet. A feed that cannot
        start (its source cannot be built) is retried like one that crashed."""
        market = (spec.venue, spec.symbol)
        feed = self._feeds.get(market)
        if feed is None:
            feed = _Feed(spec=spec, link=FeedLink(spec.venue, spec.symbol))
            with self._lock:
                self._feeds[market] = feed
            self._spawn(feed)  # nobody trades it yet: there is no one to tell about its health
        return feed.link

    def has(self, venue: str, symbol: str) -> bool:
        return (venue, symbol) in self._feeds

    def failed(self, message: FeedFailed) -> MarketHealthChanged | None:
        """A feed actor died: restart it after a backoff, or give up past the policy's limit.
        Returns the health change to tell the market's users, if any."""
        feed = self._feeds.get((message.venue, message.symbol))
        if feed is None or message.incarnation != feed.incarnation or feed.ref is None:
            return None  # a replaced incarnation's last words
        feed.ref = None
        return self._crashed(feed, message.error)

    def restart(self, message: RestartFeed) -> MarketHealthChanged | None:
        feed = self._feeds.get((message.venue, message.symbol))
        if feed is None or feed.ref is not None or feed.given_up:
            return None
        return self._spawn(feed)

    def health(self, message: FeedHealth) -> MarketHealthChanged | None:
        feed = self._feeds.get((message.venue, message.symbol))
        if feed is None or message.incarnation != feed.incarnation or feed.given_up:
            return None
        if message.error is None:
            log.info("root: market has prices again", market=_name(feed))
        else:
            log.warning("root: market has no prices", market=_name(feed), error=message.error)
        return self._set_error(feed, message.error)

    def stop_all(self) -> list[pykka.Future[Any]]:
        """Stop every feed, newest first (the root waits on the futures)."""
        futures = []
        for feed in reversed(list(self._feeds.values())):
            if feed.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    futures.append(feed.ref.stop(block=False))
                feed.ref = None
        return futures

    # --- helpers -------------------------------------------------------------------------

    def _spawn(self, feed: _Feed) -> MarketHealthChanged | None:
        feed.incarnation += 1
        try:
            source = feed.spec.source()
        except Exception as exc:  # e.g. a replay file gone: retried like a crash
            log.error("root: cannot start a feed", market=_name(feed), error=_describe(exc))
            return self._crashed(feed, f"cannot start: {_describe(exc)}")
        extra = {} if self._down_after is None else {"down_after": self._down_after}
        try:
            feed.ref = MarketFeedActor.start(
                link=feed.link,
                source=source,
                timers=self._timers,
                board=self._prices,
                paper=feed.spec.paper,
                parent=self._parent,
                incarnation=feed.incarnation,
                telemetry=self._telemetry,
                **extra,
            )
        except Exception as exc:  # e.g. no thread left (the pids limit): retried like a crash
            source.close()
            log.error("root: cannot start a feed", market=_name(feed), error=_describe(exc))
            return self._crashed(feed, f"its thread did not start: {_describe(exc)}")
        return None

    def _crashed(self, feed: _Feed, error: str) -> MarketHealthChanged | None:
        decision = feed.history.record(time.monotonic(), self._policy, self._rng)
        if isinstance(decision, GiveUp):
            feed.given_up = True
            reason = (
                f"the price feed crashed {decision.failures} times in "
                f"{decision.window:.0f}s and was given up; last: {error}"
            )
            log.error("root: feed keeps crashing; giving up", market=_name(feed), error=reason)
            return self._set_error(feed, reason)
        self._telemetry.restarts.inc("feed")
        log.warning(
            "root: feed crashed; restarting",
            market=_name(feed),
            error=error,
            attempt=decision.attempt,
            delay=round(decision.delay, 3),
        )
        if self._parent is not None:
            self._timers.tell_later(
                decision.delay,
                self._parent,
                RestartFeed(venue=feed.spec.venue, symbol=feed.spec.symbol),
            )
        return self._set_error(feed, f"the price feed is restarting after: {error}")

    def _set_error(self, feed: _Feed, error: str | None) -> MarketHealthChanged | None:
        if error == feed.link.error:
            return None
        feed.link.set_error(error)
        return MarketHealthChanged(venue=feed.spec.venue, symbol=feed.spec.symbol, error=error)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"[:500]


def _name(feed: _Feed) -> str:
    return f"{feed.spec.venue}:{feed.spec.symbol}"
