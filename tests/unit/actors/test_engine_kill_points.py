"""Property: killing the engine anywhere in a scripted run never loses or doubles an order.

A scripted market (three cycles: safety fills, take-profits, cooldowns) is played against the
engine with fees on. Hypothesis picks kill points: an exchange call that dies before or after
reaching the venue, or a process that dies right after its step committed. A killed engine is
discarded and a fresh one starts on the same repository and venue (what a restarted process
does). At the end the run must look exactly like the run nobody killed, and both sides of the
wire must agree: every client order id on the venue once, every order row in the venue's
state, every venue trade recorded once, and the snapshot's position equal to the base the
account holds.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from actors.engine import Engine
from strategy.state import Phase
from tests.actors.fakes import Crash, EngineWorld, duplicated_ids

FEE = Decimal("0.001")
SCRIPT = (
    "99",
    "98",
    "97.5",
    "100.6",
    "100",
    "99.4",
    "98.9",
    "101",
    "101",
    "99",
    "101.5",
    "100",
    "99.9",
)
KINDS = ("exchange-before", "exchange-after", "commit")


@dataclass(frozen=True, slots=True)
class Kill:
    step: int
    kind: str
    after_calls: int


@dataclass(frozen=True, slots=True)
class Outcome:
    orders: tuple[tuple[str, str, Decimal, Decimal], ...]
    cycles_closed: int
    realized_profit: Decimal
    position: Decimal
    phase: Phase


class Runner:
    """Plays SCRIPT; on Crash it discards the engine and starts a new one, like a restart."""

    def __init__(self, world: EngineWorld) -> None:
        self.w = world
        self.restarts = 0
        self.engine = self._start()

    def _start(self) -> Engine:
        for _ in range(10):  # a kill still armed may hit the start path itself
            engine = self.w.engine()
            try:
                engine.start()
            except Crash:
                self.restarts += 1
                continue
            return engine
        raise AssertionError("the engine never got through its start path")

    def step(self) -> None:
        for _ in range(10):
            try:
                self.engine.sync()
                state = self.engine.state
                assert state is not None
                wake = state.wake_at
                if state.phase is Phase.COOLDOWN and wake is not None and wake <= self.w.clock.now:
                    self.engine.on_cooldown()
                return
            except Crash:
                self.restarts += 1
                self.engine = self._start()
        raise AssertionError("a step kept crashing")

    def arm(self, kill: Kill) -> None:
        if kill.kind == "commit":
            self.w.store.crash_after_commit = True
        else:
            self.w.exchange.kill_in = kill.after_calls
            self.w.exchange.kill_after = kill.kind == "exchange-after"

    def disarm(self) -> None:
        self.w.store.crash_after_commit = False
        self.w.exchange.kill_in = None


def play(kills: list[Kill]) -> tuple[Outcome, int]:
    with tempfile.TemporaryDirectory() as tmp:
        w = EngineWorld(Path(tmp), fee_rate=FEE)
        try:
            by_step = {k.step: k for k in kills}
            start_kill = by_step.get(-1)
            if start_kill is not None:
                w.store.crash_after_commit = start_kill.kind == "commit"
                if start_kill.kind != "commit":
                    w.exchange.kill_in = start_kill.after_calls
                    w.exchange.kill_after = start_kill.kind == "exchange-after"
            runner = Runner(w)
            runner.disarm()
            for i, price in enumerate(SCRIPT):
                w.move(price, seconds=40)
                if i in by_step:
                    runner.arm(by_step[i])
                runner.step()
                runner.disarm()
            check_both_sides_agree(w, runner.engine)
            state = runner.engine.state
            assert state is not None
            venue = sorted(
                (o.client_order_id, o.state.value, o.filled, o.cost) for o in w.venue_orders()
            )
            return (
                Outcome(
                    orders=tuple(venue),
                    cycles_closed=state.cycles_closed,
                    realized_profit=state.realized_profit,
                    position=state.book.position,
                    phase=state.phase,
                ),
                runner.restarts,
            )
        finally:
            w.close()


def check_both_sides_agree(w: EngineWorld, engine: Engine) -> None:
    orders = w.venue_orders()
    assert duplicated_ids(orders) == []
    venue = {o.client_order_id: o for o in orders}
    db = w.db_orders()
    assert set(db) == set(venue)
    for coid, row in db.items():
        v = venue[coid]
        assert (row.state, row.filled, row.cost) == (v.state, v.filled, v.cost), coid
    venue_trades = sorted(f.trade_id for f in w.paper.fetch_fills("ETH/USDT"))
    db_trades = sorted(f.trade_id for f in w.repo.list_fills(w.strategy_id))
    assert db_trades == venue_trades
    state = engine.state
    assert state is not None
    eth = w.paper.fetch_balances().get("ETH")
    assert state.book.position == (eth.total if eth is not None else 0)


@cache
def baseline() -> Outcome:
    outcome, restarts = play([])
    assert restarts == 0
    return outcome


def test_the_unkilled_script_runs_three_cycles() -> None:
    outcome = baseline()
    assert outcome.cycles_closed == 3
    assert outcome.realized_profit > 0
    assert outcome.phase is Phase.ACTIVE


kills = st.lists(
    st.builds(
        Kill,
        step=st.integers(min_value=-1, max_value=len(SCRIPT) - 1),
        kind=st.sampled_from(KINDS),
        after_calls=st.integers(min_value=0, max_value=6),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda k: k.step,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kills=kills)
def test_random_kill_points_never_lose_or_double_an_order(kills: list[Kill]) -> None:
    outcome, restarts = play(kills)
    event(f"restarts: {min(restarts, 3)}")
    assert outcome == baseline()
