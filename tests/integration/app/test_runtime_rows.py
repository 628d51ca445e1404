"""A real service on SQLite picks up what another process writes while it runs (issue 12):
the REST API writes rows only (`services/`, a repository), and `martingale strategy` too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.bootstrap import Service, Tuning
from app.cli import main
from config.loader import load_config
from exchange.paper import PaperVenue
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from services.onboarding import sync_config
from tests.integration.app.conftest import SIMULATED_ETH_BTC, alice_eth_btc, wait

PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": "3",
    "price_deviation": "1.5",
    "take_profit": "50",  # never reached: the ladder stays resting
}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Service, SqlRepository, str]]:
    """alice trades one ETH/BTC strategy on the paper venue, whose account holds too little
    BTC for its base order (spent since the file was written): it finishes at once (a refused
    base order needs a person)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    paper = tmp_path / "paper.sqlite"
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=paper, take_profit="50")
    path.write_text(f"database:\n  url: {url}\n" + body)
    venue = PaperVenue(paper, name="paper")  # the venue keeps an account's persisted balances
    venue.open_account("alice/main", balances={"BTC": Decimal("0.001")})
    venue.close()
    upgrade(url)
    engine = make_engine(url)
    repo = SqlRepository(engine)
    config = load_config(path)
    sync_config(config, repo, None, now=datetime.now(UTC))
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))
    service.start()
    try:
        yield service, repo, url
    finally:
        service.stop()
        engine.dispose()


def test_a_user_and_strategy_created_while_the_service_runs_trade(
    running: tuple[Service, SqlRepository, str],
) -> None:
    service, repo, _ = running
    [eth] = repo.list_strategies()
    # The service has read the database and runs: what follows is new to it.
    wait(lambda: repo.get_strategy(eth.id).actual_state is ActualState.FINISHED, "eth finished")
    assert service.venue is not None
    service.venue.open_account("bob/main", balances={"BTC": Decimal(1)})  # the paper venue's side
    now = datetime.now(UTC)
    bob = repo.upsert_user("bob", now=now)
    account = repo.upsert_account(bob.id, "main", exchange="paper", now=now)
    sid = repo.upsert_strategy(
        bob.id,
        "eth",
        account_id=account.id,
        symbol="ETH/BTC",
        params=PARAMS,
        desired_state=DesiredState.RUNNING,
        now=now,
    ).id
    wait(lambda: len(repo.load_engine_state(sid).live_orders) >= 2, "bob's ladder resting")
    wait(lambda: repo.get_strategy(sid).actual_state is ActualState.RUNNING, "bob's running")


def test_a_resume_of_a_finished_strategy_already_wanted_running_reaches_the_service(
    running: tuple[Service, SqlRepository, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, repo, url = running
    [eth] = repo.list_strategies()
    wait(lambda: repo.get_strategy(eth.id).actual_state is ActualState.FINISHED, "eth finished")
    assert repo.get_strategy(eth.id).desired_state is DesiredState.RUNNING
    assert service.venue is not None
    service.venue.deposit("alice/main", "BTC", Decimal(1))  # the owner funded the account

    assert main(["strategy", "resume", "--user", "alice", "--name", "eth", "--db", url]) == 0
    assert "next start" not in capsys.readouterr().out
    wait(lambda: len(repo.load_engine_state(eth.id).live_orders) >= 2, "eth's ladder resting")
    wait(lambda: repo.get_strategy(eth.id).actual_state is ActualState.RUNNING, "eth running")
