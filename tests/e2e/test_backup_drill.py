"""The restore drill: back up while `martingale run` trades, restore into a fresh database (and
venue file), verify, and trade on the restored copy.

The restored service must reconcile with the restored venue and carry every strategy on: no
client order id placed twice on the venue, the two ledgers agreeing, the invariants holding.
Timings of the backup and the restore are printed (run with -s to see them).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.configs import trading_config
from tests.e2e.harness import (
    MARTINGALE,
    ServiceProcess,
    audit,
    launch,
    read_db,
    read_venue,
    wait_for,
)


def progress(db_url: str) -> tuple[int, int]:
    db = read_db(db_url)
    return len(db.orders), len(db.closed_cycles())


def martingale(*args: str, cwd: Path) -> tuple[float, str]:
    """Run a CLI command that must succeed; (seconds, its output)."""
    started = time.monotonic()
    done = subprocess.run(
        [MARTINGALE, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, f"martingale {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return time.monotonic() - started, done.stdout


@pytest.mark.slow
def test_backup_while_trading_restores_and_trades_on(
    tmp_path: Path, db_url: str, second_db_url: str, processes: list[ServiceProcess]
) -> None:
    config = trading_config(tmp_path, db_url, moving=True, name="service.yaml")
    martingale("db", "upgrade", "--db", db_url, cwd=tmp_path)
    run = launch(
        ["run", "--no-web", "--config", str(config)], cwd=tmp_path, log=tmp_path / "run.log"
    )
    processes.append(run)
    run.wait_started()
    wait_for(lambda: progress(db_url), lambda p: p[1] >= 2, what="cycles to close", timeout=90)

    backup_s, backup_said = martingale(
        "db", "backup", "--config", str(config), "--output", str(tmp_path / "backups"), cwd=tmp_path
    )
    at_backup = progress(db_url)
    # Trading went on through the backup, and goes on after it.
    wait_for(lambda: progress(db_url), lambda p: p[0] > at_backup[0] + 5, what="more orders")
    assert run.stop(signal.SIGTERM) == 0, run.output()[-3000:]
    (archive,) = (tmp_path / "backups").glob("martingale-*.tar.gz")
    assert "with the paper venue" in backup_said

    # The copy goes somewhere else: its own database and its own venue file.
    restored = tmp_path / "restored"
    restored.mkdir()
    copy = trading_config(restored, second_db_url, moving=True, name="service.yaml")
    restore_s, said = martingale("db", "restore", str(archive), "--config", str(copy), cwd=restored)
    assert "ledger invariants hold" in said
    martingale("db", "verify", "--db", second_db_url, cwd=restored)
    venue_file = restored / "var" / "paper.sqlite"
    restored_progress = progress(second_db_url)
    db = read_db(second_db_url)
    assert restored_progress[0] >= 1 and restored_progress[0] <= at_backup[0]
    print(
        f"\nbackup {_took(backup_said)} s, restore {_took(said)} s "
        f"(whole CLI runs: {backup_s:.2f} s and {restore_s:.2f} s); {archive.stat().st_size:,} "
        f"bytes, {restored_progress[0]} orders"
    )

    # The same replay files, read from where the venue's copy left off.
    before = {o.client_order_id for _, _, o in read_db(second_db_url).orders}
    again = launch(
        ["run", "--no-web", "--config", str(copy)], cwd=restored, log=restored / "run.log"
    )
    processes.append(again)
    again.wait_started()

    def resumed() -> tuple[set[int], int]:
        """(strategies that placed an order since the restore, cycles closed)."""
        db = read_db(second_db_url)
        placed = {sid for _, sid, o in db.orders if o.client_order_id not in before}
        return placed, len(db.closed_cycles())

    wait_for(
        resumed,
        lambda seen: seen[0] == set(db.strategies) and seen[1] > restored_progress[1],
        what="every strategy of the restored copy to place orders, and a cycle to close",
        timeout=120,
    )
    assert again.stop(signal.SIGTERM) == 0, again.output()[-3000:]

    db = read_db(second_db_url)
    problems = audit(read_venue(venue_file), db, unapplied_fills_ok=True)
    assert problems == [], "\n".join(problems)  # each client order id placed once, and more
    martingale("db", "verify", "--db", second_db_url, cwd=restored)


def _took(said: str) -> str:
    """The seconds a backup or restore reports it took ("... in 0.04 s")."""
    match = re.search(r" in ([0-9.]+) s", said)
    assert match is not None, said
    return match[1]
