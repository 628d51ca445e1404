"""Helpers for config tests: write a YAML file next to a copy of a candle file."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from config.schema import ServiceConfig

CANDLES = "timestamp,open,high,low,close,volume\n2018-01-10T04:55:00Z,0.1,0.1,0.1,0.1,1\n"

MINIMAL = """
markets:
  ETH/BTC:
    feed: simulated
    price: 0.1
    tick_size: 0.000001
    step_size: 0.001
    min_notional: 0.0001
users:
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {BTC: 1}
    strategies:
      - name: s1
        account: main
        symbol: ETH/BTC
        base_order: 0.002
        safety_order: 0.004
        max_safety_orders: 3
        price_deviation: 1.5
        take_profit: 1.5
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "service.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_ok(write_config: Callable[[str], Path]) -> Callable[[str], ServiceConfig]:
    return lambda text: load_config(write_config(text))


@pytest.fixture
def load_error(write_config: Callable[[str], Path]) -> Callable[[str], ConfigError]:
    def load(text: str) -> ConfigError:
        path = write_config(text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(path) in str(info.value)
        return info.value

    return load
