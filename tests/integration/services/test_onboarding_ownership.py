"""A config file's sync manages what the file created, and leaves alone what the REST API
created: restarting `martingale run` must not stop API users' and API strategies' trading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.loader import load_config
from persistence.records import DesiredState
from services.onboarding import sync_config
from services.strategies import StrategyInput, create_strategy
from services.users import create_user

T0 = datetime(2024, 6, 1, tzinfo=UTC)
MARKET = """
markets:
  BTC/USDT: {feed: simulated, price: 30000, tick_size: 0.01, step_size: 0.00001, min_notional: 10}
"""
STRATEGY = """      - {name: NAME, account: main, symbol: BTC/USDT, base_order: 20, safety_order: 40,
         max_safety_orders: 2, price_deviation: 1, take_profit: 1}
"""
PARAMS = {
    "base_order": "20",
    "safety_order": "40",
    "max_safety_orders": "2",
    "price_deviation": "1",
    "take_profit": "1",
    "price": "30000",
}


def _config(tmp_path: Path, strategies: list[str]) -> Any:
    text = (
        MARKET
        + """
users:
  - name: ann
    email: ann@example.com
    accounts: [{name: main, exchange: paper, balances: {USDT: 10000}}]
    strategies:
"""
        + "".join(STRATEGY.replace("NAME", name) for name in strategies)
    )
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _desired(repo: Any, user: str) -> dict[str, DesiredState]:
    found = repo.find_user(user)
    return {s.name: s.desired_state for s in repo.list_strategies(user_id=found.id)}


def test_a_sync_stops_what_the_file_dropped_and_nothing_the_api_made(
    repo: Any, tmp_path: Path
) -> None:
    sync_config(_config(tmp_path, ["a", "b"]), repo, None, now=T0)
    ann = repo.find_user("ann")
    assert ann.source == "config"
    # the API: a strategy for the file's user, and a user of its own with a strategy
    api = StrategyInput(name="api", account="main", symbol="BTC/USDT", params=PARAMS)
    create_strategy(repo, ann.id, api, now=T0)
    bob = create_user(repo, "bob", now=T0)
    assert bob.source == "api"
    repo.upsert_account(bob.id, "main", exchange="paper", now=T0)
    create_strategy(repo, bob.id, api, now=T0)

    later = T0 + timedelta(minutes=1)
    report = sync_config(_config(tmp_path, ["a"]), repo, None, now=later)  # "b" dropped
    assert report.strategies.stopped == 1
    assert _desired(repo, "ann") == {
        "a": DesiredState.RUNNING,
        "b": DesiredState.STOPPED,
        "api": DesiredState.RUNNING,
    }
    assert _desired(repo, "bob") == {"api": DesiredState.RUNNING}
    assert repo.find_user("bob").source == "api"
