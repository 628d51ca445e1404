"""`CandleBook`: the closed candles a paper venue can answer `fetch_candles` with, built from the
prices it takes (a simulated feed's ticks, a replay file's candles).

A timeframe is followed from the first time someone asks for it (a strategy waiting for an
indicator). For a market whose prices come from a recording (a CSV replay: `add_history`),
the first answer already holds the recording's candles before the replay position, resampled to
the timeframe, so an indicator has its history at once, as on a real exchange. A simulated
(GBM) feed has no past: its first answers are short, and a strategy waits until it has the
history its indicator needs, as it would after a venue listed a new market.

Only closed candles are given out, closed by the time of the last price the venue took (market
time: a replay's candle time, not the wall clock), so a replay never shows its future: the
history is read up to that time and no further. Memory is bounded: `keep` candles per followed
(symbol, timeframe).

Seeding from a recording reads a file, so the venue does it in three steps, the read outside
its lock (`plan`, `read_seed`, `seed`): the timeframe is followed from the planned time on, and
what was taken meanwhile is joined to what was read.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from domain.errors import ConfigurationError
from domain.market import Candle
from domain.money import ZERO
from strategy.candles import bucket_open, resample

# stdlib logging (the process's one handler takes it): a backtest imports no structlog
log = logging.getLogger(__name__)

KEEP = 1000


class History(Protocol):
    """A recording's candles (a replay file): what the market traded before the venue's
    position in it."""

    @property
    def period(self) -> timedelta:
        """The length of one candle of the recording."""
        ...

    def until(self, now: datetime) -> Iterable[Candle]:
        """The recording's candles closed at or before `now`, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class Seed:
    """A (symbol, timeframe) to fill from `history`, with every candle closed by `now`."""

    symbol: str
    seconds: int
    history: History
    now: datetime


def read_seed(seed: Seed, keep: int = KEEP) -> list[Candle]:
    """The `seconds` candles of the recording up to `seed.now`, the last one perhaps still
    forming (the takes after `now` finish it); at most `keep` + 1. A recording that cannot be
    read (its file gone or changed) gives none: the timeframe is then built from the prices
    taken, as for a simulated feed, rather than from guesses."""
    bars: deque[Candle] = deque(maxlen=keep + 1)
    try:
        bars.extend(resample(seed.history.until(seed.now), seed.seconds))
    except ConfigurationError as exc:
        log.warning(
            "paper venue: the history of %s's replay cannot be read (%s); its %ss candles "
            "start from the replay's position",
            seed.symbol,
            exc,
            seed.seconds,
        )
        return []
    return list(bars)


def closed_candles(
    book: CandleBook, lock: AbstractContextManager[object], symbol: str, seconds: int, limit: int
) -> list[Candle]:
    """`book.closed`, the timeframe first filled from its recording if it has one; the
    recording is read outside `lock` (the venue's), so trading never waits for a file."""
    with lock:
        planned = book.plan(symbol, seconds)
    if planned is not None:
        bars = read_seed(planned, book.keep)
        with lock:
            book.seed(planned, bars)
    with lock:
        return book.closed(symbol, seconds, limit)


