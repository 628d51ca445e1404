"""A strategy waiting for its start condition says what it waits for: status JSON and table,
the dashboard's rows, the API's strategy (all through services.status.waiting_for)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.status_table import render_table
from persistence.memory import MemoryRepository
from persistence.records import ActualState, DesiredState
from services.status import collect_status, status_json, waiting_for

NOW = datetime(2024, 1, 1, tzinfo=UTC)
PARAMS = {
    "base_order": "10",
    "safety_order": "10",
    "max_safety_orders": "2",
    "price_deviation": "1",
    "take_profit": "1",
    "start_condition": {"type": "rsi", "below": "30", "period": "14", "timeframe": "5m"},
}


def repo_with(state: ActualState) -> MemoryRepository:
    repo = MemoryRepository()
    user = repo.upsert_user("alice", now=NOW)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=NOW)
    strategy = repo.upsert_strategy(
        user.id,
        "eth",
        account_id=account.id,
        symbol="ETH/USDT",
        params=PARAMS,
        desired_state=DesiredState.RUNNING,
        now=NOW,
    )
    repo.set_actual_state(strategy.id, state, now=NOW)
    return repo


def test_a_waiting_strategy_shows_its_condition() -> None:
    repo = repo_with(ActualState.WAITING)
    lines = collect_status(repo, now=NOW)
    assert lines[0].waiting_for == "waiting for rsi14<30 on 5m"
    assert status_json(lines)["strategies"][0]["waiting_for"] == "waiting for rsi14<30 on 5m"
    assert "waiting for rsi14<30 on 5m" in render_table(lines)
    assert "wants running" not in render_table(lines)


def test_a_running_strategy_waits_for_nothing() -> None:
    repo = repo_with(ActualState.RUNNING)
    (record,) = repo.list_strategies()
    assert waiting_for(record) is None
    assert collect_status(repo, now=NOW)[0].waiting_for is None
