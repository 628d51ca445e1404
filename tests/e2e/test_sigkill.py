"""`martingale run` killed with SIGKILL at random points while trading, restarted each time.

Crash-only: every start is a recovery (load, reconcile with the venue, then act), so after any
number of kills no order may be lost or placed twice, and the strategies carry on. The kill
points are random but seeded, so a failure replays with the same delays.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from persistence.migrate import upgrade
from tests.e2e.harness import (
    ServiceProcess,
    audit,
    launch,
    read_db,
    read_venue,
    running_service,
    settle,
    wait_for,
    write_config,
)

KILLS = 4
SEED = 20240601

PARAMS = {
    "base_order": "20",
    "safety_order": "20",
    "max_safety_orders": 4,
    "price_deviation": "0.3",
    "step_scale": "1.2",
    "volume_scale": "1.5",
    "take_profit": "0.3",
    "max_active_safety_orders": 2,
    "cooldown": 0,
}


def market(price: str, seed: int, volatility: str) -> dict[str, object]:
    return {
        "feed": "simulated",
        "price": price,
        "volatility": volatility,
        "seed": seed,
        "interval": "0.05",
        "tick_size": "0.01",
        "step_size": "0.00001",
        "min_notional": "5",
    }


def user(name: str, strategies: list[tuple[str, str, dict[str, object]]]) -> dict[str, object]:
    return {
        "name": name,
        "email": f"{name}@example.com",
        "accounts": [{"name": "main", "exchange": "paper", "balances": {"USDT": "100000"}}],
        "strategies": [
            {"name": sname, "account": "main", "symbol": symbol, **PARAMS, **extra}
            for sname, symbol, extra in strategies
        ],
    }


def trading_config(tmp_path: Path, db_url: str, *, volatility: str, name: str) -> Path:
    """Relative paths: the venue file is var/paper.sqlite under tmp_path, for the processes
    (cwd) and the in-process service (relative to the config's directory) alike."""
    return write_config(
        tmp_path / name,
        {
            "database": {"url": db_url},
            "paper": {"state_file": "var/paper.sqlite"},
            "logging": {"format": "json", "level": "info"},
            "markets": {
                "BTC/USDT": market("30000", 11, volatility),
                "SOL/USDT": market("150", 12, volatility),
            },
            "users": [
                user("alice", [("btc", "BTC/USDT", {}), ("sol", "SOL/USDT", {})]),
                user("bob", [("btc-limit", "BTC/USDT", {"base_order_type": "limit"})]),
                user("carol", [("sol", "SOL/USDT", {"max_active_safety_orders": 4})]),
            ],
        },
    )


def progress(db_url: str) -> tuple[int, int]:
    """(orders placed, cycles closed) so far, all strategies together."""
    db = read_db(db_url)
    return len(db.orders), len(db.closed_cycles())


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_doubles_nothing(
    tmp_path: Path, db_url: str, processes: list[ServiceProcess]
) -> None:
    # 0.4% per tick, 20 ticks a second: safety orders and take-profits fill within seconds.
    config = trading_config(tmp_path, db_url, volatility="0.004", name="service.yaml")
    upgrade(db_url)  # `martingale db upgrade`: run never migrates an existing MySQL database
    rng = random.Random(SEED)
    args = ["run", "--config", str(config)]

    counts = []
    for attempt in range(KILLS):
        run = launch(args, cwd=tmp_path, log=tmp_path / f"run-{attempt}.log")
        processes.append(run)
        run.wait_started()
        time.sleep(rng.uniform(0.3, 3.0))  # the random kill point (not an assertion)
        run.stop(signal.SIGKILL, timeout=30)
        counts.append(progress(db_url))

    final = launch(args, cwd=tmp_path, log=tmp_path / "run-final.log")
    processes.append(final)
    final.wait_started()
    wait_for(
        lambda: progress(db_url),
        lambda now: now[0] >= counts[-1][0] + 10 and now[1] > counts[-1][1],
        what="the strategies to keep placing orders and closing cycles after the last restart",
        timeout=120,
    )
    assert final.stop(signal.SIGTERM) == 0, final.output()[-3000:]

    venue_file = tmp_path / "var" / "paper.sqlite"
    db = read_db(db_url)
    problems = audit(read_venue(venue_file), db, unapplied_fills_ok=True)
    assert problems == [], "\n".join(problems)
    assert counts[0][0] > 0, "nothing was traded before the first kill"
    assert len(db.orders) > counts[-1][0] > counts[0][0], counts
    assert len(db.closed_cycles()) > counts[-1][1] >= counts[0][1], counts

    # One more start, on a market that no longer moves: the start path applies whatever the
    # venue did after the engines stopped listening, and then both ledgers agree exactly.
    frozen = trading_config(tmp_path, db_url, volatility="0", name="frozen.yaml")
    with running_service(frozen) as service:
        settle(service, venue_file, db_url)
    db = read_db(db_url)
    problems = audit(read_venue(venue_file), db)
    assert problems == [], "\n".join(problems)
    traded = {sid for _, sid, _ in db.fills}
    assert traded == set(db.strategies), "a strategy never traded"
