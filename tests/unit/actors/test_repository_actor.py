"""The single writer: buffered rows survive an outage; a batch the database refuses is dropped
instead of blocking every later write."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pykka
import pytest

from actors.repository import RepoClient, RepositoryActor
from actors.timers import TimerService
from domain.errors import DatabaseUnavailable
from persistence.memory import MemoryRepository
from persistence.records import AuditEntry, DesiredState

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


def _entry(text: str) -> AuditEntry:
    return AuditEntry(at=T0, level="info", event="test", message=text)


def test_rows_wait_out_an_outage_and_a_refused_batch_does_not_block_the_next() -> None:
    repo = _Flaky()
    timers = TimerService()
    ref = RepositoryActor.start(repo, timers, flush_interval=60)
    client = RepoClient(ref, timeout=10)
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
    ref = RepositoryActor.start(repo, timers, flush_interval=60)
    client = RepoClient(ref, timeout=0.2, grace=5)
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
