"""Migration 0010 (strategies' closed-cycle totals) on a database that already holds cycles,
on SQLite and MySQL: the totals are filled in exactly, status reads them, and the next close
keeps them; and back down again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text

from persistence.database import make_engine
from persistence.migrate import downgrade, upgrade
from persistence.records import CycleStatus
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, open_cycle, seed_owner, transaction

NOW = T0.replace(tzinfo=None).isoformat(sep=" ")
BIG = "123456789012345678.000000000000000001"  # 36 digits: a sum at 28 digits would round


def _execute(url: str, sql: str, **params: object) -> None:
    with transaction(url) as conn:
        conn.execute(text(sql), {"t": NOW, **params})


def _seed(url: str) -> None:
    assert upgrade(url, "0009") == "0009"
    with transaction(url) as conn:
        seed_owner(conn, exchange="paper", strategies=((1, "s1"), (2, "s2")))
    rows = [  # strategy, number, status, profit
        (1, 1, "closed", BIG),
        (1, 2, "closed", "-0.5"),
        (1, 3, "aborted", "7"),  # not a completed cycle
        (1, 4, "open", None),
    ]
    for sid, number, status, profit in rows:
        _execute(
            url,
            "INSERT INTO cycles (strategy_id, number, status, amount, cost, realized_profit, "
            "safety_orders_filled, opened_at) VALUES (:sid, :n, :st, '0', '0', :p, 0, :t)",
            sid=sid,
            n=number,
            st=status,
            p=profit,
        )


def test_totals_come_out_of_0010_exact_and_follow_the_next_close(db_url: str) -> None:
    _seed(db_url)
    assert upgrade(db_url, "0010") == "0010"
    repo = SqlRepository(make_engine(db_url))
    try:
        status = {s.strategy.id: s for s in repo.list_status()}
        assert status[1].cycles_completed == 2
        assert status[1].realized_profit == Decimal("123456789012345677.500000000000000001")
        assert (status[2].cycles_completed, status[2].realized_profit) == (0, 0)
        # The next close, through the repository: recounted in the same transaction.
        repo.upsert_cycle(2, open_cycle(1, amount=Decimal(1), cost=Decimal(10)))
        repo.close_cycle(2, 1, realized_profit=Decimal("0.25"), now=datetime.now(UTC))
        again = {s.strategy.id: s for s in repo.list_status()}
        assert (again[2].cycles_completed, again[2].realized_profit) == (1, Decimal("0.25"))
        repo.close_cycle(2, 1, realized_profit=Decimal("0.25"), now=datetime.now(UTC))
        assert repo.list_status()[1].cycles_completed == 1  # written twice, counted once
        assert repo.list_cycles(1)[2].status is CycleStatus.ABORTED
    finally:
        repo._engine.dispose()
    assert downgrade(db_url, "0009") == "0009"
    assert upgrade(db_url, "0010") == "0010"