class CandleBook:
    """Not thread-safe: the venue calls it under its own lock."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._followed: dict[str, dict[int, deque[Candle]]] = {}
        self._last: dict[str, datetime] = {}
        self._histories: dict[str, History] = {}
        self._seeded: set[tuple[str, int]] = set()
        self._planned: dict[tuple[str, int], Seed] = {}

    def add_history(self, symbol: str, history: History, now: datetime | None = None) -> None:
        """`symbol`'s prices come from `history` (a replay) from now on; `now`: the replay's
        position (the close time of the last candle the venue took from it), None before its
        first candle. Market time becomes the replay's: a price taken at another time before
        (the wall clock's) must not let the history be read past the position. Every timeframe
        of the symbol is filled from it again at its next ask."""
        self._histories[symbol] = history
        if now is not None:
            self._last[symbol] = now
        else:
            self._last.pop(symbol, None)
        self._seeded = {key for key in self._seeded if key[0] != symbol}
        self._planned = {key: s for key, s in self._planned.items() if key[0] != symbol}

    def take(
        self,
        symbol: str,
        opened: datetime,
        closed: datetime,
        *,
        low: Decimal,
        high: Decimal,
        close: Decimal,
        first: Decimal | None = None,
        volume: Decimal = ZERO,
    ) -> None:
        """A price interval of `symbol` from `opened` to `closed` (a tick: both its time; a
        candle: its open and close times) with its low, high, close (and open, `first`)."""
        if closed > self._last.get(symbol, closed - timedelta(seconds=1)):
            self._last[symbol] = closed
        followed = self._followed.get(symbol)
        if not followed:
            return
        for seconds, bars in followed.items():
            start = bucket_open(opened, seconds)
            last = bars[-1] if bars else None
            if last is not None and last.timestamp == start:
                bars[-1] = Candle(
                    timestamp=start,
                    open=last.open,
                    high=max(last.high, high),
                    low=min(last.low, low),
                    close=close,
                    volume=last.volume + volume,
                )
            elif last is None or last.timestamp < start:
                bars.append(
                    Candle(
                        timestamp=start,
                        open=first if first is not None else close,
                        high=high,
                        low=low,
                        close=close,
                        volume=volume,
                    )
                )

    def plan(self, symbol: str, seconds: int) -> Seed | None:
        """What to read before answering for (`symbol`, `seconds`): None when there is nothing
        (no recording, already filled, or no position yet). The timeframe is followed from
        now on; what it held is dropped, as the recording holds it too."""
        key = (symbol, seconds)
        followed = self._followed.setdefault(symbol, {})
        history = self._histories.get(symbol)
        now = self._last.get(symbol)
        if history is None or now is None or key in self._seeded:
            return None
        planned = self._planned.get(key)
        if planned is None:
            followed[seconds] = deque(maxlen=self.keep)
            planned = self._planned[key] = Seed(symbol, seconds, history, now)
        return planned

    def seed(self, planned: Seed, bars: list[Candle]) -> None:
        """`bars` (`read_seed(planned)`) join what was taken since `planned.now`; a plan made
        stale by a new history (a restarted feed) is dropped, and planned again."""
        key = (planned.symbol, planned.seconds)
        if self._planned.get(key) is not planned:
            return
        del self._planned[key]
        self._seeded.add(key)
        taken = self._followed[planned.symbol][planned.seconds]
        joined = deque(_join(bars, taken), maxlen=self.keep)
        self._followed[planned.symbol][planned.seconds] = joined

    def closed(self, symbol: str, seconds: int, limit: int) -> list[Candle]:
        """The last `limit` closed candles of `seconds` (oldest first); following starts now
        for a timeframe never asked for."""
        followed = self._followed.setdefault(symbol, {})
        bars = followed.get(seconds)
        if bars is None:
            followed[seconds] = deque(maxlen=self.keep)
            return []
        now = self._last.get(symbol)
        if now is None:
            return []
        span = timedelta(seconds=seconds)
        out = [bar for bar in bars if bar.timestamp + span <= now]
        return out[-limit:] if limit > 0 else []


def _join(read: list[Candle], taken: Iterable[Candle]) -> Iterator[Candle]:
    """The candles read from a recording, then those taken after it: the bucket both hold (the
    one forming at the plan's time) is merged, its open from the recording."""
    taken = list(taken)
    if read and taken and read[-1].timestamp == taken[0].timestamp:
        head, first = read[-1], taken[0]
        merged = Candle(
            timestamp=head.timestamp,
            open=head.open,
            high=max(head.high, first.high),
            low=min(head.low, first.low),
            close=first.close,
            volume=head.volume + first.volume,
        )
        read, taken = [*read[:-1], merged], taken[1:]
    yield from read
    yield from taken
