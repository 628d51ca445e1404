"""A busy paper market shared by the process tests: three users, four strategies, two
seeded random walks ticking 20 times a second, so orders fill and cycles close in seconds."""

from __future__ import annotations

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
