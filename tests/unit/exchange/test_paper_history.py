"""The paper venue's candles on a CSV replay (exchange.paper.candles with
exchange.feeds.csv_replay.CsvHistory): the file's history before the replay position is there
from the first ask, resampled to the timeframe, closed candles only, never past the position."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.market import Candle, MarketRules
from exchange.feeds.csv_replay import CsvHistory, read_candles
from exchange.paper import PaperExchange, PaperVenue
from exchange.paper.candles import CandleBook, closed_candles, read_seed
from strategy.options import TIMEFRAMES

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, 00:00: every bucket starts here
SYMBOL = "ETH/USDT"
RULES = MarketRules(symbol=SYMBOL, tick_size=D("0.01"), step_size=D("0.0001"))
PERIOD = timedelta(minutes=5)
COUNT = 700  # about two and a half days of 5-minute candles


def _write(path: Path, *, count: int = COUNT, seed: int = 7) -> Path:
    """A 5-minute file with a random walk and a few gaps (missing slots), as real data has."""
    rng = random.Random(seed)
    rows = ["timestamp,open,high,low,close,volume"]
    price = D("100")
    for i in range(count):
        if i % 97 in (40, 41) or i % 131 == 5:
            continue  # a gap
        opened = price
        close = max(D("1"), price + D(rng.randint(-150, 150)) / 100)
        high = max(opened, close) + D(rng.randint(0, 50)) / 100
        low = max(D("0.5"), min(opened, close) - D(rng.randint(0, 50)) / 100)
        at = (T0 + i * PERIOD).isoformat().replace("+00:00", "Z")
        rows.append(f"{at},{opened},{high},{low},{close},{rng.randint(1, 9)}")
        price = close
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Candle]]:
    path = _write(tmp_path_factory.mktemp("replay") / "ETH-USDT-5m.csv")
    candles, period = read_candles(path)
    assert period == PERIOD
    return path, candles


def expected(candles: list[Candle], seconds: int, now: datetime) -> list[Candle]:
    """The OHLC of every `seconds` bucket the file fills, counting only the candles closed by
    `now` and only the buckets closed by then: worked out here on its own, with epoch
    arithmetic, not with the code under test."""
    buckets: dict[int, list[Candle]] = {}
    for c in candles:
        if c.timestamp + PERIOD <= now:
            key = int(c.timestamp.timestamp()) // seconds * seconds
            buckets.setdefault(key, []).append(c)
    out = []
    for key in sorted(buckets):
        opened = datetime.fromtimestamp(key, UTC)
        if opened + timedelta(seconds=seconds) > now:
            continue
        group = buckets[key]
        out.append(
            (
                opened,
                group[0].open,
                max(c.high for c in group),
                min(c.low for c in group),
                group[-1].close,
            )
        )
    return out  # type: ignore[return-value]


def ohlc(candles: list[Candle]) -> list[tuple[datetime, D, D, D, D]]:
    return [(c.timestamp, c.open, c.high, c.low, c.close) for c in candles]


def play(book: CandleBook, candles: list[Candle]) -> None:
    """What the venue does with each replayed candle (`update_candle`)."""
    for c in candles:
        book.take(
            SYMBOL,
            c.timestamp,
            c.timestamp + PERIOD,
            low=c.low,
            high=c.high,
            close=c.close,
            first=c.open,
            volume=c.volume,
        )


def ask(book: CandleBook, seconds: int, limit: int = 10_000) -> list[Candle]:
    return closed_candles(book, nullcontext(), SYMBOL, seconds, limit)


@settings(max_examples=80, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=COUNT - 80),
    between=st.integers(min_value=0, max_value=20),
    later=st.integers(min_value=0, max_value=60),
    timeframe=st.sampled_from(sorted(TIMEFRAMES)),
    asked_before=st.booleans(),
)
def test_candles_at_any_replay_position_are_the_files_and_never_past_it(
    data: tuple[Path, list[Candle]],
    position: int,
    between: int,
    later: int,
    timeframe: str,
    asked_before: bool,
) -> None:
    """The venue's three steps (plan under its lock, read the file outside it, seed under it
    again), with the replay going on while the file is read (`between`) and after (`later`)."""
    path, candles = data
    seconds = TIMEFRAMES[timeframe]
    book = CandleBook()
    played = candles[:position]
    meanwhile = candles[position : position + between]
    then = candles[position + between : position + between + later]
    if asked_before:  # a strategy asked before the feed gave the venue its history
        ask(book, seconds)
    play(book, played)
    book.add_history(
        SYMBOL, CsvHistory(path, PERIOD), played[-1].timestamp + PERIOD if played else None
    )

    planned = book.plan(SYMBOL, seconds)
    play(book, meanwhile)  # taken while the file is read
    if planned is not None:
        book.seed(planned, read_seed(planned))
    for now in (_now(played + meanwhile), _now(played + meanwhile + then)):
        got = ask(book, seconds)
        if now is None:
            assert got == []  # the replay has not started: no position, no history
        else:
            assert all(c.timestamp + timedelta(seconds=seconds) <= now for c in got)
            assert ohlc(got) == expected(candles, seconds, now)
        play(book, then)
        then = []


def _now(played: list[Candle]) -> datetime | None:
    return played[-1].timestamp + PERIOD if played else None


@settings(max_examples=50, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=COUNT),
    minutes=st.integers(min_value=0, max_value=4),
    timeframe=st.sampled_from(sorted(TIMEFRAMES)),
)
def test_the_history_read_stops_at_the_position(
    data: tuple[Path, list[Candle]], position: int, minutes: int, timeframe: str
) -> None:
    """No look-ahead in what is read, the forming candle included: only candles closed by
    `now` are read, and the last bucket holds nothing later."""
    path, candles = data
    now = T0 + position * PERIOD + timedelta(minutes=minutes)
    read = list(CsvHistory(path, PERIOD).until(now))
    assert read == [c for c in candles if c.timestamp + PERIOD <= now]
    book = CandleBook()
    book.add_history(SYMBOL, CsvHistory(path, PERIOD), now)
    planned = book.plan(SYMBOL, TIMEFRAMES[timeframe])
    assert planned is not None
    bars = read_seed(planned)
    assert all(b.timestamp < now for b in bars)
    if read:
        assert bars[-1].close == read[-1].close


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[PaperVenue]:
    opened = PaperVenue(tmp_path / "paper.sqlite", clock=lambda: datetime.now(UTC))
    opened.set_market_rules(RULES)
    yield opened
    opened.close()


def test_a_replay_symbol_nobody_asked_for_answers_with_its_history_at_once(
    venue: PaperVenue, data: tuple[Path, list[Candle]]
) -> None:
    path, candles = data
    key = str(path.resolve())
    venue.update_price(SYMBOL, D("100"))  # a price at wall-clock time, years after the file
    for c in candles[:200]:
        venue.update_candle(SYMBOL, c, c.timestamp + PERIOD, replay=key)
    venue.add_history(SYMBOL, key, CsvHistory(path, PERIOD))
    now = candles[199].timestamp + PERIOD

    got = PaperExchange(venue, "acct").fetch_candles(SYMBOL, "15m", 20)
    assert len(got) == 20  # the first ask, no waiting for candles to be played
    assert ohlc(got) == expected(candles, 900, now)[-20:]
    assert got[-1].timestamp + timedelta(minutes=15) <= now


def test_after_a_restart_the_history_reaches_the_position_the_venue_kept(
    tmp_path: Path, data: tuple[Path, list[Candle]]
) -> None:
    path, candles = data
    key = str(path.resolve())
    first = PaperVenue(tmp_path / "paper.sqlite")
    first.set_market_rules(RULES)
    for c in candles[:300]:
        first.update_candle(SYMBOL, c, c.timestamp + PERIOD, replay=key)
    first.close()

    venue = PaperVenue(tmp_path / "paper.sqlite")  # no price taken since the restart
    try:
        venue.add_history(SYMBOL, key, CsvHistory(path, PERIOD))
        now = candles[299].timestamp + PERIOD
        got = venue.candles(SYMBOL, 3600, 1000)
        assert got and ohlc(got) == expected(candles, 3600, now)
    finally:
        venue.close()


def test_a_simulated_market_has_no_history_and_follows_from_the_first_ask(
    venue: PaperVenue,
) -> None:
    port = PaperExchange(venue, "acct")
    for minute in range(30):
        venue.update_price(SYMBOL, D(100 + minute), T0 + timedelta(minutes=minute))
    assert port.fetch_candles(SYMBOL, "1m", 10) == []  # nothing followed before this ask
    venue.update_price(SYMBOL, D("99"), T0 + timedelta(minutes=31))
    venue.update_price(SYMBOL, D("98"), T0 + timedelta(minutes=32))  # 00:31 has closed
    assert [c.close for c in port.fetch_candles(SYMBOL, "1m", 10)] == [D("99")]


def test_a_history_that_cannot_be_read_gives_the_followed_candles_only(
    venue: PaperVenue, tmp_path: Path
) -> None:
    path = _write(tmp_path / "gone-5m.csv", count=50)
    candles, _ = read_candles(path)
    key = str(path.resolve())
    for c in candles[:20]:
        venue.update_candle(SYMBOL, c, c.timestamp + PERIOD, replay=key)
    venue.add_history(SYMBOL, key, CsvHistory(path, PERIOD))
    path.unlink()  # the file went away: no candle is guessed, nothing raises
    assert venue.candles(SYMBOL, 300, 10) == []
    nxt = candles[20]
    venue.update_candle(SYMBOL, nxt, nxt.timestamp + PERIOD, replay=key)
    assert [c.close for c in venue.candles(SYMBOL, 300, 10)] == [nxt.close]
