"""What waits for the single writer (`actors.repository`): the queue of engine steps for its
next group commit, and the backlog figures the metrics and the health check read."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka

from persistence.records import StepResult, StepWrite


@dataclass(slots=True)
class StepRequest:
    write: StepWrite
    deadline: float  # monotonic; still queued past it, the step is refused unrun
    reply: pykka.Future[StepResult]


class StepQueue:
    """Steps waiting for the writer, shared by every engine thread and the RepositoryActor
    (deque appends and pops are atomic)."""

    def __init__(self) -> None:
        self._items: deque[StepRequest] = deque()

    def put(self, request: StepRequest) -> None:
        self._items.append(request)

    def take(self, limit: int) -> list[StepRequest]:
        taken: list[StepRequest] = []
        while self._items and len(taken) < limit:
            taken.append(self._items.popleft())
        return taken

    def __len__(self) -> int:
        return len(self._items)


class WriterBacklog:
    """How much waits for the single writer, readable from any thread (the metrics scrape and
    the health check): steps queued for its next group, rows buffered for its next flush and
    messages in its mailbox. The actor updates `buffered` as its buffers change (an attribute
    store); the rest is read from the queues themselves."""

    def __init__(self, steps: StepQueue) -> None:
        self._steps = steps
        self.buffered = 0
        self.inbox: Any = None  # the writer's pykka inbox (a queue.Queue), once it exists

    def depths(self) -> dict[str, int]:
        inbox = self.inbox
        return {
            "steps": len(self._steps),
            "buffered": self.buffered,
            "mailbox": inbox.qsize() if inbox is not None else 0,
        }
