"""Real actors: feeds are supervised, and a market without prices shows on its strategies.

A feed that dies is restarted without any engine losing its watched levels; a feed whose
source fails (an outage, an open circuit, a replay stopped by a bad line) makes every running
strategy on that market DEGRADED with the reason, and RUNNING again once prices flow. Paused
strategies and other markets are left alone.
"""

from __future__ import annotations

from pathlib import Path

from domain.errors import ExchangeUnavailable
from exchange.feeds.csv_replay import CsvReplaySource
from persistence.records import ActualState, DesiredState
from tests.actors.fakes import SYMBOL, Crash, wait_until
from tests.actors.tree import ScriptedSource, Tree


def _states(tree: Tree, strategy_id: int) -> list[str]:
    """The strategy's state changes, oldest first, as its engine audited them."""
    entries = tree.sql.recent_audit(limit=500)
    return [
        a.entry.message
        for a in sorted(entries, key=lambda a: a.id)
        if a.entry.strategy_id == strategy_id and a.entry.event == "state"
    ]


def test_a_crashed_feed_is_restarted_and_no_engine_loses_its_levels(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_orders(sid, 3)  # base, take-profit, safety 1 (at 99)
    wait_until(lambda: tree.watching() == 1, what="the engine watching its levels")

    tree.prices.crash = Crash("bug in the feed")
    tree.source.push("100.1")  # publishing this tick kills the feed actor
    wait_until(
        lambda: any("restarting after: Crash: bug in the feed" in s for s in _states(tree, sid)),
        what="the strategy shown DEGRADED while its feed restarts",
    )
    tree.wait_state(sid, ActualState.DEGRADED)  # the state row is written after the audit

    # The new feed actor publishes into the same link: the engine's levels are still there,
    # so the dip wakes it without it having registered again, and prices flowing end DEGRADED.
    assert tree.watching() == 1
    tree.source.push("99")
    tree.wait_filled(sid, "s1")
    tree.wait_state(sid, ActualState.RUNNING)
    assert tree.strategy(sid).last_error is None


def test_a_live_outage_degrades_the_running_strategies_of_that_market_only(tree: Tree) -> None:
    running = tree.add("bob", "binance", "l1", exchange="binance")
    paused = tree.add("bob", "binance", "l2", exchange="binance", desired=DesiredState.PAUSED)
    on_paper = tree.add("alice", "main", "p1")
    tree.live_sources["binance@live"] = live = ScriptedSource()
    live.push("100")
    tree.start()
    tree.wait_orders(running, 3)
    tree.wait_state(running, ActualState.RUNNING)
    tree.wait_state(on_paper, ActualState.RUNNING)
    tree.wait_state(paused, ActualState.PAUSED)

    live.failing = ExchangeUnavailable("binance GET /api/v3/ticker/price: 502 Bad Gateway")
    tree.wait_state(running, ActualState.DEGRADED)
    error = tree.strategy(running).last_error
    assert error is not None and "binance@live" in error and "502 Bad Gateway" in error
    assert tree.strategy(paused).actual_state is ActualState.PAUSED
    assert tree.strategy(on_paper).actual_state is ActualState.RUNNING

    live.failing = None
    live.push("100")
    tree.wait_state(running, ActualState.RUNNING)
    assert tree.strategy(running).last_error is None
    assert tree.strategy(paused).actual_state is ActualState.PAUSED


def test_a_replay_stopped_by_a_corrupt_line_shows_file_line_and_problem(
    tree: Tree, tmp_path: Path
) -> None:
    path = tmp_path / "ETH-USDT-1m.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-01T00:00:00,100,100.5,99.5,100,1\n"
        "2024-01-01T00:01:00,100,100.5,99.5,100.2,1\n"
        "2024-01-01T00:02:00,100.2,100.5,99.5,100.1,1\n"
        "2024-01-01T00:03:00,100.1,100.5,,100,1\n",
        encoding="utf-8",
    )
    tree.paper_source = lambda: CsvReplaySource(path, symbol=SYMBOL, speed=600)
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_state(sid, ActualState.DEGRADED)
    error = tree.strategy(sid).last_error
    assert error is not None
    assert f"{path} line 5" in error and "column 'low' is not a number" in error


def test_a_feed_that_cannot_start_is_retried_then_given_up_and_says_why(
    tree: Tree, tmp_path: Path
) -> None:
    missing = tmp_path / "gone-1m.csv"  # e.g. the candle file was moved away after `run` began
    built: list[int] = []

    def source() -> CsvReplaySource:
        built.append(1)
        return CsvReplaySource(missing, symbol=SYMBOL)

    tree.paper_source = source
    sid = tree.add("alice", "main", "s1")
    tree.start()
    tree.wait_state(sid, ActualState.DEGRADED)
    wait_until(
        lambda: "given up" in (tree.strategy(sid).last_error or ""),
        what="the strategy showing the feed was given up",
    )
    error = tree.strategy(sid).last_error or ""
    assert "cannot start" in error and "gone-1m.csv" in error
    assert len(built) == tree.policy.max_restarts + 1  # the first try and every restart
