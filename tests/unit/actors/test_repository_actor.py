"""The single writer: buffered rows survive an outage; a batch the database refuses is dropped
instead of blocking every later write."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pykka
import pytest

from actors.repository import GROUPS_BETWEEN, RepoClient, RepositoryActor
from actors.step_queue import StepQueue, StepRequest
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable, MartingaleError
from persistence.errors import VersionConflict
from persistence.memory import MemoryRepository
from persistence.records import (
    ActualState,
    AuditEntry,
    DesiredState,
    StepOutcome,
    StepResult,
    StepWrite,
)
from tests.actors.fakes import wait_until

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _Flaky(MemoryRepository):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refuse_audit = False

    def append_audit(self, entries: Sequence[AuditEntry]) -> int:
        if self.down:
            raise DatabaseUnavailable("down (test)")
        if self.refuse_audit:
            raise ValueError("audit.message: refused (test)")
        return super().append_audit(entries)


def _strategies(repo: MemoryRepository, count: int) -> list[int]:
    user = repo.upsert_user("u", now=T0)
    account = repo.upsert_account(user.id, "a", exchange="paper", now=T0)
    return [
        repo.upsert_strategy(
            user.id,
            f"s{n}",
            account_id=account.id,
            symbol="BTC/USDT",
            params={},
            desired_state=DesiredState.RUNNING,
            now=T0,
        ).id
        for n in range(count)
    ]


def _entry(text: str) -> AuditEntry:
    return AuditEntry(at=T0, level="info", event="test", message=text)


def test_rows_wait_out_an_outage_and_a_refused_batch_does_not_block_the_next() -> None:
    repo = _Flaky()
    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps)
    client = RepoClient(ref, timeout=10, steps=steps)
    try:
        proxy = ref.proxy()
        repo.down = True
        client.tell_audit([_entry("kept through the outage")])
        assert proxy.flush().get(timeout=10) == 0
        assert proxy.pending().get(timeout=10) == 1  # kept for the next try
        repo.down = False
        assert proxy.flush().get(timeout=10) == 1
        assert [r.entry.message for r in repo.recent_audit()] == ["kept through the outage"]

        repo.refuse_audit = True
        client.tell_audit([_entry("refused")])
        assert proxy.flush().get(timeout=10) == 0
        assert proxy.pending().get(timeout=10) == 0  # dropped, not retried forever
        repo.refuse_audit = False
        client.tell_audit([_entry("after")])
        assert proxy.flush().get(timeout=10) == 1
        assert {r.entry.message for r in repo.recent_audit()} == {
            "kept through the outage",
            "after",
        }
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


class _Slow(MemoryRepository):
    """`record_heartbeats` blocks until released: it stands for a write the writer is busy with."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls: list[str] = []

    def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
        self.calls.append("heartbeats")
        self.release.wait(timeout=10)

    def set_desired_state(self, strategy_id: int, state: Any, **kwargs: Any) -> None:
        self.calls.append("set_desired_state")


def test_a_write_still_queued_past_its_callers_deadline_is_refused_unrun() -> None:
    repo = _Slow()
    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps)
    client = RepoClient(ref, timeout=0.2, grace=5, steps=steps)
    try:
        busy = ref.proxy().call("record_heartbeats", {1: T0})  # occupies the writer
        with pytest.raises(DatabaseUnavailable, match="backlogged"):
            threading.Timer(0.5, repo.release.set).start()
            client.call("set_desired_state", 1, DesiredState.PAUSED, now=T0)
        busy.get(timeout=10)
        assert repo.calls == ["heartbeats"]  # the expired write never ran
        assert ref.proxy().expired.get(timeout=10) == 1
        client.call("set_desired_state", 1, DesiredState.PAUSED, now=T0)  # in time: it runs
        assert repo.calls == ["heartbeats", "set_desired_state"]
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


