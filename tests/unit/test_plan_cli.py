"""`martingale plan` through the real entry point, checked against hand-computed figures."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from app.cli import main

BASE = [
    "plan",
    "--base-order", "10",
    "--safety-order", "20",
    "--max-safety-orders", "3",
    "--price-deviation", "1",
    "--step-scale", "2",
    "--volume-scale", "2",
    "--take-profit", "1",
    "--price", "100",
]  # fmt: skip


def run_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert main([*BASE, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_json_has_the_documented_shape_with_decimal_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run_json(capsys)
    assert set(out) == {
        "levels", "max_funds", "max_coverage_pct", "fee_rate", "direction", "max_base",
        "required_funds",
    }  # fmt: skip
    assert out["direction"] == "long" and out["required_funds"] == out["max_funds"]
    levels = out["levels"]
    assert isinstance(levels, list) and len(levels) == 4
    keys = [
        "level", "deviation_pct", "price", "quote_size", "base_amount", "total_quote",
        "total_base", "average_price", "take_profit_price", "required_change_pct",
        "stop_loss_price", "fees", "profit", "profit_pct",
    ]  # fmt: skip
    for row in levels:
        assert list(row) == keys
        assert all(isinstance(v, str) for k, v in row.items() if k != "stop_loss_price")
    assert [r["deviation_pct"] for r in levels] == ["0", "1", "3", "7"]
    assert [r["price"] for r in levels] == ["100", "99", "97", "93"]
    assert [r["quote_size"] for r in levels] == ["10", "20", "40", "80"]
    assert [r["total_quote"] for r in levels] == ["10", "30", "70", "150"]
    assert (out["max_funds"], out["max_coverage_pct"]) == ("150", "7")
    first = levels[0]
    assert (first["base_amount"], first["average_price"], first["take_profit_price"]) == (
        "0.1",
        "100",
        "101",
    )
    assert first["required_change_pct"] == "1"
    # level 1: 0.1 + 20/99 base for 30 quote
    total_base = D("0.1") + D(20) / D(99)
    assert abs(D(levels[1]["total_base"]) - total_base) < D("1e-25")
    average = D(30) / total_base
    assert abs(D(levels[1]["average_price"]) - average) < D("1e-24")
    assert abs(D(levels[1]["take_profit_price"]) - average * D("1.01")) < D("1e-24")
    change = (average * D("1.01") / 99 - 1) * 100
    assert abs(D(levels[1]["required_change_pct"]) - change) < D("1e-22")


def test_rounding_options_round_and_validate(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "--tick-size",
        "0.01",
        "--step-size",
        "0.001",
        "--min-notional",
        "5",
        "--balance",
        "150",
    )
    levels = out["levels"]
    assert isinstance(levels, list)
    assert (levels[1]["base_amount"], levels[1]["quote_size"]) == ("0.202", "19.998")
    assert levels[1]["take_profit_price"] == "100.33"
    # level 3: 80 / 93 = 0.86021.. -> 0.86, spending 79.98
    assert (levels[3]["base_amount"], levels[3]["quote_size"]) == ("0.86", "79.98")
    assert out["max_funds"] == "149.942"  # 10 + 19.998 + 39.964 (0.412 * 97) + 79.98


def test_table_lists_every_level_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(BASE) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["level", "dev", "%", "price"]
    assert [line.split()[:3] for line in lines[1:5]] == [
        ["0", "0", "100"],
        ["1", "1", "99"],
        ["2", "3", "97"],
        ["3", "7", "93"],
    ]
    assert lines[1].split()[8:10] == ["101", "1"]  # TP price, to TP %
    assert lines[0].split()[-4:] == ["fees", "profit", "profit", "%"]  # no SL column: no stop
    assert "max funds: 150" in lines and "max price coverage: 7 %" in lines


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--take-profit", "0"], "--take-profit"),
        (["--price-deviation", "40"], "--price-deviation"),
        (["--max-safety-orders", "two"], "--max-safety-orders"),
        (["--stop-loss", "2"], "--stop-loss"),
        (["--base-order-type", "iceberg"], "--base-order-type"),
        (["--price", "-3"], "--price"),
        (["--tick-size", "x"], "--tick-size"),
        (["--min-notional", "11"], "--base-order"),
        (["--base-order", "30", "--min-notional", "25"], "--safety-order"),
        (["--balance", "149"], "--balance"),
    ],
)
def test_invalid_input_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    argv = list(BASE)
    for name, value in zip(args[::2], args[1::2], strict=True):
        if name in argv:
            argv[argv.index(name) + 1] = value
        else:
            argv += [name, value]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"martingale plan: error: {option}: ")


def test_a_missing_required_parameter_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    i = BASE.index("--take-profit")
    argv = BASE[:i] + BASE[i + 2 :]
    assert main(argv) == 2
    assert "--take-profit: is required" in capsys.readouterr().err


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--base-order", "--safety-order", "--max-safety-orders", "--price-deviation",
        "--step-scale", "--volume-scale", "--take-profit", "--stop-loss",
        "--max-active-safety-orders", "--cooldown", "--max-cycles", "--price", "--tick-size",
        "--step-size", "--min-notional", "--balance", "--json",
    ):  # fmt: skip
        assert option in text


def test_a_start_condition_is_shown_under_the_table_and_in_the_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    condition = ["--start-condition", "rsi below=30 period=14 timeframe=5m"]
    assert main([*BASE, *condition]) == 0
    assert capsys.readouterr().out.rstrip().endswith("start: waiting for rsi14<30 on 5m")
    out = run_json(capsys, *condition)
    assert out["start_condition"] == {
        "type": "rsi",
        "below": "30",
        "period": "14",
        "timeframe": "5m",
    }
    assert "start_condition" not in run_json(capsys)  # asap: the plan is as before


def test_a_bad_start_condition_names_its_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--start-condition", "rsi below=300"]) == 2
    assert "--start-condition: start_condition.below:" in capsys.readouterr().err
