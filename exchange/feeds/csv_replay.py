"""Replay of historical candles (the ../shared/data format) as a price source.

Format: a header ``timestamp,open,high,low,close,volume``; ISO-8601 UTC open times, strictly
increasing; prices parsed as Decimal. The file is streamed row by row (never loaded whole), and a
malformed row raises ConfigurationError naming the file and line.

Pacing: `speed` 1 is real time; 300 plays one 5-minute candle per second (interval = period /
speed). Gaps: a missing slot is not invented; the pause before the candle after a gap is in
proportion to the market time that passed (a gap of k missing slots waits k+1 periods), capped
at `max_gap_periods` periods so a long outage in the data does not stall the replay.

The period comes from `period`, else the file name (``ETH-BTC-5m.csv`` -> 5 minutes), else the
distance between the first two candles (read ahead at construction).

`history` reads the file's candles before a time again (`CsvHistory`): the paper venue answers
`fetch_candles` with them, so a strategy waiting for an indicator on a replay has its history at
once instead of waiting `period` candles.

`check_candle_file` reads a whole file with the same parser, so `onboard` and `run` can refuse a
file with a bad line up front instead of the replay stopping at it hours later.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from domain.errors import ConfigurationError, ValidationError
from domain.market import Candle
from exchange.feeds.source import PriceTick

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_PERIOD_IN_NAME = re.compile(r"(\d+)([smhd])\.csv$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def check_candle_file(path: str | Path) -> int:
    """Parse every row of a candle file; the number of candles, or ConfigurationError naming
    the file and the first bad line (streamed: a large file is never held in memory)."""
    source = CsvReplaySource(path, symbol="", period=timedelta(seconds=1))
    try:
        count = 0
        while source._read() is not None:
            count += 1
        return count
    finally:
        source.close()


def read_candles(path: str | Path) -> tuple[list[Candle], timedelta]:
    """Every candle of a file, oldest first, and its period, with the replay's own parser (a
    malformed row raises ConfigurationError naming the file and line): what a backtest plays."""
    source = CsvReplaySource(path, symbol="")
    try:
        candles = list(source._ahead)
        source._ahead.clear()
        while (candle := source._read()) is not None:
            candles.append(candle)
        return candles, source.period
    finally:
        source.close()


def period_from_name(path: Path) -> timedelta | None:
    match = _PERIOD_IN_NAME.search(path.name)
    if match is None:
        return None
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2].lower()])


class CsvHistory:
    """The candles of a replay file closed at or before a time (`exchange.paper.candles.History`),
    read from its start with the replay's own parser at each ask (a file is never held whole:
    the venue keeps the few it needs)."""

    def __init__(self, path: str | Path, period: timedelta) -> None:
        self._path = Path(path)
        self._period = period

    @property
    def period(self) -> timedelta:
        return self._period

    def until(self, now: datetime) -> Iterator[Candle]:
        source = CsvReplaySource(self._path, symbol="", period=self._period)
        try:
            while (candle := source._read()) is not None and candle.timestamp + self._period <= now:
                yield candle
        finally:
            source.close()


class CsvReplaySource:
    def __init__(
        self,
        path: str | Path,
        *,
        symbol: str,
        speed: float = 1.0,
        period: timedelta | None = None,
        max_gap_periods: float = 3.0,
        lockstep: bool = False,
    ) -> None:
        if speed <= 0:
            raise ValidationError(f"must be > 0, got {speed}", field="speed")
        if max_gap_periods < 1:
            raise ValidationError(f"must be >= 1, got {max_gap_periods}", field="max_gap_periods")
        self._path = Path(path)
        self._symbol = symbol
        self._speed = float(speed)
        self.lockstep = lockstep  # the feed waits for the engines each candle woke
        self._max_gap = max_gap_periods
        self._file: TextIO | None = None
        self._rows: Iterator[tuple[int, list[str]]] | None = None
        self._ahead: deque[Candle] = deque()
        self._last_open: datetime | None = None  # open time of the last candle read
        self._next_delay = 0.0
        self._pending_error: ConfigurationError | None = None
        self._finished = False
        self._open()
        if period is None:
            period = period_from_name(self._path)
        if period is None:
            first, second = self._read(), self._read()
            if first is None or second is None:
                raise self._error(0, "needs two candles to infer the period; give `period`")
            self._ahead.extend((first, second))
            period = second.timestamp - first.timestamp
        if period <= timedelta(0):
            raise ValidationError(f"must be > 0, got {period}", field="period")
        self._period = period

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def period(self) -> timedelta:
        return self._period

    @property
    def interval(self) -> float:
        return self._period.total_seconds() / self._speed

    @property
    def time_scale(self) -> float:
        """Wall seconds per market second: a replay at speed 300 plays 300 s in one."""
        return 1.0 / self._speed

    @property
    def replay_key(self) -> str:
        return str(self._path.resolve())

    @property
    def history(self) -> CsvHistory:
        """The file's candles before the replay's position, for the paper venue's candles."""
        return CsvHistory(self._path, self._period)

    @property
    def next_delay(self) -> float:
        return self._next_delay

    @property
    def finished(self) -> bool:
        return self._finished

    def next_tick(self) -> PriceTick | None:
        if self._finished:
            return None
        if self._pending_error is not None:
            self._finished = True  # a malformed file ends the replay: no skipping rows
            self.close()
            raise self._pending_error
        candle = self._ahead.popleft() if self._ahead else self._read()
        if candle is None:
            self._finished = True
            self.close()
            return None
        # Peek at the next candle now, so the pause before it reflects a gap in the data.
        # A bad next row is reported on the next call, after this good candle is published.
        try:
            upcoming = self._ahead[0] if self._ahead else self._read()
        except ConfigurationError as exc:
            self._pending_error, upcoming = exc, None
        if upcoming is None:
            self._next_delay = 0.0
        else:
            if not self._ahead:
                self._ahead.append(upcoming)
            elapsed = min(upcoming.timestamp - candle.timestamp, self._period * self._max_gap)
            self._next_delay = elapsed.total_seconds() / self._speed
        return PriceTick(
            symbol=self._symbol,
            price=candle.close,
            timestamp=candle.timestamp + self._period,
            candle=candle,
        )

    def resume_after(self, opened_at: datetime) -> int:
        """Continue after the candle that opened at `opened_at` (a restart: the venue took
        every candle up to it). A bad row on the way stops the replay, as in `next_tick`."""
        skipped = 0
        try:
            while True:
                candle = self._ahead[0] if self._ahead else self._read()
                if candle is None:
                    self._finished = True
                    self.close()
                    return skipped
                if candle.timestamp > opened_at:
                    if not self._ahead:
                        self._ahead.append(candle)
                    return skipped
                if self._ahead:
                    self._ahead.popleft()
                skipped += 1
        except ConfigurationError:
            self._finished = True
            self.close()
            raise

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._rows = None

    # --- parsing -------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._file = self._path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot open candle file: {exc.strerror}", field=str(self._path)
            ) from None
        self._rows = enumerate(csv.reader(self._file), start=1)
        header = next(self._rows, None)
        if header is None or tuple(c.strip().lower() for c in header[1]) != COLUMNS:
            self.close()
            raise self._error(1, f"header must be {','.join(COLUMNS)}")

    def _read(self) -> Candle | None:
        if self._rows is None:
            return None
        for line, row in self._rows:
            if not row or all(not cell.strip() for cell in row):
                continue
            candle = self._parse(line, row)
            if self._last_open is not None and candle.timestamp <= self._last_open:
                raise self._error(
                    line, f"timestamp {row[0]} is not after the previous {self._last_open}"
                )
            self._last_open = candle.timestamp
            return candle
        return None

    def _parse(self, line: int, row: list[str]) -> Candle:
        if len(row) != len(COLUMNS):
            raise self._error(line, f"expected {len(COLUMNS)} columns, got {len(row)}")
        try:
            at = datetime.fromisoformat(row[0].strip())
        except ValueError:
            raise self._error(line, f"column 'timestamp' is not ISO-8601: {row[0]!r}") from None
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        values: list[Decimal] = []
        for name, text in zip(COLUMNS[1:], row[1:], strict=True):
            try:
                value = Decimal(text.strip())
            except InvalidOperation:
                raise self._error(line, f"column {name!r} is not a number: {text!r}") from None
            if not value.is_finite() or value < 0 or (value == 0 and name != "volume"):
                raise self._error(line, f"column {name!r} must be > 0, got {text!r}")
            values.append(value)
        open_, high, low, close, volume = values
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise self._error(line, "prices must satisfy low <= open, close <= high")
        return Candle(timestamp=at, open=open_, high=high, low=low, close=close, volume=volume)

    def _error(self, line: int, problem: str) -> ConfigurationError:
        where = f"{self._path} line {line}" if line else str(self._path)
        return ConfigurationError(problem, field=where)
