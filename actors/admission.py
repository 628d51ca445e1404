"""Admission control for engine boots, and what an engine is waiting on.

`BootGate`: at most `slots` engines run the start path (load, reconcile, first decisions) at
once, process-wide. A restart of thousands of strategies otherwise floods the single writer with
thousands of boot commits; trading decisions of strategies already running queue behind them,
and callers time out and retry, which adds still more load (congestion collapse). With the gate
the writer queue stays short, boots go through at the writer's pace and running strategies keep
their latency.

`Liveness`: set by an engine while it waits on something that is bounded and harmless (a boot
slot, the repository). Its supervisor reads it when a heartbeat goes unanswered: an engine that
waits there is alive and queued, not stuck, and replacing it would only add to the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext


class Liveness:
    """Whether the owning engine is handling a message and since when, and what it waits on
    now (monotonic times); thread-safe because each attribute is replaced atomically.

    Its user actor reads this to tell an idle or working engine from a stuck one without
    sending it anything: an idle engine costs no CPU, not even for its heartbeat."""

    __slots__ = ("_busy", "_waiting")

    def __init__(self) -> None:
        self._busy: float | None = None
        self._waiting: tuple[str, float] | None = None

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Around the handling of one message."""
        self._busy = time.monotonic()
        try:
            yield
        finally:
            self._busy = None

    def busy_for(self) -> float | None:
        """Seconds of work on the current message since it began or since its last known wait
        ended, or None between messages.

        A boot that waited a minute for its slot has been busy for the time since it got it,
        not for the minute: otherwise the first heartbeat check after admission would find a
        healthy engine "stuck" and replace it.
        """
        started = self._busy
        return None if started is None else time.monotonic() - started

    @contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        outer = self._waiting
        self._waiting = (what, time.monotonic())
        try:
            yield
        finally:
            if outer is None and self._busy is not None:
                # Restart the work clock before the wait is seen to end: a reader that finds
                # no wait (read first, see `waiting_on`) then finds this fresh clock.
                self._busy = time.monotonic()
            self._waiting = outer

    def waiting_on(self) -> tuple[str, float] | None:
        """(what, seconds waited so far), or None when the engine is not in a known wait.

        Read this before `busy_for`: a wait that ends in between has already restarted the
        work clock."""
        current = self._waiting
        if current is None:
            return None
        return current[0], time.monotonic() - current[1]


class BootGate:
    """A counting gate whose waiters block without polling, in arrival order.

    Thousands of engines may wait here at once; a waiter that woke up every so often to see
    whether it was cancelled would cost thousands of thread wake-ups a second. Instead a
    waiter sleeps until a slot is handed to it, or until `wake_all()` (the service is
    stopping, an engine was fenced) makes every waiter check `cancelled()` once.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("boot gate needs at least one slot")
        self.slots = slots
        self._free = slots
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0

    @contextmanager
    def admit(
        self, cancelled: Callable[[], bool], *, liveness: Liveness | None = None
    ) -> Iterator[bool]:
        """Yield True once a slot is held (released on exit), or False if cancelled first.

        `liveness` shows "boot slot" while this waits (not while the slot is held)."""
        with liveness.waiting("boot slot") if liveness else nullcontext(), self._cond:
            self._waiting += 1
            try:
                while self._free == 0 and not cancelled():
                    self._cond.wait()
                admitted = not cancelled()
                if admitted:
                    self._free -= 1
                elif self._free > 0:
                    self._cond.notify()  # the wake-up this waiter got belongs to the next one
            finally:
                self._waiting -= 1
        if not admitted:
            yield False
            return
        try:
            yield True
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify()

    def wake_all(self) -> None:
        """Make every waiter check whether it was cancelled."""
        with self._cond:
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def idle(self) -> bool:
        """Nobody booting and nobody waiting to."""
        with self._cond:
            return self._waiting == 0 and self._free == self.slots
