"""Closed candles of a timeframe built from shorter candles (the paper venue's price updates,
a replay file's candles, a backtest's data), standard library only.

A candle of `seconds` opens on a multiple of `seconds` since the epoch (as venues align them)
and is closed once its close time is at or before `now`; only closed candles are returned,
never the forming one, so an indicator never sees the future.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import takewhile

from domain.market import Candle
from domain.money import ZERO
from strategy.start import EPOCH


def bucket_open(at: datetime, seconds: int) -> datetime:
    """The open time of the `seconds` candle that holds the instant `at`."""
    elapsed = int((at - EPOCH) // timedelta(seconds=1))
    return EPOCH + timedelta(seconds=elapsed // seconds * seconds)


def resample(candles: Iterable[Candle], seconds: int) -> Iterator[Candle]:
    """The `seconds` candles made of `candles` (oldest first): one per bucket that holds any
    of them, the last one as far as `candles` go (perhaps still forming: the caller decides
    what has closed). Open, high, low, close and volume as venues merge them."""
    current: Candle | None = None
    for candle in candles:
        opened = bucket_open(candle.timestamp, seconds)
        if current is not None and current.timestamp == opened:
            current = Candle(
                timestamp=opened,
                open=current.open,
                high=max(current.high, candle.high),
                low=min(current.low, candle.low),
                close=candle.close,
                volume=current.volume + candle.volume,
            )
            continue
        if current is not None:
            yield current
        current = Candle(
            timestamp=opened,
            open=candle.open,
            high=candle.high,
            low=candle.low,
            close=candle.close,
            volume=candle.volume or ZERO,
        )
    if current is not None:
        yield current


def aggregate(
    candles: Iterable[Candle], *, period: timedelta, seconds: int, now: datetime
) -> list[Candle]:
    """The closed `seconds` candles made of `candles` (oldest first, each `period` long): a
    source candle counts once it has closed by `now`, in the candle holding its open time; a
    candle of the result is returned once its own close time is at or before `now`. Source
    candles longer than `seconds` give themselves back (at their open time's bucket)."""
    out = list(resample(takewhile(lambda c: c.timestamp + period <= now, candles), seconds))
    if out and out[-1].timestamp + max(timedelta(seconds=seconds), period) > now:
        out.pop()  # still forming
    return out
