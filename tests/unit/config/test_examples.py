"""The shipped example configs load and describe a setup that can actually trade."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

from config.loader import load_config
from config.schema import CsvMarket, LiveAccount, PaperAccount, SimulatedMarket
from config.secrets import resolved_url
from strategy.options import TakeProfitStep, start_condition
from strategy.params import MartingaleParams

EXAMPLES = Path(__file__).resolve().parents[3] / "config" / "examples"


def test_paper_example_loads_with_several_users_strategies_and_both_feeds() -> None:
    config = load_config(EXAMPLES / "paper.yaml")
    strategies = [s for u in config.users for s in u.strategies]
    assert len(config.users) >= 3
    assert len(strategies) >= 6
    feeds = {type(m) for m in config.markets.values()}
    assert feeds == {CsvMarket, SimulatedMarket}
    assert all(isinstance(a, PaperAccount) for u in config.users for a in u.accounts)
    assert {s.desired_state for s in strategies} == {"running", "paused", "stopped"}


def test_paper_example_uses_candle_files_inside_the_repository() -> None:
    config = load_config(EXAMPLES / "paper.yaml")
    for market in config.markets.values():
        if isinstance(market, CsvMarket):
            assert market.path.is_relative_to(EXAMPLES / "data"), market.path
            assert market.path.stat().st_size > 100_000


def test_paper_example_numbers_are_exact_decimals() -> None:
    config = load_config(EXAMPLES / "paper.yaml")
    alice = config.users[0]
    account = alice.accounts[0]
    assert isinstance(account, PaperAccount)
    assert account.fee_rate == Decimal("0.001")
    assert str(alice.strategies[0].base_order) == "0.002"
    assert str(config.markets["ETH/BTC"].tick_size) == "0.000001"


def test_live_example_is_valid_once_its_key_files_exist(tmp_path: Path) -> None:
    copy = tmp_path / "live.yaml"
    shutil.copy(EXAMPLES / "live.yaml.example", copy)
    (tmp_path / "secrets").mkdir()
    for name in ("okx.key", "okx.secret"):
        (tmp_path / "secrets" / name).write_text("x" * 16, encoding="utf-8")
    config = load_config(copy)
    accounts = config.users[0].accounts
    assert all(isinstance(a, LiveAccount) for a in accounts)
    assert [a.exchange for a in accounts] == ["binance", "okx"]
    url = resolved_url(config, {"MARTINGALE_DB_PASSWORD": "pw"})
    assert url == "mysql+pymysql://martingale:pw@127.0.0.1:3306/martingale"


def test_paper_example_shows_both_take_profit_variants() -> None:
    config = load_config(EXAMPLES / "paper.yaml")
    by_name = {s.name: s for u in config.users for s in u.strategies}
    params = {name: MartingaleParams.from_mapping(s.parameters()) for name, s in by_name.items()}
    assert params["ltc-slow"].trailing_deviation == Decimal("0.5")
    assert params["xmr-fast"].take_profit_steps == (
        TakeProfitStep(percent=Decimal(1), portion=Decimal(50)),
        TakeProfitStep(percent=Decimal(2), portion=Decimal(50)),
    )


def test_paper_example_has_a_strategy_waiting_for_an_rsi() -> None:
    config = load_config(EXAMPLES / "paper.yaml")
    strategies = {s.name: s for u in config.users for s in u.strategies}
    params = MartingaleParams.from_mapping(strategies["eth-rsi"].parameters())
    assert params.start_condition == start_condition("rsi below=30 period=14 timeframe=15m")
