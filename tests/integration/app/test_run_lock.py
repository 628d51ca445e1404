"""`martingale run` against a database another service holds: refused before it writes."""

from __future__ import annotations

import signal
import threading
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
from persistence.ownership import ServiceLock
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from services.onboarding import sync_config
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


def test_request_stop_ends_run_with_status_1_and_releases_the_lock(tmp_path: Path) -> None:
    """What the lock's on_lost calls when another process took the database over."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    path.write_text(config_text(url, ALICE), encoding="utf-8")
    config = load_config(path)
    upgrade(url)
    engine = make_engine(url)
    try:
        sync_config(config, SqlRepository(engine), None, now=datetime.now(UTC))
    finally:
        engine.dispose()
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))

    def lose_the_lock() -> None:
        while service.root is None and not service.stopping.is_set():
            time.sleep(0.05)
        service.request_stop("the one-service lock was lost (test)")

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=lose_the_lock)
    thread.start()
    try:
        status = service.run()
    finally:
        thread.join(timeout=30)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert status == 1
    assert service.stopping.is_set()
    with ServiceLock(url):  # released: the next service may start
        pass
