"""The engine's notifications hook: told after each commit that closed a cycle or began a
safety fill, once per safety order, never for a commit that did neither (and with no hook
set, nothing is called at all: the backtest and the service without notifications)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.commands import CloseReason, CycleClosed
from strategy.state import MartingaleState
from tests.actors.fakes import EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def test_the_hook_hears_each_safety_order_once_and_the_closed_cycle(world: EngineWorld) -> None:
    heard: list[tuple[int, CycleClosed | None, tuple[str, ...]]] = []

    def notice(state: MartingaleState, closed: CycleClosed | None, safety: tuple[str, ...]) -> Any:
        heard.append((state.cycle, closed, safety))

    engine = world.engine()
    engine.notice = notice
    engine.start()
    assert heard == []  # the base order filled: not a notification
    for price in ("99", "99", "98"):  # the second "99" finds nothing new
        world.move(price)
        engine.sync()
    assert heard == [(1, None, ("s1",)), (1, None, ("s2",))]

    world.move("100.5")
    engine.sync()

    (cycle, closed, safety) = heard[-1]
    assert len(heard) == 3 and safety == () and cycle == 1
    assert closed is not None and closed.cycle == 1 and closed.reason is CloseReason.TAKE_PROFIT
    assert closed.realized_profit > 0
