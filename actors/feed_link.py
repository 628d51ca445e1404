"""FeedLink: the handle an engine holds on its market's price feed, one per (venue, symbol).

Why a handle and not the feed actor's ref: a feed actor can crash and be replaced (the root
supervises feeds), and an engine must not lose the levels it registered when that happens, nor
have to learn about the new actor. So the watched levels, the last tick and the market's health
live here, in one object the root creates once per market and never replaces; the feed actor
of the moment publishes into it, engines register with it. A replaced feed's successor finds
every engine's levels where they were.

Thread-safety: engines call `watch`/`unwatch` on their own threads while the feed publishes on
its own; one lock guards the board and the last tick. Wake-ups (`PriceCrossed`) are told
outside the lock. An engine that registers levels the last tick already crossed is woken at
once (catch-up), unless that tick woke it already: an engine whose order is still open after it
looked (a lagging venue) then waits for the next tick instead of spinning.

The market clock, for engines that time cooldowns in market time (a replay plays hours of
candles in minutes): `market_time()` is the time of the last tick published (a replay's candle
close time; a live ticker's timestamp), None before the first; `time_scale` is wall seconds per
market second (1/speed for a replay, 1 for live and simulated markets). A market-time delay d
therefore takes d * time_scale wall seconds. Alarms are timers in market time: an engine's
alarm is told at the first tick whose market time reaches it (at once if the last tick did),
after that tick's wake-ups, so a replay's cooldown ends on the candle a backtest ends it on,
whatever the replay's speed (a wall timer scaled by the speed races the feed's own pacing).

Recent prices, for the dashboard's chart: the last price of each second of market time, for
the last `HISTORY_POINTS` such seconds (a bounded deque: memory stays flat for months).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka

from actors import metrics
from actors.messages import PriceCrossed
from actors.watch_board import WatchBoard

HISTORY_POINTS = 900  # seconds of price history kept per market
HISTORY_STEP_S = 1.0


class FeedLink:
    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self._lock = threading.Lock()
        self._board: WatchBoard[Any] = WatchBoard()
        self._last: tuple[Decimal, Decimal, Decimal, datetime] | None = None
        self._woken_by: dict[int, int] = {}  # strategy -> the tick number that last woke it
        self._market_time: datetime | None = None
        self._time_scale = 1.0
        self._own_clock = False
        self._error: str | None = None
        self._ended = False
        self._history: deque[tuple[datetime, Decimal]] = deque(maxlen=HISTORY_POINTS)
        # One alarm per strategy: (market time, number, engine, message), and a heap of
        # (market time, number, strategy) in which replaced alarms are skipped when due.
        self._alarms: dict[int, tuple[datetime, int, Any, Any]] = {}
        self._alarm_heap: list[tuple[datetime, int, int]] = []
        self._alarm_numbers = itertools.count()
        # Wake-ups told and not yet handled by their engine (a lockstep replay waits for 0).
        self._pending = 0
        self.created_at = datetime.now(UTC)  # wall clock: the health check's grace before a price
        self.ticks = 0
        self.woken = 0
        self.peak = 0  # the most engines one tick woke: the size of the largest burst

    @property
    def key(self) -> tuple[str, str]:
        return (self.venue, self.symbol)

    # --- engines -------------------------------------------------------------------------

    def watch(
        self, strategy_id: int, below: Decimal | None, above: Decimal | None, engine: Any
    ) -> None:
        """Wake `engine` (an ActorRef) when the price trades at or below `below` or at or above
        `above`; (None, None) unregisters. Replaces the strategy's earlier levels.

        Catch-up: levels the last tick crossed, registered by an engine that tick did not wake
        (it was starting, or busy, or these levels are new), wake it at once, so it syncs and
        finds what the venue filled in that tick. It is told to look *now*: low and high are
        the tick's price, not its range, since levels set after a tick did not exist during
        it (a cycle bought at a candle's close is not stopped out by that candle's earlier
        low), as a backtest's catch-up looks at the close."""
        with self._lock:
            self._board.set(strategy_id, below, above, engine)
            if self._last is None or self._woken_by.get(strategy_id) == self.ticks:
                return
            _, low, high, _ = self._last
            woken = self._board.crossed_one(strategy_id, low, high)
            message = self._crossed(woken, now=True)
        self._wake(woken, message)

    def unwatch(self, strategy_id: int, engine: Any = None) -> None:
        """Drop the strategy's levels; given `engine`, only if that engine registered them
        (an engine replaced while stuck must not drop its successor's levels when it stops)."""
        with self._lock:
            if engine is not None and self._board.target(strategy_id) not in (None, engine):
                return
            self._board.remove(strategy_id)
            self._woken_by.pop(strategy_id, None)

    def set_alarm(self, strategy_id: int, at: datetime, engine: Any, message: Any) -> None:
        """Tell `engine` (an ActorRef) `message` at the first tick whose market time reaches
        `at`, or now if the last tick's did. Replaces the strategy's earlier alarm."""
        with self._lock:
            due = self._market_time is not None and self._market_time >= at
            if due:
                self._alarms.pop(strategy_id, None)
            else:
                number = next(self._alarm_numbers)
                self._alarms[strategy_id] = (at, number, engine, message)
                heapq.heappush(self._alarm_heap, (at, number, strategy_id))
        if due:
            self._tell_alarm(engine, message)

    def clear_alarm(self, strategy_id: int, engine: Any = None) -> None:
        """Drop the strategy's alarm; given `engine`, only if that engine set it."""
        with self._lock:
            alarm = self._alarms.get(strategy_id)
            if alarm is not None and engine in (None, alarm[2]):
                del self._alarms[strategy_id]

    def market_time(self) -> datetime | None:
        """The time of the last tick published in this market (market time, not wall time)."""
        with self._lock:
            return self._market_time

    @property
    def time_scale(self) -> float:
        """Wall seconds per market second: 1/speed for a replay, 1 for live prices."""
        return self._time_scale

    @property
    def own_clock(self) -> bool:
        """The market's time is its ticks' time, not the wall clock: a replay (at any speed,
        1 included) or a simulation not at wall speed. Engines then count cooldowns in it."""
        return self._own_clock

    @property
    def error(self) -> str | None:
        """Why this market has no reliable prices now (feed down), or None when prices flow."""
        return self._error

    @property
    def ended(self) -> bool:
        """A replay played to its end: no price will come, and none is missing."""
        return self._ended

    def last_price(self) -> Decimal | None:
        with self._lock:
            return self._last[0] if self._last is not None else None

    def price_history(self) -> list[tuple[datetime, Decimal]]:
        """(market time, price) of the recent seconds that had a tick, oldest first."""
        with self._lock:
            return list(self._history)

    def last_published(self) -> datetime | None:
        """When the last tick was published (wall clock), None before the first."""
        with self._lock:
            return self._last[3] if self._last is not None else None

    # --- the feed actor and the root -------------------------------------------------------

    def set_time_scale(self, scale: float, *, own_clock: bool | None = None) -> None:
        """`own_clock`: see the property; by default, whether `scale` is not 1."""
        self._time_scale = scale
        self._own_clock = scale != 1.0 if own_clock is None else own_clock

    def mark_ended(self) -> None:
        self._ended = True

    def set_error(self, error: str | None) -> None:
        """The root's verdict on the feed's health (see `actors.feed_pool`)."""
        self._error = error

    def publish(
        self, price: Decimal, low: Decimal, high: Decimal, at: datetime, market_at: datetime
    ) -> None:
        """A tick: `at` is when it was published (wall clock, for latency), `market_at` its
        market time. Wakes the engines whose levels the move from `low` to `high` crossed."""
        with self._lock:
            self.ticks += 1
            self._last = (price, low, high, at)
            self._market_time = market_at
            self._remember(price, market_at)
            woken = self._board.crossed(low, high)
            self.peak = max(self.peak, len(woken))
            message = self._crossed(woken)
            alarms = self._due_alarms(market_at)
        self._wake(woken, message)
        for engine, alarm in alarms:
            self._tell_alarm(engine, alarm)

    def _remember(self, price: Decimal, market_at: datetime) -> None:
        """Keep the price for the chart (lock held), in market time like the fills the venue
        stamps: one point per second, the second's last price; a clock that went back (a
        replay started over) starts the history afresh."""
        history = self._history
        if history:
            step = (market_at - history[-1][0]).total_seconds()
            if step < 0:
                history.clear()
            elif step < HISTORY_STEP_S:
                history[-1] = (history[-1][0], price)
                return
        history.append((market_at, price))

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "ticks": self.ticks,
                "woken": self.woken,
                "peak": self.peak,
                "watching": len(self._board),
            }

    # --- helpers -------------------------------------------------------------------------

    def _crossed(self, woken: list[tuple[int, Any]], *, now: bool = False) -> PriceCrossed | None:
        """Lock held: count the wake-ups and build the one message they all get (`now`: the
        last tick's price as its low and high, for a catch-up)."""
        if not woken or self._last is None:
            return None
        self.woken += len(woken)
        for sid, _ in woken:
            self._woken_by[sid] = self.ticks
        price, low, high, at = self._last
        if now:
            low = high = price
        return PriceCrossed(price=price, low=low, high=high, at=at)

    def _due_alarms(self, now: datetime) -> list[tuple[Any, Any]]:
        """Lock held: the alarms due at market time `now`, oldest first, taken off."""
        due: list[tuple[Any, Any]] = []
        heap = self._alarm_heap
        while heap and heap[0][0] <= now:
            _, number, strategy_id = heapq.heappop(heap)
            alarm = self._alarms.get(strategy_id)
            if alarm is not None and alarm[1] == number:  # else replaced or cleared
                del self._alarms[strategy_id]
                due.append((alarm[2], alarm[3]))
        return due

    def _wake(self, woken: list[tuple[int, Any]], message: PriceCrossed | None) -> None:
        if message is None:
            return
        metrics.AWAKE.woke(len(woken))
        self.hold(len(woken))
        for _, engine in woken:
            # One that died or was retired before it unregistered: waking it removed it.
            try:
                engine.tell(message)
            except pykka.ActorDeadError:
                metrics.AWAKE.done()
                self.settle()

    def _tell_alarm(self, engine: Any, message: Any) -> None:
        self.hold()
        try:
            engine.tell(message)
        except pykka.ActorDeadError:  # stopped or replaced: its successor sets its own
            self.settle()

    # --- lockstep ------------------------------------------------------------------------

    def hold(self, count: int = 1) -> None:
        """Count wake-ups told (or an engine starting), each settled when handled: a lockstep
        replay waits for them all."""
        with self._lock:
            self._pending += count

    def settle(self) -> None:
        """An engine is done with a wake-up this link told it (a crossing or an alarm), or
        with its start (`hold`)."""
        with self._lock:
            self._pending = max(0, self._pending - 1)

    @property
    def pending(self) -> int:
        """Wake-ups told and not yet handled: a lockstep replay sends its next candle at 0."""
        return self._pending

    def forget_pending(self) -> None:
        """Give up on the wake-ups still counted (an engine stopped with them in its mailbox
        never settles them)."""
        with self._lock:
            self._pending = 0
