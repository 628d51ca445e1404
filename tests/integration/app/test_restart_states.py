"""A restart (`martingale run` again: sync the file, then start) resumes every strategy in the
state it was left in: stopped ones stay stopped, paused ones paused, finished ones finished until
resumed, and running ones run. It used to re-apply the file's state first: every stopped or
paused strategy restarted silently, and one stopped mid-cycle ended "finished (wants running)".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from tests.integration.app.conftest import SIMULATED_ETH_BTC, alice_eth_btc, wait

NAMES = ("finishing", "stopped-now", "paused", "running", "finished")


def config_text(url: str, paper: Path) -> str:
    # take_profit 50 is never reached: every strategy stays mid-cycle with orders resting.
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=paper, take_profit="50", names=NAMES)
    return f"database:\n  url: {url}\n{body}"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, str, SqlRepository]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    path.write_text(config_text(url, tmp_path / "paper.sqlite"), encoding="utf-8")
    upgrade(url)
    engine = make_engine(url)
    try:
        yield path, url, SqlRepository(engine)
    finally:
        engine.dispose()


def restart(path: Path, repo: SqlRepository) -> Service:
    """What `martingale run` does: sync the file into the database, then start the service."""
    config = load_config(path)
    sync_config(config, repo, None, now=datetime.now(UTC))
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))
    service.start()
    return service


def engines(service: Service) -> set[int]:
    """The strategies that have an engine actor in the running tree."""
    assert service.root is not None
    users: dict[int, Any] = service.root.proxy().user_refs().get(timeout=10)
    return {sid for ref in users.values() for sid in ref.proxy().engine_refs().get(timeout=10)}


def test_a_restart_resumes_every_strategy_in_the_state_it_was_left_in(
    setup: tuple[Path, str, SqlRepository],
) -> None:
    path, url, repo = setup
    ids = {}

    def strategy(name: str) -> Any:
        return repo.get_strategy(ids[name])

    def cli(action: str, name: str) -> None:
        assert main(["strategy", action, "--user", "alice", "--name", name, "--db", url]) == 0

    service = restart(path, repo)
    try:
        ids = {s.name: s.id for s in repo.list_strategies()}
        wait(
            lambda: all(len(repo.load_engine_state(i).live_orders) >= 2 for i in ids.values()),
            "every strategy to have orders resting",
        )
        cli("stop", "finishing")  # after its cycle, which never closes here
        cli("stop-now", "stopped-now")
        cli("pause", "paused")
        wait(
            lambda: (
                strategy("stopped-now").actual_state is ActualState.STOPPED
                and strategy("paused").actual_state is ActualState.PAUSED
            ),
            "stop-now and pause to be applied",
        )
    finally:
        service.stop()
    # What the engine reports once it reached max_cycles (or its base order was refused).
    repo.set_actual_state(ids["finished"], ActualState.FINISHED, now=datetime.now(UTC))

    service = restart(path, repo)
    try:
        expected = {ids["finishing"], ids["paused"], ids["running"]}
        wait(lambda: expected <= engines(service), "the engines to be started")
        assert engines(service) == expected
        wanted = {name: (strategy(name).desired_state, strategy(name).stop_mode) for name in NAMES}
        assert wanted == {
            "finishing": (DesiredState.STOPPED, StopMode.FINISH_CYCLE),
            "stopped-now": (DesiredState.STOPPED, StopMode.CANCEL),
            "paused": (DesiredState.PAUSED, None),
            "running": (DesiredState.RUNNING, None),
            "finished": (DesiredState.RUNNING, None),
        }
        assert repo.load_engine_state(ids["stopped-now"]).live_orders == ()
        assert strategy("finished").actual_state is ActualState.FINISHED
    finally:
        service.stop()

    cli("resume", "finished")  # a person has looked: the next start runs it again
    service = restart(path, repo)
    try:
        wait(lambda: ids["finished"] in engines(service), "the resumed strategy's engine")
        wait(
            lambda: strategy("finished").actual_state is ActualState.RUNNING,
            "the resumed strategy to run",
        )
    finally:
        service.stop()
