"""MarketFeedActor: one per exchange and symbol; publishes its source's ticks.

For the paper venue a tick first moves the venue's price (which fills resting orders), then the
engines whose watched levels the tick crossed are told, and only those. The actor paces itself
with the shared timer service: after each tick it asks for the next after `source.next_delay`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import structlog

from actors.messages import PriceCrossed, Pump, Unwatch, WatchLevels
from actors.timers import TimerHandle, TimerService
from actors.watch_board import WatchBoard
from domain.errors import MartingaleError
from exchange.feeds.source import PriceSource
from exchange.paper.venue import PaperVenue

log = structlog.get_logger(__name__)


class PriceBoard:
    """The last price per symbol, readable from any thread (engines size base orders from it)."""

    def __init__(self) -> None:
        self._prices: dict[str, tuple[Decimal, datetime]] = {}
        self._lock = threading.Lock()

    def set(self, symbol: str, price: Decimal, at: datetime) -> None:
        with self._lock:
            self._prices[symbol] = (price, at)

    def get(self, symbol: str) -> Decimal | None:
        with self._lock:
            entry = self._prices.get(symbol)
        return entry[0] if entry else None


class MarketFeedActor(pykka.ThreadingActor):
    def __init__(
        self,
        *,
        symbol: str,
        source: PriceSource,
        timers: TimerService,
        board: PriceBoard,
        venue: PaperVenue | None = None,
    ) -> None:
        super().__init__()
        self.symbol = symbol
        self._source = source
        self._timers = timers
        self._board = board
        self._venue = venue
        self._watch: WatchBoard[Any] = WatchBoard()
        self._timer: TimerHandle | None = None
        self.ticks = 0
        self.woken = 0
        self.peak = 0  # the most engines one tick woke: the size of the largest burst
        self._last: tuple[Decimal, Decimal, Decimal, datetime] | None = None
        self._woken_by: dict[int, int] = {}  # strategy -> the tick number that last woke it

    def on_start(self) -> None:
        self.actor_ref.tell(Pump())

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._source.close()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, WatchLevels):
            self._watch.set(message.strategy_id, message.below, message.above, message.engine)
            self._catch_up(message.strategy_id)
        elif isinstance(message, Unwatch):
            self._watch.remove(message.strategy_id)
        elif isinstance(message, Pump):
            self._pump()
        return None

    def stats(self) -> dict[str, int]:
        return {
            "ticks": self.ticks,
            "woken": self.woken,
            "peak": self.peak,
            "watching": len(self._watch),
        }

    def _pump(self) -> None:
        try:
            tick = self._source.next_tick()
        except MartingaleError as exc:  # a malformed CSV row ends the replay, not the service
            log.error("feed: source failed; replay ends", symbol=self.symbol, error=str(exc))
            return
        if tick is not None:
            self._publish(
                tick.price,
                tick.candle.low if tick.candle else tick.price,
                tick.candle.high if tick.candle else tick.price,
                tick.candle,
            )
        if not self._source.finished:
            self._timer = self._timers.tell_later(self._source.next_delay, self.actor_ref, Pump())

    def _publish(self, price: Decimal, low: Decimal, high: Decimal, candle: Any) -> None:
        now = datetime.now(UTC)
        self.ticks += 1
        if self._venue is not None:
            try:
                if candle is not None:
                    self._venue.update_candle(self.symbol, candle)
                else:
                    self._venue.update_price(self.symbol, price)
            except MartingaleError as exc:
                log.error("feed: venue refused the price", symbol=self.symbol, error=str(exc))
                return
        self._board.set(self.symbol, price, now)
        self._last = (price, low, high, now)
        crossed = self._watch.crossed(low, high)
        for sid, engine in crossed:
            self._wake(sid, engine)
        self.peak = max(self.peak, len(crossed))

    def _catch_up(self, strategy_id: int) -> None:
        """Levels that arrive after the tick that crossed them: wake the engine now.

        Only if that tick has not woken it already, so an engine whose order is still open
        after it looked (a lagging venue) waits for the next tick instead of spinning.
        """
        if self._last is None or self._woken_by.get(strategy_id) == self.ticks:
            return
        _, low, high, _ = self._last
        for sid, engine in self._watch.crossed_one(strategy_id, low, high):
            self._wake(sid, engine)

    def _wake(self, sid: int, engine: Any) -> None:
        assert self._last is not None
        price, low, high, at = self._last
        self.woken += 1
        self._woken_by[sid] = self.ticks
        try:
            engine.tell(PriceCrossed(price=price, low=low, high=high, at=at))
        except pykka.ActorDeadError:
            # It died or was retired before its Unwatch arrived; the feed serves the others.
            self._watch.remove(sid)
            self._woken_by.pop(sid, None)
