"""The writer's pruning: a batch per message, decisions first, and a failure never kills the
writer (fakes: the SQL prune itself is tested in tests/integration/persistence)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pykka
import pytest

from actors.repository import RepoClient, RepositoryActor
from actors.retention import RETRY_AFTER_S, Pruning
from actors.step_queue import StepQueue
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable
from persistence.memory import MemoryRepository
from persistence.retention import PruneBatch, RetentionPolicy
from tests.actors.fakes import wait_until
from tests.unit.actors.test_repository_actor import _strategies

NOW = datetime(2024, 7, 1, tzinfo=UTC)
POLICY = RetentionPolicy(events_days=30, audit_days=None, batch_rows=10, interval_s=3600)


class _Batches:
    """A pruner with `windows` windows to go through; records what it was asked."""

    def __init__(self, windows: int, fail: BaseException | None = None) -> None:
        self.windows = windows
        self.fail = fail
        self.calls: list[tuple[str, datetime, int | None]] = []

    def batch(self, table: str, cutoff: datetime, *, from_id: int | None) -> PruneBatch:
        self.calls.append((table, cutoff, from_id))
        if self.fail is not None:
            raise self.fail
        if table != "events":  # webhook signals, pruned with the events' age: none here
            return PruneBatch(table, 0, None, 0.001)
        start = from_id or 1
        last = sum(call[0] == "events" for call in self.calls) >= self.windows
        return PruneBatch(table, 10, None if last else start + 10, 0.001)


def test_a_pass_goes_window_by_window_then_waits_for_the_interval() -> None:
    pruner = _Batches(windows=3)
    pruning = Pruning(pruner, POLICY, clock=lambda: NOW)
    steps = [pruning.step() for _ in range(4)]
    assert steps == [0.0, 0.0, 0.0, 3600]
    cutoff = NOW - timedelta(days=30)
    assert pruner.calls == [
        ("events", cutoff, None),
        ("events", cutoff, 11),
        ("events", cutoff, 21),
        ("signals", cutoff, None),
    ]
    assert pruning.passes == 1 and pruning.last is not None
    assert pruning.last.deleted == {"events": 30, "signals": 0}


@pytest.mark.parametrize(
    ("error", "wait"),
    [(DatabaseUnavailable("down (test)"), RETRY_AFTER_S), (RuntimeError("bug (test)"), 3600)],
)
def test_a_failed_batch_is_retried_later_never_raised(error: Exception, wait: float) -> None:
    pruner = _Batches(windows=3, fail=error)
    pruning = Pruning(pruner, POLICY, clock=lambda: NOW)
    assert pruning.step() == wait
    pruner.fail = None
    assert pruning.step() == 0.0  # a new pass, from the oldest row
    assert pruner.calls[-1][2] is None and pruning.passes == 0


class _Gated(_Batches):
    """Each batch waits for the test's go, so a step can be queued while a batch runs."""

    def __init__(self, windows: int) -> None:
        super().__init__(windows)
        self.running = threading.Event()
        self.go = threading.Semaphore(0)

    def batch(self, table: str, cutoff: datetime, *, from_id: int | None) -> PruneBatch:
        self.running.set()
        assert self.go.acquire(timeout=10)
        return super().batch(table, cutoff, from_id=from_id)


def test_the_writer_serves_a_step_queued_during_a_batch_before_the_next_batch() -> None:
    repo = MemoryRepository()
    (sid,) = _strategies(repo, 1)
    pruner = _Gated(windows=3)
    timers = TimerService()
    steps = StepQueue()
    pruning = Pruning(pruner, POLICY, clock=lambda: NOW, first_after_s=0)
    ref = RepositoryActor.start(repo, timers, steps=steps, pruning=pruning)
    client = RepoClient(ref, timeout=10, steps=steps)
    try:
        assert pruner.running.wait(timeout=10)  # batch 1 is running, on the writer's thread
        saved: list[int] = []
        thread = threading.Thread(
            target=lambda: saved.append(
                client.save_step(sid, snapshot="{}", expected_version=0, now=NOW, events=[]).version
            )
        )
        thread.start()
        wait_until(lambda: len(steps) == 1)  # queued while the writer is busy with batch 1
        pruner.go.release()  # batch 1 ends; the step must go before batch 2
        thread.join(timeout=10)
        assert saved == [1] and len(pruner.calls) == 1
        pruner.go.release()
        pruner.go.release()
        pruner.go.release()  # the signals' batch
        wait_until(lambda: pruning.passes == 1)
        assert len(pruner.calls) == 4
    finally:
        pruner.go.release()
        ref.stop(timeout=10)
        timers.stop()
        assert pykka.ActorRegistry.get_all() == []
