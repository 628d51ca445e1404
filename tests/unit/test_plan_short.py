"""`martingale plan --direction short`: the mirrored ladder, checked against hand-computed
figures (levels above the start price, the take-profit below the average, base funds)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from app.cli import main
from tests.unit.test_plan_cli import BASE


def run_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert main([*BASE, "--direction", "short", *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_levels_sit_above_and_the_take_profit_below(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys)
    levels = out["levels"]
    assert isinstance(levels, list)
    assert [r["price"] for r in levels] == ["100", "101", "103", "107"]
    assert [r["quote_size"] for r in levels] == ["10", "20", "40", "80"]
    first = levels[0]
    assert (first["average_price"], first["take_profit_price"]) == ("100", "99")
    assert first["required_change_pct"] == "-1"  # the price must fall 1 %
    total_base = D("0.1") + D(20) / D(101)
    average = D(30) / total_base  # quote received / base sold
    assert abs(D(levels[1]["average_price"]) - average) < D("1e-24")
    assert abs(D(levels[1]["take_profit_price"]) - average * D("0.99")) < D("1e-24")
    assert all(D(r["required_change_pct"]) < 0 for r in levels)
    base = D("0.1") + D(20) / 101 + D(40) / 103 + D(80) / 107
    assert out["direction"] == "short" and out["max_funds"] == "150"
    assert abs(D(str(out["max_base"])) - base) < D("1e-24")
    assert out["required_funds"] == out["max_base"]


def test_rounding_is_mirrored(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--price", "100.005", "--tick-size", "0.01", "--step-size", "0.001")
    levels = out["levels"]
    assert isinstance(levels, list)
    assert levels[0]["price"] == "100.01"  # the sell rounds up, never below the market
    assert levels[1]["price"] == "101.02"  # 100.01 * 1.01 = 101.0101, up
    assert levels[1]["base_amount"] == "0.197"  # 20 / 101.02 = 0.19798.., down to the step
    assert levels[0]["take_profit_price"] == "99"  # 100.01 * 0.99 = 99.0099, down


def test_the_balance_is_base_for_a_short(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--direction", "short", "--balance", "1.4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("martingale plan: error: --balance: base to sell 1.43")
    assert main([*BASE, "--direction", "short", "--balance", "1.5"]) == 0  # 150 quote is not asked
    assert "direction: short; base to sell: 1.43" in capsys.readouterr().out


def test_a_stop_loss_before_the_next_sell_names_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*BASE, "--direction", "short", "--stop-loss", "1"]) == 2
    assert "--stop-loss: 1 % above the average entry" in capsys.readouterr().err


def test_an_unknown_direction_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--direction", "sideways"]) == 2
    assert "--direction: 'sideways' must be long or short" in capsys.readouterr().err
