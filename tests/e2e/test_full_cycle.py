"""A whole Martingale cycle on a replayed real window, through the real in-process service.

The window (80 five-minute ETH/BTC candles from 2018-01-11 12:00) was chosen offline by
replaying the strategy below on candle lows and highs: whichever of its first 25 candles the
engine enters on, the price dips through at least one safety order and then recovers past the
take-profit, even when the engine reacts 15 candles late (1.5 s at this speed). So the base
order, a safety order and the take-profit fill on a slow, loaded machine too.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.bootstrap import Service
from domain.orders import OrderState, Side
from tests.e2e.harness import (
    audit,
    read_db,
    read_venue,
    repository,
    running_service,
    settle,
    wait_for,
    write_candles,
    write_config,
)

FIRST_CANDLE = 373
CANDLES = 80
SPEED = 3000  # one 5-minute candle every 0.1 s: the window plays in about 8 s


def cycle_config(tmp_path: Path, db_url: str) -> Path:
    candles = write_candles(
        tmp_path / "ETH-BTC-5m.csv", "ETH-BTC-5m.csv", start=FIRST_CANDLE, count=CANDLES
    )
    return write_config(
        tmp_path / "service.yaml",
        {
            "database": {"url": db_url},
            "paper": {"state_file": str(tmp_path / "paper.sqlite")},
            "logging": {"format": "json", "level": "warning"},
            "markets": {
                "ETH/BTC": {
                    "feed": "csv",
                    "path": str(candles),
                    "speed": str(SPEED),
                    "tick_size": "0.000001",
                    "step_size": "0.001",
                    "min_notional": "0.0001",
                }
            },
            "users": [
                {
                    "name": "ada",
                    "email": "ada@example.com",
                    "accounts": [
                        {
                            "name": "main",
                            "exchange": "paper",
                            "balances": {"BTC": "1"},
                            "fee_rate": "0.001",
                        }
                    ],
                    "strategies": [
                        {
                            "name": "eth-dca",
                            "account": "main",
                            "symbol": "ETH/BTC",
                            "base_order": "0.01",
                            "safety_order": "0.02",
                            "max_safety_orders": 3,
                            "price_deviation": "1",
                            "step_scale": "1",
                            "volume_scale": "2",
                            "take_profit": "0.5",
                            "max_active_safety_orders": 3,
                            "cooldown": "1",
                        }
                    ],
                }
            ],
        },
    )


def replay_finished(service: Service) -> bool:
    assert service.root is not None
    stats = service.root.proxy().feed_stats().get(timeout=10)
    return bool(stats["paper:ETH/BTC"]["ticks"] >= CANDLES)


@pytest.mark.slow
def test_a_cycle_runs_from_base_order_through_safety_orders_to_take_profit(
    tmp_path: Path, db_url: str
) -> None:
    config = cycle_config(tmp_path, db_url)

    with running_service(config) as service:
        wait_for(lambda: replay_finished(service), bool, what="the replay to end", timeout=120)
        settle(service, tmp_path / "paper.sqlite", db_url)  # the prices no longer move

    db = read_db(db_url)
    venue = read_venue(tmp_path / "paper.sqlite")  # only now: the service let go of the file

    assert audit(venue, db) == []
    with_safety = [c for c in db.closed_cycles() if c.safety_orders_filled >= 1]
    assert with_safety, f"no cycle closed after a safety order fill: {db.cycles}"
    for closed in db.closed_cycles():
        assert closed.realized_profit is not None and closed.realized_profit > 0
    first = with_safety[0]
    orders = db.orders_of("eth-dca")
    filled_buys = [o for o in orders if o.side is Side.BUY and o.state is OrderState.FILLED]
    filled_sells = [o for o in orders if o.side is Side.SELL and o.state is OrderState.FILLED]
    assert len(filled_buys) >= 1 + first.safety_orders_filled
    assert filled_sells, "the take-profit sell never filled"
    # The profit is what the fills say: sell proceeds minus buy costs, fees in their currency.
    with repository(db_url) as repo:
        [sid] = [s for s, rec in db.strategies.items() if rec.name == "eth-dca"]
        fills = repo.list_fills(sid, cycle=first.number)
    spent = sum((f.cost for f in fills if f.side is Side.BUY), Decimal(0))
    received = sum((f.cost for f in fills if f.side is Side.SELL), Decimal(0))
    assert received > spent
    assert isinstance(first.realized_profit, Decimal)
    assert first.realized_profit <= received - spent
