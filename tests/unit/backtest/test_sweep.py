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


def test_a_space_file_gives_the_grid_and_fixed_params_and_options_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "params:\n  base_order: 0.002\n  safety_order: 0.004\n  max_safety_orders: 3\n"
        "grid:\n  take_profit: [1, 2]\n  price_deviation: '1.5:2.5:1'\n"
    )
    rules = ["--tick-size", "0.000001", "--step-size", "0.001", "--min-notional", "0.0001"]
    by_file, by_options = tmp_path / "file.csv", tmp_path / "options.csv"
    argv = ["sweep", str(DATA), *rules, "--balance", "1", "--space", str(space)]
    assert main([*argv, "--csv", str(by_file), "--workers", "1"]) == 0
    argv = ["sweep", str(DATA), *FIXED, "--grid", "take_profit=1,2"]
    assert main([*argv, "--grid", "price_deviation=1.5,2.5", "--csv", str(by_options)]) == 0
    assert list(csv.reader(by_file.open())) == list(csv.reader(by_options.open()))
    # An option given beside the file wins over it, axis by axis.
    only = tmp_path / "only.csv"
    argv = ["sweep", str(DATA), *rules, "--balance", "1", "--space", str(space)]
    assert main([*argv, "--grid", "take_profit=1.5", "--csv", str(only), "--workers", "1"]) == 0
    rows = list(csv.DictReader(only.open()))
    assert {r["take_profit"] for r in rows} == {"1.5"} and len(rows) == 2
    capsys.readouterr()


def test_a_space_file_draws_a_random_sample(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("random: 3\nseed: 4\nrange:\n  take_profit: '1:2:0.25'\n")
    out = tmp_path / "r.csv"
    argv = ["sweep", str(DATA), *FIXED, "--price-deviation", "1.5", "--space", str(space)]
    assert main([*argv, "--csv", str(out), "--workers", "1"]) == 0
    drawn = [row["take_profit"] for row in csv.DictReader(out.open())]
    assert sorted(drawn) == sorted(
        p["take_profit"] for p in sample({"take_profit": "1:2:0.25"}, 3, 4)
    )


def test_a_bad_space_file_names_each_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "grid:\n  take_profti: [1, 2]\n  price_deviation: {a: 1}\nrandom: -1\nextra: 1\n"
    )
    assert main(["sweep", str(DATA), *FIXED, "--space", str(space)]) == 2
    err = capsys.readouterr().err
    assert f"{space}:2: grid.take_profti: unknown parameter" in err
    assert f"{space}:3: grid.price_deviation: expected a value" in err
    assert f"{space}:4: random: must be at least 1" in err
    assert f"{space}:5: extra: unknown key" in err
    assert main(["sweep", str(DATA), *FIXED, "--space", str(tmp_path / "none.yaml")]) == 2
    assert "sweep file not found" in capsys.readouterr().err
