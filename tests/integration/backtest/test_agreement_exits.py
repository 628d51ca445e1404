"""The backtest agrees with the service (a lockstep CSV replay on the paper exchange) with a
trailing stop and with a cycle timeout: the same orders on the same candles, the same fills and
cycles. The trail sees each candle's high after its low in both (`Engine.on_range`), and the
timeout fires at the first candle close past it in both (the replay's alarm, the backtest's
virtual clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from persistence.records import CycleStatus
from tests.integration.backtest.test_agreement import (
    ETH_BTC,
    REAL_WINDOW,
    Scenario,
    assert_agree,
    play_both,
    shipped_rows,
)

TRAILING = Scenario(
    rows=shipped_rows(300, 150),
    params={**REAL_WINDOW.params, "take_profit": "3", "stop_loss": "1.5", "max_safety_orders": 1}
    | {"stop_loss_trailing": "true"},
    rules=ETH_BTC,
    speed=60_000,
    lockstep=True,
)
TIMEOUT = Scenario(
    rows=shipped_rows(300, 150),
    params={**REAL_WINDOW.params, "take_profit": "3", "stop_loss_timeout": "1"},
    rules=ETH_BTC,
    speed=60_000,
    lockstep=True,
)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [TRAILING, TIMEOUT], ids=["trailing", "timeout"])
def test_the_backtest_agrees_with_the_service_on_each_exit(
    tmp_path: Path, sqlite_url: str, scenario: Scenario
) -> None:
    outcome = play_both(tmp_path, sqlite_url, scenario)
    assert_agree(outcome, scenario.speed)
    _, fills, cycles = outcome.service
    assert len([c for c in cycles if c[1] == CycleStatus.CLOSED.value]) >= 3
    assert any(f[1].startswith("x") for f in fills), "no cycle ended at market"
