"""`martingale plan` shows the take-profit variants: a price column per step, a trailing note."""

from __future__ import annotations

import json

import pytest

from app.cli import main

BASE = [
    "plan",
    "--base-order",
    "10",
    "--safety-order",
    "20",
    "--max-safety-orders",
    "2",
    "--price-deviation",
    "2",
    "--price",
    "100",
    "--tick-size",
    "0.01",
]


def _run(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    status = main([*BASE, *extra])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_steps_get_a_price_column_each(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--take-profit-steps", "1:50,2.5:50")
    assert status == 0
    header, base, first = out.splitlines()[:3]
    assert header.endswith("TP1 1%x50%  TP2 2.5%x50%")
    assert base.split()[-2:] == ["101", "102.5"]
    # level 1: average 98.65771812..., each step's price rounded up to the tick
    assert first.split()[-2:] == ["99.65", "101.13"]


def test_steps_and_trailing_in_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "--take-profit-steps", "1:50,2.5:50", "--json")
    body = json.loads(out)
    assert status == 0
    assert body["take_profit_steps"] == [
        {"percent": "1", "portion": "50"},
        {"percent": "2.5", "portion": "50"},
    ]
    assert [lv["take_profit_step_prices"] for lv in body["levels"]] == [
        ["101", "102.5"],
        ["99.65", "101.13"],
        ["98.56", "100.02"],
    ]
    status, out, _ = _run(capsys, "--take-profit", "1", "--trailing-deviation", "0.5", "--json")
    body = json.loads(out)
    assert status == 0 and body["trailing_deviation"] == "0.5"
    assert "never below the TP price" in body["trailing_note"]
    assert "take_profit_steps" not in body


def test_trailing_prints_a_note_and_bad_steps_name_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(capsys, "--take-profit", "1", "--trailing-deviation", "0.5")
    assert status == 0 and out.splitlines()[-1].startswith("trailing take-profit: ")
    status, _, err = _run(capsys, "--take-profit-steps", "1:50,2:40")
    assert status == 2 and err.startswith("martingale plan: error: --take-profit-steps: ")
