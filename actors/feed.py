"""MarketFeedActor: one per market (venue, symbol); publishes its source's ticks.

For the paper venue a tick first moves the venue's price (which fills resting orders), then the
engines whose watched levels the tick crossed are told, and only those (through the market's
`FeedLink`, which holds the levels and outlives this actor). The actor paces itself with the
shared timer service: after each tick it asks for the next after `source.next_delay`.

Replays on the paper venue: each candle goes to the venue with its close time (fills carry
market time) and the recording's name, so the venue keeps the replay's position in the same write
as the candle's fills; a feed (re)started on a replay first skips what the venue already took,
and gives the venue the file's history (its candles answer `fetch_candles` from the first ask).
A lockstep replay (`lockstep: true`) sends its next candle no sooner than its speed says and
only once every engine the last candle woke (crossings, catch-ups, cooldown alarms) has handled
it, as a backtest does: so the service and a backtest agree at any speed.

Error policy: nothing its source or the venue does may kill a feed, since every strategy on the
market would lose its fills and stop loss. A source that raises, a failed poll, a tick without a
usable price or a venue that refuses the tick is logged with its cause and counted; after
`down_after` in a row (at once for an open circuit breaker or a replay stopped by a bad line)
the feed tells its parent the market is down, and that it is up again at the next tick it
publishes. Only a bug in this actor kills it; `on_failure` then tells the parent, which
restarts it (`actors.feed_pool`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import structlog

from actors.feed_link import FeedLink
from actors.messages import FeedFailed, FeedHealth, Pump
from actors.spawning import SupervisedActor
from actors.telemetry import Telemetry
from actors.timers import TimerHandle, TimerService
from domain.errors import ExchangeUnavailable, MartingaleError, TemporaryError
from exchange.feeds.source import PriceSource, PriceTick, ReplaySource
from exchange.paper.venue import PaperVenue
from exchange.resilience.circuit import CircuitOpen

log = structlog.get_logger(__name__)

DOWN_AFTER = 3  # failures in a row before a market counts as down
MAX_ERROR_DELAY = 30.0  # the longest pause after errors the source itself does not pace
LOCKSTEP_POLL = 0.002  # seconds between looks at a lockstep replay's engines
LOCKSTEP_CAP = 10.0  # seconds a lockstep replay waits for its engines before going on


class PriceBoard:
    """The last price per market (venue, symbol), readable from any thread (engines size base
    orders from it). Keyed by venue: paper and live BTC/USDT are two prices."""

    def __init__(self) -> None:
        self._prices: dict[tuple[str, str], tuple[Decimal, datetime]] = {}
        self._lock = threading.Lock()

    def set(self, venue: str, symbol: str, price: Decimal, at: datetime) -> None:
        with self._lock:
            self._prices[venue, symbol] = (price, at)

    def get(
        self, venue: str, symbol: str, *, max_age: float | None = None, now: datetime | None = None
    ) -> Decimal | None:
        """The last price, or None when there is none or (with `max_age`, seconds of wall
        time) it is older than that: a feed that is down must not price new orders."""
        with self._lock:
            entry = self._prices.get((venue, symbol))
        if entry is None:
            return None
        price, at = entry
        if max_age is not None:
            age = ((now or datetime.now(UTC)) - at).total_seconds()
            if age > max_age:
                return None
        return price


class MarketFeedActor(SupervisedActor):
    def __init__(
        self,
        *,
        link: FeedLink,
        source: PriceSource,
        timers: TimerService,
        board: PriceBoard,
        paper: PaperVenue | None = None,
        parent: pykka.ActorRef[Any] | None = None,
        incarnation: int = 0,
        down_after: int = DOWN_AFTER,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__()
        self._telemetry = telemetry or Telemetry()
        self.venue = link.venue
        self.symbol = link.symbol
        self._link = link
        self._source = source
        self._timers = timers
        self._board = board
        self._paper = paper
        self._parent = parent
        self.incarnation = incarnation
        self._down_after = max(1, down_after)
        self._timer: TimerHandle | None = None
        self._held: PriceTick | None = None  # a tick the venue could not take: tried again
        self._replay = source.replay_key if isinstance(source, ReplaySource) else None
        # A lockstep replay sends a candle only once the engines the last one woke are done.
        self._lockstep = bool(getattr(source, "lockstep", False))
        self._published_at = 0.0
        self._resumed = False
        self._failures = 0  # failures in a row, of any kind
        self._raised = 0  # of those, the ones the source's own pacing does not know about
        self._reported = link.error  # the health engines see now (a restart starts "down")
        self._log = log.bind(venue=self.venue, symbol=self.symbol)

    # --- pykka hooks ---------------------------------------------------------------------

    def on_start(self) -> None:
        scale = float(getattr(self._source, "time_scale", 1.0))
        # A replay has its own clock even at speed 1: its candles' times, not the wall clock.
        self._link.set_time_scale(scale, own_clock=self._replay is not None or scale != 1.0)
        self.actor_ref.tell(Pump())

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if self._parent is not None:  # first: nothing below may keep the parent from hearing
            self._parent.tell(
                FeedFailed(
                    venue=self.venue,
                    symbol=self.symbol,
                    incarnation=self.incarnation,
                    error=_describe(exc_value),
                )
            )
        self._telemetry.error("feed", exc_value)
        self._release()

    def on_stop(self) -> None:
        self._release()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Pump):
            self._pump()
        return None

    def stats(self) -> dict[str, int]:
        return self._link.stats()

    # --- the loop ------------------------------------------------------------------------

    def _pump(self) -> None:
        if self._lockstep and self._link.pending and not self._engines_caught_up():
            self._timer = self._timers.tell_later(LOCKSTEP_POLL, self.actor_ref, Pump())
            return
        held, self._held = self._held, None
        try:
            if not self._resumed:
                self._resume()
            tick = held or self._source.next_tick()
        except Exception as exc:  # whatever the source raises, the feed serves on
            self._raised += 1
            self._trouble(exc)
        else:
            if tick is not None:
                self._publish(tick)
            elif (error := getattr(self._source, "last_error", None)) is not None:
                self._trouble(error)  # a failed poll; the source paces its own retries
        if not self._source.finished:
            self._timer = self._timers.tell_later(self._delay(), self.actor_ref, Pump())
        elif self._failures == 0:
            # A replay that ended cleanly (perhaps already over when this feed was restarted):
            # no prices will come, but none are missing either; its strategies stop showing a
            # restart as the reason they are degraded.
            self._link.mark_ended()
            self._report(None)

    def _publish(self, tick: PriceTick) -> None:
        price, candle = tick.price, tick.candle
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            self._raised += 1
            self._trouble(ExchangeUnavailable(f"tick without a usable price: {price!r}"))
            return
        if self._paper is not None:
            try:
                if candle is not None:
                    self._paper.update_candle(
                        self.symbol, candle, tick.timestamp, replay=self._replay
                    )
                else:
                    self._paper.update_price(self.symbol, price)
            except Exception as exc:
                self._raised += 1
                if isinstance(exc, TemporaryError):
                    self._held = tick  # the venue kept nothing of it: the same tick again
                self._trouble(exc, what="the paper venue refused the tick")
                return
        now = datetime.now(UTC)
        self._board.set(self.venue, self.symbol, price, now)
        low, high = (candle.low, candle.high) if candle is not None else (price, price)
        self._published_at = time.monotonic()
        self._link.publish(price, low, high, now, tick.timestamp)
        self._failures = self._raised = 0
        self._report(None)

    def _engines_caught_up(self) -> bool:
        """Lockstep: the engines the last candle woke are still at it. Waits up to
        LOCKSTEP_CAP, then says so and goes on (an engine stopped with the wake-up in its
        mailbox never settles it)."""
        waited = time.monotonic() - self._published_at
        if waited < LOCKSTEP_CAP:
            return False
        self._log.warning(
            "feed: engines still busy with the last candle; the replay goes on",
            waited_s=round(waited, 1),
            pending=self._link.pending,
        )
        self._link.forget_pending()
        return True

    def _resume(self) -> None:
        """A replay continues after the last candle the venue took (a restart, or a feed
        actor replaced after a crash), never from its first candle."""
        self._resumed = True
        if self._paper is None or self._replay is None:
            return
        history = getattr(self._source, "history", None)
        if history is not None:  # its candles answer fetch_candles up to the replay's position
            self._paper.add_history(self.symbol, self._replay, history)
        opened = self._paper.replay_position(self.symbol, self._replay)
        if opened is not None:
            assert isinstance(self._source, ReplaySource)
            skipped = self._source.resume_after(opened)
            self._log.info("feed: replay resumes", after=opened.isoformat(), skipped=skipped)

    def _trouble(self, exc: BaseException, *, what: str = "the price source failed") -> None:
        """Log a failure with its cause; past the threshold, tell the parent the market is down."""
        self._failures += 1
        self._telemetry.error("feed", exc)
        error = _describe(exc)
        # Not a domain error: a bug somewhere below, so the log shows where it came from.
        trace = exc if not isinstance(exc, MartingaleError) else False
        self._log.error(f"feed: {what}", error=error, failures=self._failures, exc_info=trace)
        if self._source.finished:
            self._report(f"the price feed stopped: {error}", force=True)
        elif self._failures >= self._down_after or isinstance(exc, CircuitOpen):
            self._report(f"no prices ({self._failures} failures in a row; last: {error})")

    def _report(self, error: str | None, *, force: bool = False) -> None:
        """Tell the parent about a change of health (down -> up, up -> down), not every error."""
        if (error is None) == (self._reported is None) and not force:
            return
        self._reported = error
        if error is None:
            self._log.info("feed: prices flow again")
        if self._parent is None:
            self._link.set_error(error)
            return
        self._parent.tell(
            FeedHealth(
                venue=self.venue, symbol=self.symbol, incarnation=self.incarnation, error=error
            )
        )

    def _delay(self) -> float:
        delay = self._source.next_delay
        if self._raised:
            base = max(self._source.interval, 0.05)
            delay = max(delay, min(MAX_ERROR_DELAY, base * 2 ** (self._raised - 1)))
        return delay

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(Exception):  # a source that fails to close must not block stop
            self._source.close()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
