"""`martingale plan` refuses take-profit steps whose parts the market would refuse, shows a
short's stop-loss buy-back, and checks it against `--quote-balance`."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.cli import main

LADDER = [
    "plan",
    "--base-order",
    "100",
    "--safety-order",
    "100",
    "--max-safety-orders",
    "3",
    "--price-deviation",
    "2",
    "--price",
    "2000",
    "--tick-size",
    "0.01",
    "--step-size",
    "0.0001",
]
SHORT = [*LADDER, "--take-profit", "1", "--direction", "short", "--stop-loss", "10"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_a_step_too_small_for_the_market_names_the_step_and_the_minimum(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*LADDER, "--take-profit-steps", "1:2,2:98", "--min-notional", "5"]
    status, out, err = _run(capsys, *args)
    assert status == 2 and out == ""
    assert err.startswith(
        "martingale plan: error: --take-profit-steps: take_profit_steps[0].portion: step 1 "
    )
    assert "below the minimum notional 5" in err and "a portion of at least 5 %" in err
    args[args.index("1:2,2:98")] = "1:5,2:95"
    assert _run(capsys, *args)[0] == 0  # the portion the error asked for is taken


def test_a_short_with_a_stop_loss_shows_the_quote_its_buy_back_needs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, *SHORT, "--json")
    body = json.loads(out)
    reserve = body["stop_loss_reserve"]
    assert status == 0
    last = body["levels"][-1]
    assert reserve["base"] == last["total_base"]
    assert reserve["price"] == body["exits"]["stop_loss_price_last"]
    keep = Decimal(reserve["cost"]) - Decimal(reserve["received"])
    assert Decimal(reserve["keep_quote"]) == keep > 0
    status, out, _ = _run(capsys, *SHORT)
    line = out.splitlines()[-1]
    assert line.startswith("stop-loss buy-back (short): after the last level the stop buys back")
    assert f"keep at least {round(keep, 8).normalize()} quote free" in line
    _, out, _ = _run(capsys, *LADDER, "--take-profit", "1", "--stop-loss", "10", "--json")
    assert "stop_loss_reserve" not in json.loads(out)  # a long's stop sells what it bought


def test_a_quote_balance_below_the_buy_back_is_refused_by_naming_the_stop_loss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = _run(capsys, *SHORT, "--json")
    keep = Decimal(json.loads(out)["stop_loss_reserve"]["keep_quote"])
    status, _, err = _run(capsys, *SHORT, "--quote-balance", str(keep - Decimal("0.001")))
    assert status == 2
    assert err.startswith("martingale plan: error: --stop-loss: after the last level the stop")
    assert f"keep at least {keep} quote" in err
    assert _run(capsys, *SHORT, "--quote-balance", str(keep))[0] == 0
    status, _, err = _run(capsys, *SHORT, "--quote-balance", "-1")
    assert status == 2 and err.startswith("martingale plan: error: --quote-balance: must be >= 0")
