"""Leases and fencing on MySQL (issue 17): two service processes on one database, as
`persistence.leases` sees them (one SqlLeases + LeaseBook each)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from domain.errors import LeaseLost
from persistence import models as m
from persistence.database import make_engine
from persistence.lease_book import LeaseBook
from persistence.leases import SqlLeases, refused_users
from persistence.migrate import upgrade
from persistence.records import ActualState, StepWrite
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0, at, intent, onboard

pytestmark = pytest.mark.mysql


World = tuple[SqlRepository, SqlRepository, SqlLeases, SqlLeases]


@pytest.fixture
def world(mysql_url: str) -> Iterator[World]:
    """Two processes, A and B, each with its repository (fenced by its book) and leases."""
    upgrade(mysql_url)
    engines = [make_engine(mysql_url) for _ in range(2)]
    repos, leases = [], []
    for name, engine in zip("AB", engines, strict=True):
        book = LeaseBook(f"process-{name}")
        repo = SqlRepository(engine)
        repo.fence = book
        repos.append(repo)
        lease = SqlLeases(engine, book, lease_s=1.5)
        lease.register("test-host", 1, T0)
        leases.append(lease)
    try:
        yield repos[0], repos[1], leases[0], leases[1]
    finally:
        for engine in engines:
            engine.dispose()


def _step(sid: int, expected: int, new: int, leg: str = "b") -> StepWrite:
    return StepWrite(
        strategy_id=sid,
        snapshot=f'{{"v":{new}}}',
        expected_version=expected,
        new_version=new,
        now=at(new),
        new_orders=(intent(sid, 1, leg),),
    )


def _orders(repo: SqlRepository, sid: int) -> int:
    with repo._engine.connect() as conn:
        query = select(m.ORDERS.c.id).where(m.ORDERS.c.strategy_id == sid)
        return len(conn.execute(query).all())


def test_users_are_divided_and_no_user_is_held_twice(world: World) -> None:
    repo_a, _, a, b = world
    for n in range(10):
        onboard(repo_a, f"user{n}", "s")
    assert a.users() == 10 and a.beat() == 2
    got_a = a.claim(5)
    got_b = b.claim(10)  # the rest: A's rows are held
    assert len(got_a) == 5 and len(got_b) == 5
    assert not set(got_a) & set(got_b)
    assert all(token == 1 for token in [*got_a.values(), *got_b.values()])
    assert a.claim(3) == {}  # nothing free


def test_a_step_commits_only_while_its_lease_holds(world: World) -> None:
    repo_a, repo_b, a, b = world
    uid, _, sid = onboard(repo_a)
    a.users()
    # Not claimed yet: refused, nothing written.
    [outcome] = repo_a.save_steps([_step(sid, 0, 1)])
    assert isinstance(outcome, LeaseLost)
    assert _orders(repo_a, sid) == 0
    assert a.claim(1) == {uid: 1}
    [outcome] = repo_a.save_steps([_step(sid, 0, 1)])
    assert not isinstance(outcome, Exception)
    assert _orders(repo_a, sid) == 1
    # B cannot write A's user, even by a well-formed step at the right version.
    [outcome] = repo_b.save_steps([_step(sid, 1, 2, "s1")])
    assert isinstance(outcome, LeaseLost)

    # A stalls past its lease (no renewal): the database refuses it before anyone claims.
    time.sleep(1.7)
    [outcome] = repo_a.save_steps([_step(sid, 1, 2, "s1")])
    assert isinstance(outcome, LeaseLost)
    assert not a.book.valid(uid)  # its own clock says so too
    # B claims it with the next token; A, awake again, learns it lost the user.
    assert b.claim(1) == {uid: 2}
    assert a.renew() == {uid}
    assert a.book.token(uid) is None
    [outcome] = repo_b.save_steps([_step(sid, 1, 2, "s1")])
    assert not isinstance(outcome, Exception)
    assert _orders(repo_a, sid) == 2
    with pytest.raises(LeaseLost):
        repo_a.set_actual_state(sid, ActualState.DEGRADED, now=at(9))
    assert repo_a.set_actual_states({sid: (ActualState.DEGRADED, at(9), None)}) == {sid}
    assert repo_a.get_strategy(sid).actual_state is not ActualState.DEGRADED
    assert repo_b.set_actual_states({sid: (ActualState.RUNNING, at(9), None)}) == set()
    assert repo_a.get_strategy(sid).actual_state is ActualState.RUNNING
    repo_a.record_heartbeats({sid: at(20)})  # dropped, not raised: not A's strategy now
    assert repo_a.get_strategy(sid).last_heartbeat != at(20)


def test_a_renewed_lease_keeps_working_and_release_frees_it_at_once(world: World) -> None:
    repo_a, _, a, b = world
    uid, _, sid = onboard(repo_a)
    a.users()
    a.claim(1)
    for _ in range(3):
        time.sleep(0.6)
        assert a.renew() == set()
    [outcome] = repo_a.save_steps([_step(sid, 0, 1)])  # 1.8 s after the claim: renewed
    assert not isinstance(outcome, Exception)
    a.release([uid])
    [outcome] = repo_a.save_steps([_step(sid, 1, 2, "s1")])
    assert isinstance(outcome, LeaseLost)
    assert b.claim(5) == {uid: 2}  # no wait for an expiry


def test_a_claim_skips_a_lease_a_write_is_checking(world: World) -> None:
    """The fence holds the lease row share-locked to its commit: a claim of the expired row
    skips it meanwhile, so no new owner can start between the check and the commit."""
    repo_a, _, a, b = world
    uid, _, sid = onboard(repo_a)
    a.users()
    a.claim(1)
    checked, done = threading.Event(), threading.Event()

    def write() -> None:
        with repo_a._engine.begin() as conn:
            assert refused_users(conn, a.book, [sid]) == set()
            checked.set()
            done.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    assert checked.wait(10)
    time.sleep(1.6)  # the lease expires while the write is still open (a stall)
    assert b.claim(1) == {}  # expired, but locked by the write: skipped
    done.set()
    writer.join(10)
    assert b.claim(1) == {uid: 2}


def test_processes_that_stop_beating_are_forgotten(world: World) -> None:
    _, _, a, b = world
    assert a.beat() == 2
    time.sleep(1.6)
    assert a.beat() == 1  # B's row expired and was deleted
    assert b.beat() == 2  # B beats again: its row is made again
    b.unregister()
    assert a.beat() == 1


def test_in_one_group_only_the_held_users_steps_commit(world: World) -> None:
    """In one group, the held user's step commits and the other's is refused whole."""
    repo_a, _, a, _ = world
    uid1, _, sid1 = onboard(repo_a, "u1", "s")
    uid2, _, sid2 = onboard(repo_a, "u2", "s")
    a.users()
    got = a.claim(1)
    assert set(got) == {uid1}
    out = repo_a.save_steps([_step(sid1, 0, 1), _step(sid2, 0, 1)])
    assert not isinstance(out[0], Exception) and isinstance(out[1], LeaseLost)
    assert _orders(repo_a, sid1) == 1 and _orders(repo_a, sid2) == 0
    assert repo_a.get_strategy(sid2).version == 0
    assert uid2 not in a.book.tokens()


def test_a_silent_writers_locks_go_with_its_connection(mysql_url: str) -> None:
    """A process paused (SIGSTOP) inside a write keeps its transaction open; the server closes
    a connection silent for `idle_timeout_s`, and with it the locks a claim would skip."""
    upgrade(mysql_url)
    silent = make_engine(mysql_url, idle_timeout_s=2)
    other = make_engine(mysql_url)
    try:
        repo = SqlRepository(other)
        uid, _, sid = onboard(repo)
        a = SqlLeases(silent, LeaseBook("A"), lease_s=1.0)
        b = SqlLeases(other, LeaseBook("B"), lease_s=1.0)
        a.users()
        a.claim(1)
        conn = silent.connect()
        conn.begin()
        assert refused_users(conn, a.book, [sid]) == set()  # share-locked, then silence
        time.sleep(1.2)  # the lease expired, the lock is still held
        assert b.claim(1) == {}
        time.sleep(2.0)  # past the idle timeout: the server ends the session
        assert b.claim(1) == {uid: 2}
        with contextlib.suppress(Exception):  # its socket is gone
            conn.close()
    finally:
        silent.dispose()
        other.dispose()
