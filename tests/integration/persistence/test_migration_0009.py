"""Migration 0009 (cycles.received) on a database that already holds cycles, on SQLite and
MySQL: closed cycles get their proceeds back from their profit, open ones from their sell
fills (fees in quote taken off, fees in another currency not); and back down again."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from persistence.database import make_engine
from persistence.migrate import downgrade, upgrade
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, seed_owner, transaction

NOW = T0.replace(tzinfo=None).isoformat(sep=" ")
D = Decimal


def _fill(conn: Connection, n: int, cycle: int, side: str, price: str, amount: str, fee: str,
          currency: str | None) -> None:  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO fills (id, account_id, strategy_id, cycle, trade_id, client_order_id, "
            "symbol, side, price, amount, fee, fee_currency, recorded_at) VALUES "
            "(:n, 1, 1, :cycle, :trade, :coid, 'ETH/USDT', :side, :price, :amount, :fee, "
            ":currency, :t)"
        ),
        {
            "n": n,
            "cycle": cycle,
            "trade": str(n),
            "coid": f"mg1c{cycle}x{n}",
            "side": side,
            "price": price,
            "amount": amount,
            "fee": fee,
            "currency": currency,
            "t": NOW,
        },
    )


def _seed_0008(url: str) -> None:
    assert upgrade(url, "0008") == "0008"
    with transaction(url) as conn:
        seed_owner(conn)
        # Cycle 1 closed: 10.5 received for 10 spent, 0.001 ETH (cost 0.1) carried: profit 0.6.
        # Cycle 2 open: holds 0.06 of 0.1 bought for 10; sold 0.04 in two fills.
        conn.execute(
            text(
                "INSERT INTO cycles (id, strategy_id, number, status, amount, cost, "
                "realized_profit, carried_amount, carried_cost, safety_orders_filled, "
                "opened_at, closed_at) VALUES "
                "(1, 1, 1, 'closed', '0.101', '10', '0.6', '0.001', '0.1', 0, :t, :t), "
                "(2, 1, 2, 'open', '0.06', '10', NULL, '0', '0', 1, :t, NULL)"
            ),
            {"t": NOW},
        )
        _fill(conn, 1, 2, "buy", "100", "0.1", "0.01", "USDT")
        _fill(conn, 2, 2, "sell", "105", "0.03", "0.00315", "usdt")  # 3.15 - 0.00315
        _fill(conn, 3, 2, "sell", "110", "0.01", "0.0001", "BNB")  # 1.1, the fee is not quote
        _fill(conn, 4, 1, "sell", "999", "1", "0", None)  # another cycle's: not counted


def _received(url: str) -> dict[int, Decimal]:
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        return {c.number: c.received for c in repo.list_cycles(1)}
    finally:
        engine.dispose()


def test_cycles_come_out_of_0009_with_what_their_sells_received(db_url: str) -> None:
    _seed_0008(db_url)
    assert upgrade(db_url, "0009") == "0009"
    assert _received(db_url) == {1: D("10.5"), 2: D("3.14685") + D("1.1")}
    assert downgrade(db_url, "0008") == "0008"
    assert upgrade(db_url, "0009") == "0009"  # and up again
