"""`martingale run` against a database another service holds: refused before it writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from domain.events import StopMode
from persistence.migrate import upgrade
from persistence.ownership import ServiceLock
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from tests.integration.app.conftest import ALICE, config_text, snapshot


# SQLite only: on MySQL a second `run` shares the users through leases (tests/e2e/test_processes).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_second_run_is_refused_before_it_syncs_anything(
    db_url: str,
    write_config: Callable[[str], Path],
    sql_repo: SqlRepository,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(db_url)
    config = write_config(config_text(db_url, ALICE))
    assert main(["onboard", "--config", str(config)]) == 0
    stop_now = ["strategy", "stop-now", "--user", "alice", "--name", "eth", "--db", db_url]
    assert main(stop_now) == 0
    capsys.readouterr()
    before = snapshot(sql_repo)

    with ServiceLock(db_url):  # what a running service holds for its whole life
        try:
            status: int | str = main(["run", "--no-web", "--config", str(config)])
        except Exception as exc:  # a traceback for the operator: still check the database
            status = repr(exc)

    assert snapshot(sql_repo) == before
    err = capsys.readouterr().err
    assert status == 1, err
    assert "already running" in err
    assert len(err.strip().splitlines()) == 1, err
    eth = next(s for s in sql_repo.list_strategies() if s.name == "eth")
    assert (eth.desired_state, eth.stop_mode) == (DesiredState.STOPPED, StopMode.CANCEL)
