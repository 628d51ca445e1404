"""A busy paper market shared by the process tests: three users, four strategies, two
markets that swing +-2% every couple of seconds (20 candles a second), so orders fill and
cycles close all the time. A random walk would do that only until it wandered off the
ladder; a wave always comes back, so "the strategies keep trading" is a fair thing to wait for.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from tests.e2e.harness import write_config

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


RULES = {"tick_size": "0.01", "step_size": "0.00001", "min_notional": "5"}
SPEED = 1200  # one 1-minute candle every 0.05 s


def write_wave(dest: Path, *, price: str, period: int, count: int = 2400) -> Path:
    """1-minute candles whose closes follow price * (1 + 2% sin(2 pi k / period))."""
    mid, tick = Decimal(price), Decimal("0.01")
    closes = [
        (mid * (1 + Decimal(str(0.02 * math.sin(2 * math.pi * k / period))))).quantize(
            tick, ROUND_HALF_EVEN
        )
        for k in range(count + 1)
    ]
    lines = ["timestamp,open,high,low,close,volume"]
    for k in range(1, count + 1):
        opened, closed = closes[k - 1], closes[k]
        at = f"2024-01-{1 + k // 1440:02d}T{k % 1440 // 60:02d}:{k % 60:02d}:00Z"
        lines.append(f"{at},{opened},{max(opened, closed)},{min(opened, closed)},{closed},1")
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def market(tmp_path: Path, symbol: str, price: str, period: int, moving: bool) -> dict[str, object]:
    if not moving:  # a market that stays at `price`: nothing fills after the first tick
        return {"feed": "simulated", "price": price, "volatility": "0", "interval": "0.05", **RULES}
    name = f"{symbol.replace('/', '-')}-1m.csv"  # the replay reads the period from the name
    path = write_wave(tmp_path / name, price=price, period=period)
    return {"feed": "csv", "path": str(path), "speed": str(SPEED), **RULES}


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


def trading_config(tmp_path: Path, db_url: str, *, moving: bool, name: str) -> Path:
    """Relative paths: the venue file is var/paper.sqlite under tmp_path, for the processes
    (cwd) and the in-process service (relative to the config's directory) alike."""
    return write_config(
        tmp_path / name,
        {
            "database": {"url": db_url},
            "paper": {"state_file": "var/paper.sqlite"},
            "logging": {"format": "json", "level": "info"},
            "markets": {
                "BTC/USDT": market(tmp_path, "BTC/USDT", "30000", 40, moving),
                "SOL/USDT": market(tmp_path, "SOL/USDT", "150", 34, moving),
            },
            "users": [
                user("alice", [("btc", "BTC/USDT", {}), ("sol", "SOL/USDT", {})]),
                user("bob", [("btc-limit", "BTC/USDT", {"base_order_type": "limit"})]),
                user("carol", [("sol", "SOL/USDT", {"max_active_safety_orders": 4})]),
            ],
        },
    )
