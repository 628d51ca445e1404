"""SiblingLoads: one read of a user's engine states, each handed out once while fresh."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from actors.boot_loads import SiblingLoads
from domain.errors import DatabaseUnavailable


class Reader:
    def __init__(self) -> None:
        self.reads: list[list[int]] = []
        self.fail = False

    def load_engine_states(self, strategy_ids: list[int]) -> dict[int, Any]:
        self.reads.append(list(strategy_ids))
        time.sleep(0.01)  # long enough for concurrent takers to queue behind it
        if self.fail:
            raise DatabaseUnavailable("down")
        return {sid: f"state-{sid}" for sid in strategy_ids if sid != 3}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_start_reads_every_sibling_and_each_takes_its_own_once() -> None:
    reader = Reader()
    loads = SiblingLoads(reader, [1, 2, 3, 4])
    assert loads.take(2) == "state-2"
    assert reader.reads == [[1, 2, 3, 4]]
    assert [loads.take(sid) for sid in (1, 4)] == ["state-1", "state-4"]
    assert loads.take(3) is None  # the read did not find it: it reads alone
    assert loads.take(2) is None  # a second start (a restart) reads afresh
    assert loads.take(9) is None  # not a sibling of the first boot
    assert reader.reads == [[1, 2, 3, 4]] and loads.batches == 1


def test_a_state_older_than_max_age_is_read_again_with_the_siblings_still_to_start() -> None:
    reader, clock = Reader(), Clock()
    loads = SiblingLoads(reader, [1, 2, 4, 5], max_age=15, clock=clock)
    assert loads.take(1) == "state-1"
    clock.now = 15.0
    assert loads.take(2) == "state-2"  # as old as allowed: no read
    clock.now = 15.1
    assert loads.take(4) == "state-4"  # too old: 4 and 5 are read again, together
    assert reader.reads == [[1, 2, 4, 5], [4, 5]]
    assert loads.take(5) == "state-5"
    assert loads.take(4) is None and len(reader.reads) == 2
    assert loads._read == {} and loads._pending == set()  # nothing kept once all started


def test_a_failed_read_raises_and_the_next_start_reads_the_batch_again() -> None:
    reader = Reader()
    reader.fail = True
    loads = SiblingLoads(reader, [1, 2])
    with pytest.raises(DatabaseUnavailable):
        loads.take(1)
    reader.fail = False
    assert loads.take(2) == "state-2"
    assert reader.reads == [[1, 2], [1, 2]]


def test_siblings_starting_at_once_share_one_read() -> None:
    reader = Reader()
    loads = SiblingLoads(reader, range(1, 9))
    got: dict[int, Any] = {}
    start = threading.Barrier(4)

    def boot(sid: int) -> None:
        start.wait()
        got[sid] = loads.take(sid)

    threads = [threading.Thread(target=boot, args=(sid,)) for sid in (1, 2, 5, 8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert got == {sid: f"state-{sid}" for sid in (1, 2, 5, 8)}
    assert len(reader.reads) == 1
