"""A real service (SQLite, paper venue, a simulated market) stops a user disabled while it runs
(`services.users.set_disabled`, rows only, as the API and `martingale users disable` write):
within a poll or two its resting orders are cancelled and its position kept. The config file's
sync that `martingale run` does next, and the restart after it, run nothing of it (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from config.loader import load_config
from domain.events import StopMode
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from services.onboarding import sync_config
from services.principal import OPERATOR
from services.users import set_disabled
from tests.integration.app.conftest import (
    alice_trading,
    api_paper_strategy,
    resting,
    start_service,
    wait,
)


def test_a_user_disabled_while_the_service_runs_stops_and_a_resync_and_restart_run_nothing(
    resting_alice: tuple[Path, SqlRepository],
) -> None:
    path, repo = resting_alice
    [eth] = repo.list_strategies()
    service = start_service(path)
    try:
        held = alice_trading(service, repo, eth.id)

        set_disabled(repo, OPERATOR, eth.user_id, True, now=datetime.now(UTC))

        wait(lambda: repo.get_strategy(eth.id).actual_state is ActualState.STOPPED, "stopped")
        assert resting(service, "alice/main") == []  # cancelled...
        # ...position kept (not sold: a safety order may still fill while the price moves)
        assert service.venue.balances("alice/main")["ETH"].total >= held
        placed = len(repo.list_orders(eth.id))
    finally:
        service.stop()

    sync_config(load_config(path), repo, None, now=datetime.now(UTC))  # as `martingale run`
    assert repo.get_user(eth.user_id).disabled
    stopped = repo.get_strategy(eth.id)
    assert (stopped.desired_state, stopped.stop_mode) == (DesiredState.STOPPED, StopMode.CANCEL)
    service = start_service(path)
    try:
        # bob, created through the services after the restart, trades: the polls that
        # brought him also read alice's rows, and ran nothing of hers.
        api_paper_strategy(repo, service, "bob", "main")
        wait(lambda: len(resting(service, "bob/main")) >= 2, "bob's ladder resting")
        assert repo.get_strategy(eth.id).actual_state is ActualState.STOPPED
        assert len(repo.list_orders(eth.id)) == placed
        assert resting(service, "alice/main") == []
    finally:
        service.stop()
