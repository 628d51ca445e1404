"""The services' tests run on the fake repository and both real databases, like the
repository contract suite (its `repo` fixture), and share a few builders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from persistence.records import ActualState, DesiredState
from services.strategies import StrategyInput, create_strategy
from tests.integration.persistence.conftest import repo

__all__ = ["repo"]

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

PARAMS = {
    "base_order": "10",
    "safety_order": "20",
    "max_safety_orders": 2,
    "price_deviation": "1",
    "take_profit": "1.5",
    "price": "100",
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def user_with_account(repo: Any, name: str = "alice", account: str = "main") -> int:
    user = repo.upsert_user(name, now=T0)
    repo.upsert_account(user.id, account, exchange="paper", now=T0)
    return int(user.id)


def new_strategy(
    repo: Any, user_id: int, name: str = "eth", symbol: str = "ETH/USDT", **params: Any
) -> int:
    data = StrategyInput(name=name, account="main", symbol=symbol, params={**PARAMS, **params})
    record, _ = create_strategy(repo, user_id, data, now=T0)
    return int(record.id)


def stop(repo: Any, strategy_id: int, actual: ActualState = ActualState.STOPPED) -> None:
    repo.set_desired_state(strategy_id, DesiredState.STOPPED, now=at(1))
    repo.set_actual_state(strategy_id, actual, now=at(1))
