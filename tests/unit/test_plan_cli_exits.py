"""`martingale plan` shows the trailing stop, the timeout and reinvestment."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from tests.unit.test_plan_cli import BASE


def test_the_table_says_each_exit(capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--stop-loss", "8", "--stop-loss-trailing", "true", "--tick-size", "0.01"]
    extra += ["--stop-loss-timeout", "6", "--stop-loss-timeout-action", "break_even"]
    assert main([*BASE, *extra, "--reinvest-percent", "50"]) == 0
    out = capsys.readouterr().out
    # 100 * 0.92 after the base order; the full ladder's average 95.26.. * 0.92 = 87.64..
    assert "trailing stop loss: 8 % from the average entry, at 92 after the base order, " in out
    assert "87.64 after the last safety order; it rises with the best price" in out
    assert "timeout: 6 h after the base order fills, then move the take-profit to break-even" in out
    assert "reinvest: 50 % of each cycle's profit" in out


def test_the_json_has_the_exits_only_when_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--json"]) == 0
    assert "exits" not in json.loads(capsys.readouterr().out)
    assert main([*BASE, "--stop-loss", "8", "--stop-loss-timeout", "1.5", "--json"]) == 0
    exits = json.loads(capsys.readouterr().out)["exits"]
    assert exits == {
        "stop_loss": "8",
        "stop_loss_trailing": "false",
        "stop_loss_price_first": "92",
        "stop_loss_price_last": exits["stop_loss_price_last"],
        "stop_loss_timeout": "1.5",
        "stop_loss_timeout_action": "market",
    }
    assert exits["stop_loss_price_last"].startswith("87.64")


def test_a_trailing_stop_without_a_stop_loss_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--stop-loss-trailing", "true"]) == 2
    assert "--stop-loss-trailing: needs stop_loss" in capsys.readouterr().err
