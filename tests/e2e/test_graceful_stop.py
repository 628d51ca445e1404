"""SIGTERM while trading: no new order, resting orders stay on the exchange, exit 0 (issue 5,
"Graceful stop"). The busy market makes it likely that ticks arrive while the service stops,
which is exactly when an order could slip out."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from persistence.migrate import upgrade
from tests.e2e.configs import trading_config
from tests.e2e.harness import ServiceProcess, audit, launch, read_db, read_venue, wait_for


@pytest.mark.slow
def test_sigterm_places_and_cancels_nothing_and_leaves_resting_orders(
    tmp_path: Path, db_url: str, processes: list[ServiceProcess]
) -> None:
    config = trading_config(tmp_path, db_url, moving=True, name="service.yaml")
    upgrade(db_url)
    run = launch(
        ["run", "--no-web", "--config", str(config)], cwd=tmp_path, log=tmp_path / "run.log"
    )
    processes.append(run)
    run.wait_started()
    wait_for(
        lambda: len(read_db(db_url).closed_cycles()),
        lambda closed: closed >= 4,
        what="trading in full swing",
        timeout=120,
    )

    sent = datetime.now(UTC)
    assert run.stop(signal.SIGTERM) == 0, run.output()[-3000:]
    # "No new order" counts from the moment the service handled the signal: an order already
    # on its way when the signal was sent is not new. The service logs that moment.
    signalled = _signal_handled_at(run.output())
    assert signalled >= sent

    venue = read_venue(tmp_path / "var" / "paper.sqlite")
    # An order decided (its intent committed) before the signal may still reach the venue a
    # moment after it: that send was already under way. A decision taken after it may not.
    decided = {(acc, o.client_order_id): o.created_at for acc, _, o in read_db(db_url).orders}
    placed_late = [
        (account, o.client_order_id, o.created_at)
        for account, o in venue.orders
        if o.created_at is not None and o.created_at >= signalled
        if (decided.get((account, o.client_order_id)) or signalled) >= signalled
    ]
    assert placed_late == [], "orders placed after SIGTERM"
    # Not asserted (known race, see the issue note): a cancel already past the engine's guard
    # when the signal lands still reaches the venue, and on a busy market every resting order
    # may have filled by the time the venue is read.
    problems = audit(venue, read_db(db_url), unapplied_fills_ok=True)
    assert problems == [], "\n".join(problems)


def _signal_handled_at(output: str) -> datetime:
    for line in output.splitlines():
        if "signal received" in line and line.startswith("{"):
            return datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00"))
    raise AssertionError("the service did not log that it handled the signal")
