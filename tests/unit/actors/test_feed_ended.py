"""A replay that played to its end marks its market's link ended (the health check then finds no
price missing); one stopped by a bad line does not."""

from __future__ import annotations

from pathlib import Path

from actors.feed_link import FeedLink
from exchange.feeds.csv_replay import CsvReplaySource
from tests.actors.fakes import SYMBOL
from tests.unit.actors.test_feed_health import Inbox, _feed

HEADER = "timestamp,open,high,low,close,volume\n"


def _replay(tmp_path: Path, *lines: str) -> CsvReplaySource:
    path = tmp_path / "ETH-USDT-1m.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return CsvReplaySource(path, symbol=SYMBOL, speed=60)


def test_a_replay_played_to_its_end_marks_the_link_ended(tmp_path: Path) -> None:
    source = _replay(
        tmp_path, "2024-01-01T00:00:00,100,101,99,100,1\n", "2024-01-01T00:01:00,100,101,99,101,1\n"
    )
    feed, link, _ = _feed(source, Inbox(), link=FeedLink("paper", SYMBOL))
    for _ in range(2):
        feed._pump()
        assert not link.ended
    while not source.finished:
        feed._pump()
    assert link.ended and link.error is None


def test_a_replay_stopped_by_a_bad_line_is_not_ended(tmp_path: Path) -> None:
    source = _replay(
        tmp_path, "2024-01-01T00:00:00,100,101,99,100,1\n", "2024-01-01T00:01:00,100,101,99,x,1\n"
    )
    feed, link, _ = _feed(source, Inbox(), link=FeedLink("paper", SYMBOL))
    for _ in range(3):
        feed._pump()
    assert source.finished and not link.ended
