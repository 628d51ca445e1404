"""Onboarding sync on the in-memory repository (the fake the actor tests use) and rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.status_table import render_table
from config.loader import load_config
from domain.errors import DatabaseUnavailable
from persistence.memory import MemoryRepository
from services.onboarding import sync_config
from services.status import StrategyLine

T0 = datetime(2024, 6, 1, tzinfo=UTC)
CONFIG = """
markets:
  BTC/USDT: {feed: simulated, price: 30000, tick_size: 0.01, step_size: 0.00001, min_notional: 10}
users:
  - name: ann
    email: ann@example.com
    accounts: [{name: main, exchange: paper, balances: {USDT: 10000}}]
    strategies:
      - {name: a, account: main, symbol: BTC/USDT, base_order: 20, safety_order: 40,
         max_safety_orders: 2, price_deviation: 1, take_profit: 1}
      - {name: b, account: main, symbol: BTC/USDT, base_order: 20, safety_order: 40,
         max_safety_orders: 2, price_deviation: 1, take_profit: 1}
"""


class FailOnSecondStrategy:
    def __init__(self, inner: MemoryRepository) -> None:
        self._inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != "upsert_strategy":
            return attr

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 2:
                raise DatabaseUnavailable("database unavailable during upsert strategy (test)")
            return attr(*args, **kwargs)

        return failing


def test_memory_sync_is_atomic_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path)
    repo = MemoryRepository()
    with pytest.raises(DatabaseUnavailable):
        sync_config(config, FailOnSecondStrategy(repo), None, now=T0)
    assert repo.list_users(include_deleted=True) == []
    assert sync_config(config, repo, None, now=T0).strategies.created == 2
    before = repo.list_strategies()
    assert not sync_config(config, repo, None, now=T0 + timedelta(hours=1)).changed
    assert repo.list_strategies() == before


def line(**changes: Any) -> StrategyLine:
    values: dict[str, Any] = {
        "user": "ann",
        "name": "a",
        "symbol": "BTC/USDT",
        "state": "running",
        "desired_state": "running",
        "cycle": 3,
        "cycles_completed": 2,
        "realized_profit": Decimal("1.50"),
        "position_amount": Decimal("0.00100"),
        "average_price": Decimal("29000.5"),
        "open_orders": 2,
        "heartbeat_age_s": Decimal("3725.2"),
        "last_error": None,
    }
    values.update(changes)
    return StrategyLine(**values)


def test_table_shows_exact_numbers_readable_ages_and_short_errors() -> None:
    long_error = "exchange said:\n" + "x" * 200
    text = render_table(
        [line(), line(name="b-longer-name", heartbeat_age_s=None, last_error=long_error)]
    )
    header, first, second = text.splitlines()
    assert "1.5" in first and "0.001" in first and "29000.5" in first and "1h02m" in first
    assert header.index("SYMBOL") == first.index("BTC/USDT") == second.index("BTC/USDT")
    assert second.endswith("...") and "\n" not in second and len(second) < 220
    assert " - " in second  # no heartbeat yet
