"""One service per database: the second claimant is refused, a released lock can be retaken."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest
from sqlalchemy import text

from domain.errors import ConfigurationError
from persistence.ownership import LOCK_SESSION_TIMEOUT_S, ServiceLock
from tests.integration.persistence.tcp_proxy import FreezableProxy


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


# --- MySQL: a lock that outlives its connection (issue 11 item 14) ---------------------------
def _admin(mysql_url: str) -> Any:
    parts = urlsplit(mysql_url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        autocommit=True,
    )


def _holder(conn: Any, lock: ServiceLock) -> Any:
    with conn.cursor() as cur:
        cur.execute("SELECT IS_USED_LOCK(%s)", (lock._name(),))
        return cur.fetchone()[0]


def _scalar(conn: Any, sql: str, *args: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


@pytest.fixture
def admin(mysql_url: str) -> Iterator[Any]:
    conn = _admin(mysql_url)
    try:
        yield conn
    finally:
        conn.close()


def test_a_killed_lock_connection_is_replaced_and_the_lock_taken_again(
    mysql_url: str, admin: Any
) -> None:
    lost: list[str] = []
    lock = ServiceLock(mysql_url, on_lost=lost.append, keepalive_s=3600)
    with lock:
        first = lock.connection_id
        assert _holder(admin, lock) == first
        assert lock.check()  # nothing wrong: nothing changes
        assert lock.connection_id == first
        _scalar(admin, "SELECT 1")
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {first}")
        assert lock.check()
        assert lock.connection_id not in (None, first)
        assert _holder(admin, lock) == lock.connection_id
        assert lost == []
    assert _holder(admin, lock) is None  # released on exit


def test_a_lock_another_connection_took_meanwhile_calls_on_lost_once(
    mysql_url: str, admin: Any
) -> None:
    lost: list[str] = []
    lock = ServiceLock(mysql_url, on_lost=lost.append, keepalive_s=3600)
    with lock:
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {lock.connection_id}")
        thief = _admin(mysql_url)
        try:
            assert _scalar(thief, "SELECT GET_LOCK(%s, 10)", lock._name()) == 1
            thief_id = _scalar(thief, "SELECT CONNECTION_ID()")
            assert not lock.check()
            assert not lock.check()  # told once
            assert len(lost) == 1
            assert "held by another connection" in lost[0]
            assert f"({thief_id})" in lost[0] and "stop placing orders" in lost[0]
            assert _holder(admin, lock) == thief_id  # the thief keeps it
        finally:
            thief.close()


def test_the_keepalive_thread_retakes_a_lost_lock_and_reports_a_stolen_one(
    mysql_url: str, admin: Any
) -> None:
    stolen = threading.Event()
    reasons: list[str] = []

    def on_lost(reason: str) -> None:
        reasons.append(reason)
        stolen.set()

    lock = ServiceLock(mysql_url, on_lost=on_lost, keepalive_s=0.05)
    with lock:
        first = lock.connection_id
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {first}")
        # The thread takes it again by itself: wait for another connection to hold it.
        # (The server shows the new holder a moment before the thread has read its id.)
        holder = _holder(admin, lock)
        for _ in range(400):
            if holder not in (None, first) and holder == lock.connection_id:
                break
            stolen.wait(0.05)
            holder = _holder(admin, lock)
        assert holder not in (None, first)
        assert holder == lock.connection_id and not reasons
        # Now kill it and let a third connection win the race: the thread reports it.
        thief = _admin(mysql_url)
        try:
            with admin.cursor() as cur:
                cur.execute(f"KILL CONNECTION {holder}")
            assert _scalar(thief, "SELECT GET_LOCK(%s, 10)", lock._name()) == 1
            assert stolen.wait(30)
            assert len(reasons) == 1 and "held by another connection" in reasons[0]
        finally:
            thief.close()


def test_the_lock_connection_raises_its_idle_timeouts(mysql_url: str) -> None:
    with ServiceLock(mysql_url, keepalive_s=3600) as lock:
        conn = lock._conn
        assert conn is not None
        timeouts = conn.execute(
            text("SELECT @@session.wait_timeout, @@session.interactive_timeout")
        ).one()
        assert tuple(timeouts) == (LOCK_SESSION_TIMEOUT_S, LOCK_SESSION_TIMEOUT_S)


def test_a_file_lock_always_checks_true(sqlite_url: str) -> None:
    with ServiceLock(sqlite_url) as lock:
        assert lock.check()
        assert lock.connection_id is None


@pytest.mark.timeout(120)
def test_a_half_open_lock_connection_is_replaced_and_its_dead_session_ended(
    mysql_url: str, admin: Any
) -> None:
    parts = urlsplit(mysql_url)
    proxy = FreezableProxy(parts.hostname or "127.0.0.1", parts.port or 3306)
    lost: list[str] = []
    url = urlunsplit(parts._replace(netloc=f"{parts.username or 'root'}@127.0.0.1:{proxy.port}"))
    lock = ServiceLock(url, on_lost=lost.append, keepalive_s=3600, read_timeout_s=1)
    try:
        with lock:
            first = lock.connection_id
            proxy.freeze()  # the server still sees the session (and its lock) alive
            assert not lock.check()  # cannot reach the database: not ours for now
            assert _holder(admin, lock) == first and lost == []
            proxy.thaw()
            assert lock.check()  # new connection; the old session, ours, was ended
            assert lock.connection_id not in (None, first)
            assert _holder(admin, lock) == lock.connection_id
            assert lost == []
    finally:
        proxy.close()


def test_a_lock_lost_before_anyone_listens_is_told_to_the_first_listener(
    mysql_url: str, admin: Any
) -> None:
    """`run` takes the lock, then syncs the config, then builds the service: a lock lost
    during the sync must still stop the service the moment it starts listening."""
    lock = ServiceLock(mysql_url, keepalive_s=3600)
    with lock:
        with admin.cursor() as cur:
            cur.execute(f"KILL CONNECTION {lock.connection_id}")
        thief = _admin(mysql_url)
        try:
            assert _scalar(thief, "SELECT GET_LOCK(%s, 10)", lock._name()) == 1
            assert not lock.check()  # lost while nobody listens yet
            heard: list[str] = []
            lock.notify_on_lost(heard.append)
            assert len(heard) == 1 and "held by another connection" in heard[0]
        finally:
            thief.close()
