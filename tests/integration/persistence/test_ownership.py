"""SQLite: one service per database file, the second claimant refused, a released or dead
holder's lock taken again. MySQL: no such lock (processes share it through leases), and their
config syncs take turns (`config_sync_lock`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from domain.errors import ConfigurationError
from persistence.ownership import ServiceLock, config_sync_lock


def test_a_second_service_on_the_same_database_is_refused(sqlite_url: str) -> None:
    with ServiceLock(sqlite_url), pytest.raises(ConfigurationError, match="already running"):
        ServiceLock(sqlite_url).acquire()
    # released: the next one gets it
    with ServiceLock(sqlite_url):
        pass


def test_a_lock_held_by_another_process_is_refused_and_dies_with_it(sqlite_url: str) -> None:
    db_url = sqlite_url
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from persistence.ownership import ServiceLock
                lock = ServiceLock({db_url!r}); lock.acquire()
                print("held", flush=True); time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigurationError, match="already running"):
            ServiceLock(db_url).acquire()
    finally:
        holder.kill()  # SIGKILL: the OS / server must release the lock
        holder.wait()
    with ServiceLock(db_url):
        pass


# --- MySQL: a lock that outlives its connection (issue 11 item 14) ---------------------------
@pytest.mark.mysql
def test_mysql_takes_no_service_lock_and_config_syncs_take_turns(mysql_url: str) -> None:
    with ServiceLock(mysql_url), ServiceLock(mysql_url):
        pass  # several processes share a MySQL database
    inside = threading.Event()
    order: list[str] = []

    def second() -> None:
        inside.wait(10)
        with config_sync_lock(mysql_url):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with config_sync_lock(mysql_url):
        inside.set()
        time.sleep(0.5)  # the second sync waits meanwhile (an order, not a timing check)
        order.append("first")
    thread.join(30)
    assert order == ["first", "second"]


@pytest.mark.mysql
def test_a_sync_lock_held_too_long_is_a_clear_error(mysql_url: str) -> None:
    held = config_sync_lock(mysql_url)
    with (
        held,
        pytest.raises(ConfigurationError, match="config sync"),
        config_sync_lock(mysql_url, wait_s=1),
    ):
        pass
