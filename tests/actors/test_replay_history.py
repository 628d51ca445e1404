"""Real actors on a CSV replay: a strategy waiting for an RSI reads the file's history before
the replay position from the paper venue, so it starts at its first look instead of waiting
`period` candles (exchange.paper.candles, actors.feed giving the venue the history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from exchange.feeds.csv_replay import CsvReplaySource, read_candles
from persistence.records import ActualState
from tests.actors.fakes import PARAMS, SYMBOL, wait_until
from tests.actors.tree import Tree

OPEN = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PLAYED = 30  # candles the venue took before this run: the replay resumes after them
LEFT = 10  # fewer than the RSI's period: following only from the first ask never starts
RSI = {**PARAMS, "cooldown": "1", "start_condition": "rsi below=30 period=14 timeframe=1m"}


def _falling(path: Path) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(PLAYED + LEFT):
        close = Decimal(100) - Decimal(i) / 2  # every minute lower: the RSI is 0
        opened = close + Decimal("0.5")
        at = (OPEN + i * MINUTE).isoformat()
        rows.append(f"{at},{opened},{opened},{close},{close},1")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_waiting_rsi_strategy_on_a_replay_starts_at_its_first_look(
    tree: Tree, tmp_path: Path
) -> None:
    path = _falling(tmp_path / "ETH-USDT-1m.csv")
    candles, _ = read_candles(path)
    key = str(path.resolve())
    for c in candles[:PLAYED]:  # an earlier run of the service played these
        tree.venue.update_candle(SYMBOL, c, c.timestamp + MINUTE, replay=key)
    tree.paper_source = lambda: CsvReplaySource(path, symbol=SYMBOL, speed=60)
    sid = tree.add("alice", "main", "s1", params=RSI)
    tree.start()

    tree.wait_orders(sid, 1)  # the base order: the cycle started
    [base] = tree.exchange_of(sid).fetch_fills(SYMBOL)
    resumed_at = OPEN + PLAYED * MINUTE
    # Bought at the look at the first close after the resume (market time, the replay's
    # clock; its fills carry it), not `period` candles later.
    assert resumed_at < base.timestamp <= resumed_at + 3 * MINUTE
    wait_until(lambda: tree.strategy(sid).actual_state is ActualState.RUNNING, what="running")
