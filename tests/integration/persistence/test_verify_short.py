"""`db verify`'s ledger check on a short strategy run by the real engine: its negative carried
debt is read back as sold base, and a record that disagrees with its fills is named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import update

from persistence import models as m
from persistence.backup import verify
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from tests.actors.fakes import PARAMS, EngineWorld, FaultyStore, add_strategy


def test_a_short_with_a_carried_debt_verifies_and_a_wrong_carry_is_named(
    db_url: str, tmp_path: Path
) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    world = EngineWorld(tmp_path, fee_rate=Decimal("0.001"))
    try:
        world.repo = SqlRepository(engine)  # type: ignore[assignment]
        world.strategy_id = add_strategy(world.repo, params={**PARAMS, "direction": "short"})  # type: ignore[arg-type]
        world.store = FaultyStore(world.repo)  # type: ignore[arg-type]
        world.venue.deposit("alice", "ETH", Decimal("10"))
        running = world.started()  # sells 1 ETH at 100
        world.move("98.9")  # bought back, its base fee leaves 0.001 ETH owed: carried
        running.sync()
        world.clock.advance(60)
        running.on_cooldown()  # cycle 2 sells again, with the debt in its book
        world.move("101")  # its first safety sell fills too
        running.sync()
        cycles = world.repo.list_cycles(world.strategy_id)
        assert cycles[0].carried_amount == Decimal("-0.001")
        assert verify(db_url) == []
        with engine.begin() as conn:
            conn.execute(
                update(m.CYCLES)
                .where(m.CYCLES.c.number == 1)
                .values(carried_amount=Decimal("0.001"))  # the sign lost
            )
        problems = verify(db_url)
        sid = world.strategy_id
        assert any(
            p.startswith(f"strategy {sid} cycle 1: carried 0.001") and "leave -0.001" in p
            for p in problems
        ), problems
    finally:
        world.close()
        engine.dispose()
