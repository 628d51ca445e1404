"""`martingale strategy ACTION`: recorded in the database and applied by a running service."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.bootstrap import Service, Tuning
from app.cli import main
from config.loader import load_config
from domain.events import StopMode
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from services.onboarding import sync_config
from tests.integration.app.conftest import ALICE, SIMULATED_ETH_BTC, alice_eth_btc, config_text


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_actions_are_recorded_with_their_stop_mode(
    db_url: str, write_config: Callable[[str], Path], sql_repo: SqlRepository
) -> None:
    path = write_config(config_text(db_url, ALICE))
    sync_config(load_config(path), sql_repo, None, now=datetime.now(UTC))
    eth = next(s for s in sql_repo.list_strategies() if s.name == "eth")

    def run(action: str, user: str = "alice", name: str = "eth") -> int:
        return main(["strategy", action, "--user", user, "--name", name, "--db", db_url])

    assert run("close-now") == 0
    record = sql_repo.get_strategy(eth.id)
    assert (record.desired_state, record.stop_mode) == (DesiredState.STOPPED, StopMode.SELL)
    assert run("stop-now") == 0
    assert sql_repo.get_strategy(eth.id).stop_mode is StopMode.CANCEL
    assert run("pause") == 0
    assert sql_repo.get_strategy(eth.id).desired_state is DesiredState.PAUSED
    assert run("resume") == 0
    record = sql_repo.get_strategy(eth.id)
    assert (record.desired_state, record.stop_mode) == (DesiredState.RUNNING, None)


def test_unknown_names_exit_2_and_name_the_option(
    db_url: str,
    write_config: Callable[[str], Path],
    sql_repo: SqlRepository,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sync_config(
        load_config(write_config(config_text(db_url, ALICE))), sql_repo, None, now=datetime.now(UTC)
    )
    assert main(["strategy", "stop", "--user", "nobody", "--name", "eth", "--db", db_url]) == 2
    assert "--user" in capsys.readouterr().err
    assert main(["strategy", "stop", "--user", "alice", "--name", "nope", "--db", db_url]) == 2
    assert "--name" in capsys.readouterr().err


def test_close_now_on_a_running_service_cancels_and_sells(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    path.write_text(
        f"database:\n  url: {url}\n"
        + alice_eth_btc(SIMULATED_ETH_BTC, paper=tmp_path / "paper.sqlite", take_profit="50")
    )
    config = load_config(path)
    engine = make_engine(url)
    repo = SqlRepository(engine)
    upgrade(url)
    sync_config(config, repo, None, now=datetime.now(UTC))
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))
    service.start()
    try:
        sid = repo.list_strategies()[0].id
        # take_profit 50% is never reached: the position stays open with safety orders resting
        _wait(lambda: len(repo.load_engine_state(sid).live_orders) >= 2)
        # a new strategy's row says STOPPED until its engine reports (buffered, asynchronously)
        _wait(lambda: repo.get_strategy(sid).actual_state is ActualState.RUNNING)
        assert main(["strategy", "close-now", "--user", "alice", "--name", "eth", "--db", url]) == 0
        _wait(lambda: repo.get_strategy(sid).actual_state is ActualState.STOPPED)
        state = repo.load_engine_state(sid)
        assert state.live_orders == ()
        assert service.venue is not None
        balances = service.venue.balances("alice/main")
        eth = balances.get("ETH")
        # everything bought was sold, bar dust below the 0.001 step
        assert eth is None or eth.total < 0.001
        assert service.venue.open_orders("alice/main", None) == []
    finally:
        service.stop()
        engine.dispose()
