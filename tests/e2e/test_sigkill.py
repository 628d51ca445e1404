"""`martingale run` killed with SIGKILL at random points while trading, restarted each time.

Crash-only: every start is a recovery (load, reconcile with the venue, then act), so after any
number of kills no order may be lost or placed twice, and the strategies carry on. The kill
points are random but seeded, so a failure replays with the same delays.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from persistence.migrate import upgrade
from tests.e2e.configs import trading_config
from tests.e2e.harness import (
    ServiceProcess,
    audit,
    launch,
    read_db,
    read_venue,
    running_service,
    settle,
    wait_for,
)

KILLS = 4
SEED = 20240601


def progress(db_url: str) -> tuple[int, int]:
    """(orders placed, cycles closed) so far, all strategies together."""
    db = read_db(db_url)
    return len(db.orders), len(db.closed_cycles())


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_doubles_nothing(
    tmp_path: Path, db_url: str, processes: list[ServiceProcess]
) -> None:
    config = trading_config(tmp_path, db_url, moving=True, name="service.yaml")
    upgrade(db_url)  # `martingale db upgrade`: run never migrates an existing MySQL database
    rng = random.Random(SEED)
    args = ["run", "--no-web", "--config", str(config)]

    counts = []
    for attempt in range(KILLS):
        run = launch(args, cwd=tmp_path, log=tmp_path / f"run-{attempt}.log")
        processes.append(run)
        run.wait_started()
        time.sleep(rng.uniform(0.3, 3.0))  # the random kill point (not an assertion)
        run.stop(signal.SIGKILL, timeout=30)
        counts.append(progress(db_url))

    final = launch(args, cwd=tmp_path, log=tmp_path / "run-final.log")
    processes.append(final)
    final.wait_started()
    wait_for(
        lambda: progress(db_url),
        lambda now: now[0] >= counts[-1][0] + 10 and now[1] > counts[-1][1],
        what="the strategies to keep placing orders and closing cycles after the last restart",
        timeout=120,
    )
    assert final.stop(signal.SIGTERM) == 0, final.output()[-3000:]

    venue_file = tmp_path / "var" / "paper.sqlite"
    db = read_db(db_url)
    problems = audit(read_venue(venue_file), db, unapplied_fills_ok=True)
    assert problems == [], "\n".join(problems)
    assert counts[0][0] > 0, "nothing was traded before the first kill"
    assert len(db.orders) > counts[-1][0] > counts[0][0], counts
    assert len(db.closed_cycles()) > counts[-1][1] >= counts[0][1], counts

    # One more start, on a market that no longer moves: the start path applies whatever the
    # venue did after the engines stopped listening, and then both ledgers agree exactly.
    frozen = trading_config(tmp_path, db_url, moving=False, name="frozen.yaml")
    with running_service(frozen) as service:
        settle(service, venue_file, db_url)
    db = read_db(db_url)
    problems = audit(read_venue(venue_file), db)
    assert problems == [], "\n".join(problems)
    traded = {sid for _, sid, _ in db.fills}
    assert traded == set(db.strategies), "a strategy never traded"
