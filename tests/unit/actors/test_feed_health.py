"""A feed survives whatever its source or the venue does, and says when its market is down.

The feed actor is driven without threads: the test calls `_pump` as the timer would, with a
timer stand-in that records the delays the feed asks for and a parent inbox that records what
the feed tells the root.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from actors.feed import DOWN_AFTER, MarketFeedActor, PriceBoard
from actors.feed_link import FeedLink
from actors.messages import FeedHealth
from actors.timers import TimerService
from domain.errors import ExchangeUnavailable
from exchange.feeds.csv_replay import CsvReplaySource
from exchange.feeds.source import PriceSource, PriceTick
from exchange.paper.venue import PaperVenue
from exchange.resilience.circuit import CircuitOpen
from tests.actors.fakes import SYMBOL, open_venue

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def tell(self, message: Any) -> None:
        self.got.append(message)

    def health(self) -> list[str | None]:
        return [m.error for m in self.got if isinstance(m, FeedHealth)]


class Handle:
    def cancel(self) -> None:
        pass


class Timers:
    """Records each `tell_later` delay; the test pumps by hand."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def tell_later(self, delay: float, ref: Any, message: Any) -> Handle:
        self.delays.append(delay)
        return Handle()


class StepSource:
    """Plays a script: each step is a price (a tick), an exception (raised), or None with an
    error (a failed poll, kept in `last_error` as LiveTickerSource does)."""

    def __init__(self, *steps: Any) -> None:
        self._steps = deque(steps)
        self.last_error: Exception | None = None

    symbol = SYMBOL
    interval = 1.0
    next_delay = 1.0
    finished = False

    def next_tick(self) -> PriceTick | None:
        step = self._steps.popleft()
        self.last_error = None
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, tuple):  # ("failed poll", error)
            self.last_error = step[1]
            return None
        price = step if step is None or isinstance(step, Decimal) else Decimal(step)
        return PriceTick(symbol=SYMBOL, price=price, timestamp=T0)  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def _feed(
    source: Any, parent: Inbox, *, paper: Any = None, link: FeedLink | None = None
) -> tuple[MarketFeedActor, FeedLink, Timers]:
    link = link or FeedLink("binance@live", SYMBOL)
    timers = Timers()
    feed = MarketFeedActor(
        link=link,
        source=cast(PriceSource, source),
        timers=cast(TimerService, timers),
        board=PriceBoard(),
        paper=paper,
        parent=cast(Any, parent),
    )
    return feed, link, timers


def test_a_source_raising_a_plain_error_never_kills_the_feed_and_its_market_goes_down_and_up() -> (
    None
):
    no_last = ValueError("ticker has no last price")
    parent = Inbox()
    feed, link, timers = _feed(StepSource(no_last, no_last, no_last, "101"), parent)

    for _ in range(DOWN_AFTER):
        feed._pump()  # raised inside: would have killed the actor
    [down] = parent.health()
    assert down is not None and "ValueError: ticker has no last price" in down
    assert timers.delays == [1.0, 2.0, 4.0]  # backs off: the source does not pace its raises

    feed._pump()
    assert parent.health() == [down, None]  # prices flow again
    assert link.stats()["ticks"] == 1 and timers.delays[-1] == 1.0


def test_a_tick_without_a_usable_price_is_a_failure_not_a_crash() -> None:
    parent = Inbox()
    feed, link, _ = _feed(StepSource(None, "0", Decimal("NaN")), parent)
    for _ in range(3):
        feed._pump()
    [down] = parent.health()
    assert down is not None and "tick without a usable price" in down
    assert link.stats()["ticks"] == 0


def test_an_open_circuit_marks_the_market_down_at_once() -> None:
    parent = Inbox()
    circuit = CircuitOpen("binance@live: circuit open; next probe in 12.0s", retry_after=12.0)
    feed, _, _ = _feed(StepSource(("failed poll", circuit), "100"), parent)
    feed._pump()
    [down] = parent.health()
    assert down is not None and "CircuitOpen: binance@live: circuit open" in down
    feed._pump()
    assert parent.health() == [down, None]


def test_one_failed_poll_is_not_an_outage() -> None:
    parent = Inbox()
    outage = ExchangeUnavailable("502 Bad Gateway")
    steps = [("failed poll", outage)] * (DOWN_AFTER - 1) + ["100"]
    feed, _, _ = _feed(StepSource(*steps), parent)
    for _ in range(DOWN_AFTER):
        feed._pump()
    assert parent.health() == []


class RefusingVenue:
    """The real paper venue, refusing the next `refusals` price updates as a failed write."""

    def __init__(self, inner: PaperVenue, refusals: int) -> None:
        self.inner = inner
        self.refusals = refusals

    def update_price(self, symbol: str, price: Decimal, at: datetime | None = None) -> Any:
        if self.refusals:
            self.refusals -= 1
            raise ExchangeUnavailable("paper venue store: disk I/O error; not saved")
        return self.inner.update_price(symbol, price, at)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[PaperVenue]:
    v = open_venue(tmp_path / "venue.sqlite")
    yield v
    v.close()


def test_a_tick_the_venue_could_not_keep_is_offered_again(venue: PaperVenue) -> None:
    parent = Inbox()
    source = StepSource("105", "106")
    feed, link, _ = _feed(source, parent, paper=RefusingVenue(venue, refusals=1), link=None)
    feed._pump()  # refused: held
    assert venue.ticker(SYMBOL).last == Decimal("100") and link.stats()["ticks"] == 0
    feed._pump()  # the same tick again, not the next one
    assert venue.ticker(SYMBOL).last == Decimal("105") and link.stats()["ticks"] == 1


def test_a_corrupt_replay_line_stops_the_feed_and_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ETH-USDT-1m.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00,100,101,99,100,1\n"
        "2024-01-01T00:01:00,100,101,99,100.5,1\n"
        "2024-01-01T00:02:00,100,101,99,oops,1\n"
        "2024-01-01T00:03:00,100,101,99,100,1\n",
        encoding="utf-8",
    )
    parent = Inbox()
    source = CsvReplaySource(path, symbol=SYMBOL, speed=60)
    feed, link, timers = _feed(source, parent, link=FeedLink("paper", SYMBOL))
    for _ in range(3):
        feed._pump()
    [down] = parent.health()
    assert down is not None
    assert f"{path} line 4" in down and "column 'close' is not a number" in down
    assert link.stats()["ticks"] == 2 and source.finished
    assert len(timers.delays) == 2  # no more pumps after the replay stopped
