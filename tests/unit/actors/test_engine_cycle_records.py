"""What a closed cycle's record says, the audit row of its close, and a kept position adopted on
resume (issue 11, items 19 and 25)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from domain.events import StopMode, StopRequested
from persistence.records import CycleRecord, CycleStatus, DesiredState, StepResult
from strategy.state import Phase
from tests.actors.fakes import Crash, EngineWorld, FaultyStore


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def test_a_closed_cycle_keeps_its_own_figures(world: EngineWorld) -> None:
    engine = world.started()  # base 1.0000 at 100
    for price in ("99", "98"):
        world.move(price)
        engine.sync()
    world.move("100.5")  # the take-profit sells everything
    engine.sync()
    closed = world.repo.list_cycles(world.strategy_id)[0]
    bought = Decimal("1.0000") + Decimal("1.0101") + Decimal("1.0204")
    spent = Decimal("100.0000") + Decimal("99.999900") + Decimal("99.999200")
    assert closed.status is CycleStatus.CLOSED
    assert closed.base_price == Decimal("100")
    assert (closed.amount, closed.cost) == (bought, spent)
    assert closed.average_price == (spent / bought).quantize(Decimal("1e-18"))
    assert (closed.carried_amount, closed.carried_cost) == (0, 0)
    # What the take-profit received, net of its fee in quote: profit = received - spent.
    [sold] = [f for f in world.repo.list_fills(world.strategy_id) if f.side.value == "sell"]
    assert closed.received == sold.cost - sold.fee > 0
    assert closed.realized_profit == closed.received - spent


class _KilledAfterTheClose(FaultyStore):
    """Commits the step that closes a cycle, then dies: the process killed right after."""

    def save_step(self, strategy_id: int, **step: Any) -> StepResult:
        result = super().save_step(strategy_id, **step)
        cycle = step.get("cycle")
        if cycle is not None and cycle.status is CycleStatus.CLOSED:
            raise Crash("killed right after the close committed (test)")
        return result


def test_the_audit_row_of_a_close_commits_with_the_close(world: EngineWorld) -> None:
    world.store = _KilledAfterTheClose(world.repo)
    engine = world.started()
    world.move("101.5")  # the take-profit (101) fills; the cycle closes
    with pytest.raises(Crash):
        engine.sync()
    (closed,) = [
        c for c in world.repo.list_cycles(world.strategy_id) if c.status is CycleStatus.CLOSED
    ]
    audit = [r.entry for r in world.repo.recent_audit() if r.entry.event == "cycle_closed"]
    assert [r.message for r in audit] == [f"1:{closed.realized_profit}"]


def test_a_position_kept_by_stop_now_is_shown_then_adopted_on_resume(world: EngineWorld) -> None:
    engine = world.started()
    world.move("99")
    engine.sync()  # a safety order filled: 2.0101 held
    engine.request_stop(StopRequested(at=world.clock(), mode=StopMode.CANCEL))
    assert engine.finished
    closed = world.repo.list_cycles(world.strategy_id)[-1]
    held = Decimal("1.0000") + Decimal("1.0101")
    assert closed.status is CycleStatus.CLOSED and closed.carried_amount == held
    assert closed.carried_cost == Decimal("100.0000") + Decimal("99.999900")

    world.repo.set_desired_state(world.strategy_id, DesiredState.RUNNING, now=world.clock())
    world.host.reports.clear()
    resumed = world.engine()
    resumed.start()
    kinds = [kind for kind, _ in world.host.reports]
    assert "position_adopted" in kinds
    state = resumed.state
    assert state is not None and state.phase is Phase.ACTIVE and state.cycle == 2
    assert state.book.position == held + Decimal("1.0101")  # kept + the new base at 99


def test_a_stop_after_the_cycle_revoked_by_a_resume_is_forgotten(world: EngineWorld) -> None:
    engine = world.started()
    engine.request_stop(StopRequested(at=world.clock(), mode=StopMode.FINISH_CYCLE))
    state = engine.state
    assert state is not None and state.stop_mode is StopMode.FINISH_CYCLE
    world.repo.set_desired_state(world.strategy_id, DesiredState.RUNNING, now=world.clock())
    resumed = world.engine()  # a resume goes down the start path
    resumed.start()
    state = resumed.state
    assert state is not None and state.stop_mode is None
    world.move("101.5")  # the take-profit fills: the next cycle follows, nothing finishes
    resumed.sync()
    state = resumed.state
    assert state is not None and state.phase is Phase.COOLDOWN and not resumed.finished


class _Counting(FaultyStore):
    """Records the cycle row each step hands the store (None: not written)."""

    def __init__(self, world: EngineWorld) -> None:
        super().__init__(world.repo)
        self.rows: list[CycleRecord | None] = []

    def save_step(self, strategy_id: int, **step: Any) -> StepResult:
        self.rows.append(step.get("cycle"))
        return super().save_step(strategy_id, **step)


def test_a_cycle_row_is_written_only_when_it_changed(world: EngineWorld) -> None:
    """Steps that only acknowledge an order leave the cycle's row as it is: not written."""
    store = _Counting(world)
    world.store = store
    engine = world.started()  # base bought; take-profit and a safety order placed, accepted
    world.move("99")  # the safety order fills
    engine.sync()
    written = [row for row in store.rows if row is not None]
    assert len(store.rows) > len(written) >= 2  # opened, then the safety fill
    assert written == [r for i, r in enumerate(written) if i == 0 or r != written[i - 1]]
    [stored] = world.repo.list_cycles(world.strategy_id)
    assert stored.safety_orders_filled == 1 and stored == written[-1]

    restarted = world.engine()  # a new engine writes the row once, whatever it holds
    restarted.start()
    world.move("98")
    restarted.sync()
    assert world.repo.list_cycles(world.strategy_id)[0].safety_orders_filled == 2
