"""The engine actor's side of the market: its timers in market time, its watched levels, the
market's time and price (the `Host` methods the engine calls about the market)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from actors.feed import PriceBoard
from actors.feed_link import FeedLink
from actors.messages import Wake
from actors.timers import TimerHandle, TimerService
from domain.errors import ExchangeUnavailable, MartingaleError
from exchange.port import Exchange

MIN_SCALED_WAKE = 0.2  # wall seconds: the shortest timer in a replay's scaled time
PRICE_MAX_AGE = 60.0  # wall seconds a feed's last price may size an order


class MarketSide:
    """Mixed into `EngineActor`, which sets these."""

    strategy_id: int
    venue: str
    symbol: str
    actor_ref: Any
    _feed: FeedLink | None
    _last_watch: tuple[Decimal | None, Decimal | None] | None
    _timers: TimerService
    _start_timer: TimerHandle | None  # the armed "start" look on the wall clock, if any
    _clock: Callable[[], datetime]
    _exchange: Exchange
    _prices: PriceBoard

    def schedule(self, at: datetime, what: str) -> None:
        """`at` is market time. In a market with its own clock (a replay) a cooldown ends at
        the first tick whose market time reaches it, as in a backtest (`FeedLink.set_alarm`),
        and so does a waiting strategy's look at a candle close ("start");
        other timers are scaled to wall time: 60 s at speed 300 is 0.2 s."""
        feed = self._feed
        if what == "start":
            self.unschedule(what)  # one look armed at a time, whoever armed the last
        if feed is None or not feed.own_clock:
            delay = max(0.0, (at - self._market_now()).total_seconds())
            handle = self._timers.tell_later(delay, self.actor_ref, Wake(what=what))
            if what == "start":
                self._start_timer = handle
            return
        if what in ("cooldown", "start"):  # never both: a strategy waits for one or the other
            feed.set_alarm(self.strategy_id, at, self.actor_ref, Wake(what=what, counted=True))
            return
        delay = max(0.0, (at - self._market_now()).total_seconds()) * feed.time_scale
        delay = max(delay, MIN_SCALED_WAKE)  # an ended replay's clock stands still
        self._timers.tell_later(delay, self.actor_ref, Wake(what=what))

    def unschedule(self, what: str) -> None:
        """Drop the armed "start" look: its wall-clock timer, or the market alarm (a strategy
        waiting to start has no cooldown alarm to lose with it)."""
        if what != "start":
            return
        if self._start_timer is not None:
            self._start_timer.cancel()
            self._start_timer = None
        if self._feed is not None and self._feed.own_clock:
            self._feed.clear_alarm(self.strategy_id, self.actor_ref)

    def watch(self, below: Decimal | None, above: Decimal | None) -> None:
        if self._feed is None or (below, above) == self._last_watch:
            return
        self._last_watch = (below, above)
        self._feed.watch(self.strategy_id, below, above, self.actor_ref)

    def _market_now(self) -> datetime:
        """Market time: a replay's candle time (its cooldowns and the times of what the machine
        is told follow it), else the wall clock. Before the replay's first tick after a restart,
        the time of the venue's last price (the last candle it took)."""
        link = self._feed
        if link is None or not link.own_clock:
            return self._clock()
        at = link.market_time()
        if at is None:
            with contextlib.suppress(MartingaleError):
                at = self._exchange.fetch_ticker(self.symbol).timestamp
        return at if at is not None else self._clock()

    def _current_price(self) -> Decimal:
        """The feed's last price, unless it is older than PRICE_MAX_AGE (a feed down or given
        up): then the venue's ticker, or no price at all (DEGRADED, retried) rather than an
        hours-old one sizing and pricing a base order."""
        price = self._prices.get(self.venue, self.symbol, max_age=PRICE_MAX_AGE)
        if price is None:
            price = self._exchange.fetch_ticker(self.symbol).last
        if price is None or price <= 0:
            raise ExchangeUnavailable(f"no price yet for {self.symbol}")
        return price

    def _unwatch(self) -> None:
        """Drop this engine's levels and alarm (never a successor's): stopped, paused, done."""
        if self._feed is None:
            return
        self._feed.clear_alarm(self.strategy_id, self.actor_ref)
        if self._last_watch != (None, None):
            self._last_watch = (None, None)
            self._feed.unwatch(self.strategy_id, self.actor_ref)
