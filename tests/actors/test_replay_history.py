"""Real actors on a CSV replay, a strategy waiting for its start condition:

- waiting for an RSI, it reads the file's history before the replay position from the paper
  venue, so it starts at its first look instead of waiting `period` candles
  (exchange.paper.candles, actors.feed giving the venue the history);
- its start condition changed while it waits (what the API writes: the row only) reaches the
  engine through the root's poll: signal -> rsi arms the candle look at once, rsi -> signal
  drops it, with no restart and no cooldown to wait for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from actors.feed_link import FeedLink
from exchange.feeds.csv_replay import CsvReplaySource, read_candles
from persistence.records import ActualState, DesiredState
from tests.actors.fakes import PARAMS, SYMBOL, wait_until
from tests.actors.tree import Tree

OPEN = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PLAYED = 30  # candles the venue took before this run: the replay resumes after them
LEFT = 10  # fewer than the RSI's period: following only from the first ask never starts
RSI = {**PARAMS, "cooldown": "1", "start_condition": "rsi below=30 period=14 timeframe=1m"}
SIGNAL = {**RSI, "start_condition": "signal max_lag=60"}


def _replaying(tree: Tree, path: Path) -> None:
    """The venue took the first PLAYED candles of `path` (an earlier run of the service), and
    the paper market's feed replays the rest, one candle a second."""
    candles, _ = read_candles(path)
    key = str(path.resolve())
    for c in candles[:PLAYED]:
        tree.venue.update_candle(SYMBOL, c, c.timestamp + MINUTE, replay=key)
    tree.paper_source = lambda: CsvReplaySource(path, symbol=SYMBOL, speed=60)


def _store(tree: Tree, strategy_id: int, params: dict[str, str]) -> None:
    """What the API writes (`services.strategies.update_params`): the row, nothing else."""
    record = tree.strategy(strategy_id)
    tree.sql.upsert_strategy(
        record.user_id,
        record.name,
        account_id=record.account_id,
        symbol=SYMBOL,
        params=params,
        desired_state=DesiredState.RUNNING,
        now=datetime.now(UTC),
    )


def _link(tree: Tree) -> FeedLink:
    assert tree.root is not None
    link = tree.root.proxy().feeds.get(timeout=10).link("paper", SYMBOL)
    assert link is not None
    return link  # type: ignore[no-any-return]


def _engine(tree: Tree, strategy_id: int) -> object:
    user = tree.user_refs()[tree.strategy(strategy_id).user_id]
    return user.proxy().engine_refs().get(timeout=10)[strategy_id]


def _audited(tree: Tree, strategy_id: int, event: str) -> bool:
    return any(
        e.entry.event == event and e.entry.strategy_id == strategy_id
        for e in tree.sql.recent_audit(limit=500)
    )


def _falling(path: Path, count: int = PLAYED + LEFT, step: Decimal = Decimal("-0.5")) -> Path:
    """Every minute lower (the RSI is 0), or with a positive `step` higher (100)."""
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(count):
        close = Decimal(100) + step * i
        opened = close - step
        at = (OPEN + i * MINUTE).isoformat()
        rows.append(f"{at},{opened},{max(opened, close)},{min(opened, close)},{close},1")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_waiting_rsi_strategy_on_a_replay_starts_at_its_first_look(
    tree: Tree, tmp_path: Path
) -> None:
    _replaying(tree, _falling(tmp_path / "ETH-USDT-1m.csv"))
    sid = tree.add("alice", "main", "s1", params=RSI)
    tree.start()

    tree.wait_orders(sid, 1)  # the base order: the cycle started
    [base] = tree.exchange_of(sid).fetch_fills(SYMBOL)
    resumed_at = OPEN + PLAYED * MINUTE
    # Bought at the look at the first close after the resume (market time, the replay's
    # clock; its fills carry it), not `period` candles later.
    assert resumed_at < base.timestamp <= resumed_at + 3 * MINUTE
    wait_until(lambda: tree.strategy(sid).actual_state is ActualState.RUNNING, what="running")


def test_a_waiting_strategy_changed_from_signal_to_rsi_looks_at_its_candles_at_once(
    tree: Tree, tmp_path: Path
) -> None:
    _replaying(tree, _falling(tmp_path / "ETH-USDT-1m.csv", count=PLAYED + 60))
    sid = tree.add("alice", "main", "s1", params=SIGNAL)
    tree.start()
    tree.wait_state(sid, ActualState.WAITING)
    engine = _engine(tree, sid)
    assert not _audited(tree, sid, "start_condition_met")

    _store(tree, sid, RSI)
    tree.wait_orders(sid, 1)  # the look ran (falling candles: the RSI is 0) and started it
    for event in ("start_condition_changed", "start_condition_met"):  # audits are batched
        wait_until(lambda e=event: _audited(tree, sid, e), what=f"{event} audited")  # type: ignore[misc]
    assert _engine(tree, sid) == engine and tree.strategy(sid).restart_count == 0


def test_a_waiting_strategy_changed_from_rsi_to_signal_drops_its_candle_alarm(
    tree: Tree, tmp_path: Path
) -> None:
    rising = _falling(tmp_path / "ETH-USDT-1m.csv", count=PLAYED + 60, step=Decimal("0.5"))
    _replaying(tree, rising)  # rising: the RSI is 100, never below 30
    sid = tree.add("alice", "main", "s1", params=RSI)
    tree.start()
    tree.wait_state(sid, ActualState.WAITING)
    link = _link(tree)
    wait_until(lambda: sid in link._alarms, what="the engine's look at the next close armed")

    _store(tree, sid, SIGNAL)
    wait_until(lambda: _audited(tree, sid, "start_condition_changed"), what="the change taken")
    assert sid not in link._alarms  # dropped when the change was taken, not at its next look
    ticks = link.stats()["ticks"]
    wait_until(lambda: link.stats()["ticks"] >= ticks + 3, what="three more candles")
    assert sid not in link._alarms and tree.orders_of(sid) == []
    assert tree.strategy(sid).restart_count == 0
