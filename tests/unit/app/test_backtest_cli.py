"""`martingale backtest` from the command line: figures for each file, JSON that parses back to
the same profit, and bad input refused (exit 2) with the option or the file's line named."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli import main

DATA = Path(__file__).parents[3] / "config/examples/data"
ARGS = [
    *("--base-order", "0.002", "--safety-order", "0.004", "--max-safety-orders", "4"),
    *("--price-deviation", "1.5", "--take-profit", "1.5", "--balance", "1"),
    *("--tick-size", "0.000001", "--step-size", "0.001", "--min-notional", "0.0001"),
]


def test_a_backtest_prints_its_figures_and_the_same_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["backtest", str(DATA / "ETH-BTC-5m.csv"), *ARGS]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ETH/BTC ") and "cycles closed" in text and "max drawdown" in text
    assert main(["backtest", str(DATA / "ETH-BTC-5m.csv"), *ARGS, "--json"]) == 0
    [figures] = json.loads(capsys.readouterr().out)
    assert figures["symbol"] == "ETH/BTC" and figures["cycles"] > 0
    profit = Decimal(figures["profit"])
    assert f"{profit.quantize(Decimal('0.00000001'))} BTC" in text


def test_a_bad_parameter_names_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    bad = [*ARGS[:-2], "--take-profit", "-1"]
    assert main(["backtest", str(DATA / "ETH-BTC-5m.csv"), *bad]) == 2
    assert "--take-profit" in capsys.readouterr().err


def test_a_bad_candle_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "ETH-BTC-5m.csv"
    broken.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2018-01-10T04:55:00Z,0.1,0.1,0.1,0.1,1\n"
        "2018-01-10T05:00:00Z,0.1,oops,0.1,0.1,1\n"
    )
    assert main(["backtest", str(broken), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "ETH-BTC-5m.csv" in err and "3" in err


def test_a_file_that_names_no_market_needs_symbol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = tmp_path / "candles.csv"
    odd.write_text((DATA / "ETH-BTC-5m.csv").read_text())
    assert main(["backtest", str(odd), *ARGS]) == 2
    assert "--symbol" in capsys.readouterr().err
    assert main(["backtest", str(odd), *ARGS, "--symbol", "ETH/BTC"]) == 0


def test_plot_draws_a_png_per_market(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(DATA / "ETH-BTC-5m.csv"), str(DATA / "LTC-BTC-5m.csv")]
    assert main(["backtest", *files, *ARGS, "--plot", str(tmp_path / "run.png")]) == 0
    for market in ("ETH-BTC-5m", "LTC-BTC-5m"):
        drawn = (tmp_path / f"run-{market}.png").read_bytes()
        assert drawn.startswith(b"\x89PNG") and len(drawn) > 20_000
    assert capsys.readouterr().out.count("cycles closed") == 2


def test_a_strategy_from_a_config_file_brings_its_params_rules_and_fee(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = str(Path(__file__).parents[3] / "config/examples/paper.yaml")
    file = str(DATA / "ETH-BTC-5m.csv")
    assert (
        main(["backtest", file, "--config", config, "--strategy", "alice/eth-dca", "--json"]) == 0
    )
    [from_file] = json.loads(capsys.readouterr().out)
    same = [
        *("--base-order", "0.002", "--safety-order", "0.004", "--max-safety-orders", "5"),
        *("--price-deviation", "1.5", "--step-scale", "1.2", "--volume-scale", "1.5"),
        *("--take-profit", "1.5", "--max-active-safety-orders", "2", "--cooldown", "60"),
        *("--tick-size", "0.000001", "--step-size", "0.001", "--min-notional", "0.0001"),
    ]
    assert main(["backtest", file, *same, "--json"]) == 0
    [by_hand] = json.loads(capsys.readouterr().out)
    assert from_file == by_hand and from_file["cycles"] > 0
    assert main(["backtest", file, "--config", config, "--strategy", "eth-paused"]) == 0
    capsys.readouterr()
    assert main(["backtest", file, "--config", config, "--strategy", "ghost"]) == 2
    assert "--strategy" in capsys.readouterr().err
