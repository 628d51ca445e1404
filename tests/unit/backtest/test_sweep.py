"""Sweeps (backtest.sweep, `martingale sweep`): the grid and the random sample are what they
say and the same for a seed, a bad range is refused naming its parameter, and a pool of
processes gives the same results as one process, ranked the same whatever finished first."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli import main
from backtest.sweep import grid, sample, steps
from domain.errors import ValidationError

DATA = Path(__file__).parents[3] / "config/examples/data/ETH-BTC-5m.csv"
FIXED = [
    *("--base-order", "0.002", "--safety-order", "0.004", "--max-safety-orders", "3"),
    *("--tick-size", "0.000001", "--step-size", "0.001", "--min-notional", "0.0001"),
    *("--balance", "1"),
]


def test_a_grid_is_every_combination() -> None:
    sets = grid({"take_profit": steps("take_profit", "1:2:0.5"), "price_deviation": ["1", "2"]})
    assert len(sets) == 6
    assert {"take_profit": "1.5", "price_deviation": "2"} in sets


def test_a_random_sample_stays_in_its_ranges_and_repeats_for_a_seed() -> None:
    ranges = {"take_profit": "0.5:3", "price_deviation": "1:2:0.25"}
    drawn = sample(ranges, 50, seed=7)
    assert drawn == sample(ranges, 50, seed=7) and drawn != sample(ranges, 50, seed=8)
    for params in drawn:
        assert Decimal("0.5") <= Decimal(params["take_profit"]) <= 3
        assert (Decimal(params["price_deviation"]) - 1) % Decimal("0.25") == 0


@pytest.mark.parametrize("text", ["2:1:0.5", "1:2:0", "a:b", "1"])
def test_a_bad_range_names_its_parameter(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        sample({"take_profit": text}, 1, seed=1)
    assert raised.value.field == "take_profit"


def test_a_pool_gives_what_one_process_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.csv"
        argv = [
            "sweep",
            str(DATA),
            *FIXED,
            "--grid",
            "take_profit=1,2",
            "--grid",
            "price_deviation=1.5,2.5",
            "--csv",
            str(out),
            "--workers",
            workers,
        ]
        assert main(argv) == 0
        results.append(list(csv.reader(out.open())))
    assert results[0] == results[1] and len(results[0]) == 5  # header + 4 sets
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:2] == ["price_deviation", "take_profit"]


def test_a_swept_set_that_plan_refuses_stops_the_sweep_before_it_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sweep", str(DATA), *FIXED, "--grid", "take_profit=1,-1", "--grid", "price_deviation=1"]
    assert main(argv) == 2
    assert "--take-profit" in capsys.readouterr().err
    assert main(["sweep", str(DATA), *FIXED, "--grid", "nonsense=1"]) == 2
    assert "--grid" in capsys.readouterr().err
