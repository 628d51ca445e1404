"""`CandleBook`: the closed candles a paper venue can answer `fetch_candles` with, built from the
prices it takes (a simulated feed's ticks, a replay file's candles).

A timeframe is followed from the first time someone asks for it (a strategy waiting for an
indicator): the first answers are short, and the strategy waits until it has the history its
indicator needs, as it would after a venue listed a new market. Only closed candles are given
out, closed by the time of the last price the venue took (market time: a replay's candle time,
not the wall clock), so a replay never shows its future. Memory is bounded: `keep` candles
per followed (symbol, timeframe).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal

from domain.market import Candle
from domain.money import ZERO
from strategy.candles import bucket_open

KEEP = 1000


class CandleBook:
    """Not thread-safe: the venue calls it under its own lock."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._followed: dict[str, dict[int, deque[Candle]]] = {}
        self._last: dict[str, datetime] = {}

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
                    volume=ZERO,
                )
            elif last is None or last.timestamp < start:
                bars.append(
                    Candle(
                        timestamp=start,
                        open=first if first is not None else close,
                        high=high,
                        low=low,
                        close=close,
                    )
                )

    def closed(self, symbol: str, seconds: int, limit: int) -> list[Candle]:
        """The last `limit` closed candles of `seconds` (oldest first); following starts now
        for a timeframe never asked for."""
        followed = self._followed.setdefault(symbol, {})
        bars = followed.get(seconds)
        if bars is None:
            followed[seconds] = deque(maxlen=self._keep)
            return []
        now = self._last.get(symbol)
        if now is None:
            return []
        span = timedelta(seconds=seconds)
        out = [bar for bar in bars if bar.timestamp + span <= now]
        return out[-limit:] if limit > 0 else []
