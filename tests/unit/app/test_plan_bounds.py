"""`martingale plan` with values no plan needs: one line naming the option, exit 2."""

from __future__ import annotations

import pytest

from app.cli import main

BASE = {
    "--base-order": "10",
    "--safety-order": "20",
    "--max-safety-orders": "3",
    "--price-deviation": "1",
    "--take-profit": "1",
    "--price": "100",
}


def plan(capsys: pytest.CaptureFixture[str], **changes: str) -> tuple[int, str]:
    options = {**BASE, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
    status = main(["plan", *[x for pair in options.items() for x in pair]])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"tick_size": "0"}, "--tick-size: must be greater than 0 (leave it out"),
        ({"step_size": "0"}, "--step-size: must be greater than 0"),
        ({"take_profit": "1e999999999"}, "--take-profit: '1e999999999' is out of range"),
        ({"price": "1e-999999999"}, "--price: '1e-999999999' is out of range"),
        ({"max_safety_orders": "1" * 5000}, "--max-safety-orders: '111"),
        ({"base_order": "1" * 5000 + ".5"}, "--base-order: '111"),
        ({"balance": "9" * 40}, "--balance: '999"),
        (
            {"price": "100000000000000000", "tick_size": "0.000000000000000001"},
            "plan: the ladder cannot be computed",
        ),
    ],
)
def test_values_no_plan_needs_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], changes: dict[str, str], expected: str
) -> None:
    status, err = plan(capsys, **changes)
    assert status == 2
    assert err.startswith(f"martingale plan: error: {expected}"), err
    assert len(err.strip().splitlines()) == 1 and len(err) < 400


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"take_profit_steps": "1:50,0.5:50"},
            "--take-profit-steps: take_profit_steps[1].percent: must be above",
        ),
        ({"start_condition": "rsi period=14"}, "--start-condition: start_condition.below: is"),
        ({"direction": "up"}, "--direction: 'up' must be long or short"),
        ({"stop_loss_trailing": "true"}, "--stop-loss-trailing: needs stop_loss"),
    ],
)
def test_bad_options_name_the_option_and_the_part(
    capsys: pytest.CaptureFixture[str], changes: dict[str, str], expected: str
) -> None:
    status, err = plan(capsys, **changes)
    assert status == 2
    assert expected in err, err
