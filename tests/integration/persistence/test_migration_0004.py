"""Migration 0004 (issue 11) on a database that already holds rows, and back down again."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import text

from domain.orders import Fill, Side
from persistence.database import make_engine
from persistence.migrate import downgrade, upgrade
from persistence.records import CycleStatus
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, at, seed_owner, transaction

NOW = T0.replace(tzinfo=None).isoformat(sep=" ")


def _seed_0003(url: str) -> None:
    """One user, account, strategy, cycle, order and fill, written as 0003 knew them."""
    assert upgrade(url, "0003") == "0003"
    with transaction(url) as conn:
        seed_owner(conn)
        conn.execute(
            text(
                "INSERT INTO cycles (id, strategy_id, number, status, amount, cost, "
                "safety_orders_filled, opened_at) "
                "VALUES (1, 1, 1, 'open', '0.1', '10', 0, :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO orders (id, strategy_id, account_id, cycle, leg, client_order_id, "
                "symbol, side, type, price, amount, filled, cost, state, created_at, updated_at) "
                "VALUES (1, 1, 1, 1, 'b', 'mg1c1b', 'ETH/USDT', 'buy', 'limit', '100', '0.1', "
                "'0.1', '10', 'filled', :t, :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO fills (id, account_id, strategy_id, order_id, cycle, trade_id, "
                "client_order_id, symbol, side, price, amount, fee, recorded_at) "
                "VALUES (1, 1, 1, 1, 1, '17', 'mg1c1b', 'ETH/USDT', 'buy', '100', '0.1', '0', :t)"
            ),
            {"t": NOW},
        )


def _fill(trade_id: str, symbol: str) -> Fill:
    return Fill(
        trade_id=trade_id,
        client_order_id="manual",
        symbol=symbol,
        side=Side.BUY,
        price=Decimal("1"),
        amount=Decimal("1"),
        fee=Decimal(0),
        timestamp=at(1),
    )


def test_0004_upgrades_a_database_with_rows_and_keeps_them(db_url: str) -> None:
    _seed_0003(db_url)
    assert upgrade(db_url, "0004") == "0004"
    upgrade(db_url)  # the repository reads the current schema
    engine = make_engine(db_url)
    try:
        repo = SqlRepository(engine)
        account = repo.get_account(1)
        assert (account.sandbox, account.base_url) == (False, None)
        assert account.venue == "binance@live"
        strategy = repo.get_strategy(1)
        assert strategy.config_state is None and strategy.version == 3
        [cycle] = repo.list_cycles(1)
        assert cycle.status is CycleStatus.OPEN and cycle.amount == Decimal("0.1")
        assert (cycle.carried_amount, cycle.carried_cost) == (Decimal(0), Decimal(0))
        assert [f.trade_id for f in repo.list_fills(1)] == ["17"]
        assert re.fullmatch("[a-z]{4}", repo.deployment_tag())
        # The old key is gone: trade 17 of another symbol of the same account is stored.
        assert repo.apply_fill(1, _fill("17", "BTC/USDT"), now=at(2))
        assert not repo.apply_fill(1, _fill("17", "ETH/USDT"), now=at(2))
    finally:
        engine.dispose()


def test_every_database_gets_its_own_deployment_tag(sqlite_url: str) -> None:
    tags = set()
    for n in range(6):
        url = sqlite_url.replace("martingale.sqlite", f"m{n}.sqlite")
        upgrade(url)
        with transaction(url) as conn:
            rows = conn.execute(text("SELECT id, tag FROM deployment")).all()
        assert len(rows) == 1 and re.fullmatch("[a-z]{4}", rows[0].tag)
        tags.add(rows[0].tag)
    assert len(tags) > 1  # 6 draws of 26**4 all equal: about 1 in 10**22


def test_0004_downgrades_to_0003_keeping_the_rows(db_url: str) -> None:
    _seed_0003(db_url)
    upgrade(db_url)
    assert downgrade(db_url, "0003") == "0003"
    with transaction(db_url) as conn:
        assert conn.execute(text("SELECT trade_id FROM fills")).scalars().all() == ["17"]
        assert conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar() == 1
        assert conn.execute(text("SELECT COUNT(*) FROM cycles")).scalar() == 1
    assert upgrade(db_url, "0004") == "0004"  # and up again


def test_0004_refuses_to_downgrade_when_a_trade_id_is_on_two_symbols(db_url: str) -> None:
    _seed_0003(db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert SqlRepository(engine).apply_fill(1, _fill("17", "BTC/USDT"), now=at(2))
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="two symbols of one account"):
        downgrade(db_url, "0003")
    engine = make_engine(db_url)
    try:
        assert len(SqlRepository(engine).list_fills(1)) == 2
    finally:
        engine.dispose()
