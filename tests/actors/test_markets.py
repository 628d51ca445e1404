"""Real actors: a market is (venue, symbol), never a symbol alone.

A paper ETH/USDT and a live one are two prices; binance's testnet and binance's real venue are
two feeds on two endpoints. The "live" venues here are a second paper venue standing in for the
exchange, and their feeds scripted sources the root asks for when an engine needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from actors.admission import BootGate
from tests.actors.fakes import SYMBOL, wait_until
from tests.actors.tree import ScriptedSource, Tree

PAPER = f"paper:{SYMBOL}"
LIVE = f"binance@live:{SYMBOL}"
SANDBOX = f"binance@sandbox:{SYMBOL}"


@pytest.fixture
def gate() -> BootGate:
    return BootGate(1)


@pytest.fixture
def tree(tmp_path: Path, gate: BootGate) -> Iterator[Tree]:
    t = Tree(tmp_path, gate=gate)
    try:
        yield t
    finally:
        t.close()


def _ticked(tree: Tree, *markets: str) -> bool:
    stats = tree.feed_stats()
    return all(stats.get(m, {}).get("ticks", 0) >= 1 for m in markets)


def test_a_paper_and_a_live_engine_on_one_symbol_each_size_from_their_own_price(
    tree: Tree, gate: BootGate
) -> None:
    on_paper = tree.add("alice", "paper", "p1")
    on_live = tree.add("bob", "binance", "l1", exchange="binance")
    tree.live_venue.update_price(SYMBOL, Decimal("200"))  # what the live exchange trades at
    tree.source.push("100")
    tree.live_sources["binance@live"] = live = ScriptedSource()
    live.push("200")
    # Both feeds publish before any engine boots: each engine then sizes its market base order
    # (100 USDT) from the price board, and must read its own market's price there.
    with gate.admit(lambda: False):
        tree.start()
        wait_until(lambda: _ticked(tree, PAPER, LIVE), what="both feeds published")
    tree.wait_orders(on_paper, 1)
    tree.wait_orders(on_live, 1)

    paper_base = tree.orders_of(on_paper)[0]
    live_base = tree.orders_of(on_live)[0]
    assert (paper_base.amount, paper_base.cost) == (Decimal("1"), Decimal("100"))
    assert (live_base.amount, live_base.cost) == (Decimal("0.5"), Decimal("100"))
    assert tree.live_feeds_built == [("binance@live", SYMBOL)]


def test_a_sandbox_and_a_live_account_on_one_exchange_get_a_feed_each(tree: Tree) -> None:
    real = tree.add("alice", "real", "r1", exchange="binance")
    testnet = tree.add("alice", "testnet", "t1", exchange="binance", sandbox=True)
    tree.live_sources["binance@live"] = live = ScriptedSource()
    tree.live_sources["binance@sandbox"] = sandbox = ScriptedSource()
    live.push("100")
    sandbox.push("100")
    tree.start()
    tree.wait_orders(real, 3)
    tree.wait_orders(testnet, 3)

    # One feed per environment, each built from its own account's row (the endpoint), and
    # each engine registered its levels with its own market's feed only.
    assert sorted(tree.live_feeds_built) == [("binance@live", SYMBOL), ("binance@sandbox", SYMBOL)]
    wait_until(lambda: tree.watching(LIVE) == 1 and tree.watching(SANDBOX) == 1)
    assert PAPER in tree.feed_stats() and tree.watching(PAPER) == 0
