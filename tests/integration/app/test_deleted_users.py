"""A real service (SQLite, paper venue, a simulated market) stops a user deleted while it runs
(`services.users.delete_user`, rows only, as the API and `martingale users delete` write):
within a poll or two its resting orders are cancelled, its position kept and its actor gone,
and a restart runs nothing of it (issue 12). It used to trade on until the next restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from app.bootstrap import Service
from persistence.records import ActualState
from persistence.sql_repository import SqlRepository
from services.principal import OPERATOR
from services.users import delete_user
from tests.integration.app.conftest import (
    alice_trading,
    api_paper_strategy,
    resting,
    start_service,
    wait,
)


def user_ids(service: Service) -> set[int]:
    assert service.root is not None
    return set(service.root.proxy().user_refs().get(timeout=10))


def _seen(service: Service, repo: SqlRepository, strategy_id: int) -> str:
    """What the service made of the strategy, for a failure's message (a rare flake of this
    test left nothing to go on)."""
    row = repo.get_strategy(strategy_id)
    return (
        f"(row: desired {row.desired_state.value}, actual {row.actual_state.value}, "
        f"error {row.last_error!r}; root's users {sorted(user_ids(service))}; "
        f"resting {resting(service, 'bob/main')})"
    )


def test_a_user_deleted_while_the_service_runs_stops_trading_at_once_and_for_good(
    resting_alice: tuple[Path, SqlRepository],
) -> None:
    path, repo = resting_alice
    [eth] = repo.list_strategies()
    service = start_service(path)
    try:
        held = alice_trading(service, repo, eth.id)

        delete_user(repo, OPERATOR, eth.user_id, now=datetime.now(UTC))

        wait(lambda: repo.get_strategy(eth.id).actual_state is ActualState.STOPPED, "stopped")
        wait(lambda: eth.user_id not in user_ids(service), "alice's actor stopped")
        assert resting(service, "alice/main") == []  # cancelled...
        # ...position kept (not sold: a safety order may still fill while the price moves)
        assert service.venue.balances("alice/main")["ETH"].total >= held
        placed = len(repo.list_orders(eth.id))
    finally:
        service.stop()

    service = start_service(path)
    try:
        # bob, created through the services after the restart, trades: the polls that
        # brought him also read alice's rows, and ran nothing of hers.
        sid = api_paper_strategy(repo, service, "bob", "main")
        wait(
            lambda: len(resting(service, "bob/main")) >= 2,
            "bob's ladder resting",
            then=lambda: _seen(service, repo, sid),
        )
        assert eth.user_id not in user_ids(service)
        assert repo.get_strategy(eth.id).actual_state is ActualState.STOPPED
        assert len(repo.list_orders(eth.id)) == placed
        assert resting(service, "alice/main") == []
        assert repo.get_strategy(sid).user_id in user_ids(service)
    finally:
        service.stop()
