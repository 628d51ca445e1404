"""One service per database: the second claimant is refused, a released lock can be retaken."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from domain.errors import ConfigurationError
from persistence.ownership import ServiceLock


def test_a_second_service_on_the_same_database_is_refused(db_url: str) -> None:
    with ServiceLock(db_url), pytest.raises(ConfigurationError, match="already running"):
        ServiceLock(db_url).acquire()
    # released: the next one gets it
    with ServiceLock(db_url):
        pass


def test_a_lock_held_by_another_process_is_refused_and_dies_with_it(db_url: str) -> None:
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
