"""The lease keeper (actors.leases) on MySQL: processes dividing users, shedding to a newcomer,
losing users after a stall, and taking a dead sibling's users at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from actors.leases import LeaseKeeper
from actors.messages import ShedUsers, UsersClaimed, UsersLost
from persistence.database import make_engine
from persistence.lease_book import LeaseBook
from persistence.leases import SqlLeases
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import onboard

pytestmark = pytest.mark.mysql


class FakeRoot(pykka.ThreadingActor):
    """Records what the keeper tells; hands shed users back at once (no actors to stop)."""

    def __init__(self) -> None:
        super().__init__()
        self.keeper: LeaseKeeper | None = None
        self.seen: list[Any] = []
        self.lock = threading.Lock()

    def on_receive(self, message: Any) -> Any:
        with self.lock:
            self.seen.append(message)
        if isinstance(message, ShedUsers) and self.keeper is not None:
            for uid in message.user_ids:
                self.keeper.release_when_stopped(uid, None)
        return None


Make = Callable[..., tuple[LeaseKeeper, FakeRoot]]


@pytest.fixture
def make(mysql_url: str) -> Iterator[Make]:
    upgrade(mysql_url)
    engine = make_engine(mysql_url)
    repo = SqlRepository(engine)
    for n in range(6):
        onboard(repo, f"user{n}", "s")
    made: list[LeaseKeeper] = []

    def build(
        name: str,
        *,
        lease_s: float = 20.0,
        host: str = "h",
        alive: Any = None,
        join_interval: float | None = None,
    ) -> tuple[LeaseKeeper, FakeRoot]:
        """Rounds only when the test calls them, unless `join_interval` is given."""
        leases = SqlLeases(engine, LeaseBook(name), lease_s=lease_s)
        keeper = LeaseKeeper(
            leases, interval=3600, host=host, alive=alive, join_interval=join_interval
        )
        ref = FakeRoot.start()
        root = ref.proxy()._actor  # the instance, to read what it saw
        root.keeper = keeper
        keeper.bind(ref)
        made.append(keeper)
        return keeper, root

    try:
        yield build
    finally:
        for keeper in made:
            keeper._stop.set()
        pykka.ActorRegistry.stop_all()
        engine.dispose()


def _of(root: FakeRoot, kind: type) -> list[int]:
    with root.lock:
        return sorted(u for m in root.seen if isinstance(m, kind) for u in m.user_ids)


def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_newcomer_gets_half_the_users_and_no_user_is_held_twice(make: Make) -> None:
    a, root_a = make("A")
    a.start()  # alone: takes all six
    assert len(a.book.tokens()) == 6
    b, root_b = make("B")
    b.start()  # share 3, but nothing is free yet
    assert b.book.tokens() == {}
    a.round()  # 6 > 3: sheds 3, released once "stopped"
    _until(lambda: a.handing_over() == 0, "A released what it shed")
    assert len(a.book.tokens()) == 3
    assert len(_of(root_a, ShedUsers)) == 3
    b.round()
    assert len(b.book.tokens()) == 3
    assert not set(a.book.tokens()) & set(b.book.tokens())
    _until(lambda: _of(root_b, UsersClaimed) == sorted(b.book.tokens()), "B's root told")
    a.round()
    b.round()  # balanced: nothing moves
    assert len(a.book.tokens()) == len(b.book.tokens()) == 3


def test_processes_started_together_balance_in_their_first_rounds(make: Make) -> None:
    """No round called by the test and a renewal interval of an hour: the join rounds alone
    move half the users from the first to start to the second."""
    a, root_a = make("A", join_interval=0.2)
    a.start()
    assert len(a.book.tokens()) == 6
    b, root_b = make("B", join_interval=0.2)
    b.start()
    _until(lambda: len(b.book.tokens()) == 3, "B holds its share")
    _until(lambda: _of(root_b, UsersClaimed) == sorted(b.book.tokens()), "B's root told")
    assert len(a.book.tokens()) == 3
    assert not set(a.book.tokens()) & set(b.book.tokens())
    assert len(_of(root_a, ShedUsers)) == 3


def test_a_process_that_stalled_past_its_leases_hears_it_lost_them(make: Make) -> None:
    a, root_a = make("A", lease_s=1.0)
    a.start()
    time.sleep(1.2)  # a stall: no renewal
    b, _ = make("B", lease_s=1.0)
    b.start()  # A's leases and its heartbeat expired: B is alone and claims all six
    assert len(b.book.tokens()) == 6
    a.round()  # awake again: the renewal finds every lease gone, and nothing is free
    _until(lambda: len(_of(root_a, UsersLost)) == 6, "A's root told of every loss")
    assert a.book.tokens() == {}
    assert not any(a.book.valid(uid) for uid in b.book.tokens())


def test_a_dead_sibling_on_this_machine_is_taken_over_without_waiting(make: Make) -> None:
    a, _ = make("A", lease_s=600.0, host="h")
    a.start()
    b, _ = make("B", lease_s=600.0, host="h", alive=lambda pid: False)
    b.start()  # A "died" (its pid is gone): its users are free at once, and B is alone
    assert len(b.book.tokens()) == 6
    c, _ = make("C", lease_s=600.0, host="elsewhere", alive=lambda pid: False)
    c.start()  # B is on another machine: never reaped, however its pid looks from here
    assert c.book.tokens() == {}