class _Grouping(MemoryRepository):
    """Records the size of each group; the first group waits so that others queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.gate = threading.Event()

    def save_steps(self, steps: Sequence[StepWrite]) -> list[StepOutcome]:
        if not self.sizes:
            self.gate.wait(timeout=10)
        self.sizes.append(len(steps))
        return super().save_steps(steps)


def test_steps_waiting_together_are_committed_together_and_each_gets_its_own_answer() -> None:
    repo = _Grouping()
    sids = _strategies(repo, 9)
    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps)
    client = RepoClient(ref, timeout=10, steps=steps)
    answers: dict[int, object] = {}

    def save(sid: int, expected: int) -> None:
        try:
            answers[sid] = client.save_step(
                sid, snapshot="{}", expected_version=expected, now=T0, new_version=7
            )
        except MartingaleError as exc:
            answers[sid] = exc

    try:
        first = threading.Thread(target=save, args=(sids[0], 0))
        first.start()
        wait_until(lambda: len(steps) == 0, what="the first step taken by the writer")
        # eight more arrive while the writer is busy; one of them is stale
        others = [
            threading.Thread(target=save, args=(sid, 5 if sid == sids[4] else 0))
            for sid in sids[1:]
        ]
        for t in others:
            t.start()
        wait_until(lambda: len(steps) == 8, what="eight steps queued")
        repo.gate.set()
        for t in [first, *others]:
            t.join(timeout=10)
        assert repo.sizes == [1, 8]  # the eight went in one group
        assert isinstance(answers[sids[4]], VersionConflict)
        assert repo.get_strategy(sids[4]).version == 0  # the stale step wrote nothing
        for sid in [s for s in sids if s != sids[4]]:
            result = answers[sid]
            assert isinstance(result, StepResult) and result.version == 7
            assert repo.get_strategy(sid).version == 7
        assert ref.proxy().grouped.get(timeout=10) == 9
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


def test_heartbeats_are_written_rounded_down_to_the_second() -> None:
    """Hundreds of users check at their own times; one statement per second, not per user."""
    written: list[Mapping[int, datetime]] = []

    class Recording(MemoryRepository):
        def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
            written.append(dict(beats))

    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(Recording(), timers, flush_interval=60, steps=steps)
    try:
        proxy = ref.proxy()
        proxy.heartbeats({1: T0.replace(microsecond=250_000)}).get(timeout=10)
        proxy.heartbeats({2: T0.replace(microsecond=900_000), 3: T0}).get(timeout=10)
        assert proxy.flush().get(timeout=10) == 3
        assert written == [{1: T0, 2: T0, 3: T0}]
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


def test_a_step_that_arrives_during_a_flush_waits_for_one_chunk_not_the_whole_flush() -> None:
    calls: list[str] = []
    arrived = threading.Event()

    class Recording(MemoryRepository):
        def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
            calls.append(f"beats {sorted(beats)}")
            if len(calls) == 1:  # an engine asks for a commit while the first chunk is written
                threading.Thread(target=save).start()
                wait_until(lambda: len(steps) == 1, what="the step queued")

        def save_steps(self, group: Sequence[StepWrite]) -> list[StepOutcome]:
            calls.append("steps")
            return super().save_steps(group)

    repo = Recording()
    [sid] = _strategies(repo, 1)
    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps, bulk_rows=2)
    client = RepoClient(ref, timeout=10, steps=steps)

    def save() -> None:
        client.save_step(sid, snapshot="{}", expected_version=0, now=T0, new_version=3)
        arrived.set()

    try:
        proxy = ref.proxy()
        proxy.heartbeats({n: T0 for n in range(1, 6)}).get(timeout=10)
        assert proxy.flush().get(timeout=10) == 5
        assert arrived.wait(timeout=10)
        assert calls == ["beats [1, 2]", "steps", "beats [3, 4]", "beats [5]"]
        assert repo.get_strategy(sid).version == 3
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


def test_chunks_not_written_when_the_database_goes_down_are_kept_and_written_once() -> None:
    written: list[list[int]] = []
    down = threading.Event()

    class Failing(MemoryRepository):
        def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
            if down.is_set() and written:  # the first chunk lands, then the database goes
                raise DatabaseUnavailable("down (test)")
            written.append(sorted(beats))

    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(Failing(), timers, flush_interval=60, steps=steps, bulk_rows=2)
    try:
        proxy = ref.proxy()
        proxy.heartbeats({n: T0 for n in range(1, 6)}).get(timeout=10)
        down.set()
        assert proxy.flush().get(timeout=10) == 2
        assert proxy.pending().get(timeout=10) == 3  # kept for the next flush
        down.clear()
        assert proxy.flush().get(timeout=10) == 3
        assert written == [[1, 2], [3, 4], [5]]  # each beat once
        assert proxy.pending().get(timeout=10) == 0
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


def test_a_handed_over_strategys_state_is_dropped_and_the_others_are_written() -> None:
    """Several processes on one database: a strategy whose user went to another process has
    its last state left out by the repository. It must not hold up the states of the others,
    nor be kept to retry for ever."""

    class Fenced(MemoryRepository):
        """As SqlRepository with leases: the states of strategies not held are left out."""

        lost: set[int] = set()

        def set_actual_states(self, states: Mapping[int, Any]) -> set[int]:
            super().set_actual_states({s: r for s, r in states.items() if s not in self.lost})
            return set(states) & self.lost

    repo = Fenced()
    mine, handed = _strategies(repo, 2)
    repo.lost = {handed}
    timers = TimerService()
    steps = StepQueue()
    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps)
    client = RepoClient(ref, timeout=10, steps=steps)
    try:
        proxy = ref.proxy()
        client.tell_actual_state(handed, ActualState.DEGRADED, now=T0, error="x")
        client.tell_actual_state(mine, ActualState.RUNNING, now=T0, error=None)
        assert proxy.flush().get(timeout=10) == 1
        assert proxy.pending().get(timeout=10) == 0  # nothing kept to retry
        assert repo.get_strategy(mine).actual_state is ActualState.RUNNING
        assert repo.get_strategy(handed).actual_state is not ActualState.DEGRADED
    finally:
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()


def test_a_flush_ends_under_a_steady_stream_of_steps() -> None:
    """Thousands of engines trading or booting keep the step queue from ever being empty: the
    flush serves a few groups between its parts, not until the queue is empty, so states and
    heartbeats are written (they starved while 30,000 strategies booted)."""
    calls: list[str] = []
    streaming = [200]  # each group commits while another engine queues a step

    class Streaming(MemoryRepository):
        def record_heartbeats(self, beats: Mapping[int, datetime]) -> None:
            calls.append("beats")
            super().record_heartbeats(beats)

        def save_steps(self, group: Sequence[StepWrite]) -> list[StepOutcome]:
            calls.append("steps")
            if streaming[0] > 0:
                streaming[0] -= 1
                queue_one()
            return super().save_steps(group)

    repo = Streaming()
    [sid] = _strategies(repo, 1)
    timers = TimerService()
    steps = StepQueue()

    def queue_one() -> None:
        write = StepWrite.build(sid, snapshot="{}", expected_version=0, now=T0)
        steps.put(StepRequest(write, time.monotonic() + 60, pykka.ThreadingFuture()))

    ref = RepositoryActor.start(repo, timers, flush_interval=60, steps=steps, bulk_rows=2)
    try:
        queue_one()
        proxy = ref.proxy()
        proxy.heartbeats({sid: T0}).get(timeout=10)
        assert proxy.flush().get(timeout=10) == 1
        assert repo.get_strategy(sid).last_heartbeat == T0
        assert calls.index("beats") <= 2 * GROUPS_BETWEEN  # not after the stream ran dry
        assert streaming[0] > 0
    finally:
        streaming[0] = 0
        pykka.ActorRegistry.stop_all(timeout=10)
        timers.stop()
