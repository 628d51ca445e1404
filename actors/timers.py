"""One timer thread for the whole process: pykka actors have no timers of their own.

`TimerService.call_later(delay, fn)` runs `fn` on the timer thread after `delay` seconds; the
callbacks are meant to be tiny (`actor_ref.tell(msg)`), so one thread serves thousands of
actors. Handles can be canceled. The clock is `time.monotonic`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka
import structlog

log = structlog.get_logger(__name__)


@dataclass(order=True, slots=True)
class TimerHandle:
    due: float
    seq: int
    fn: Callable[[], object] = field(compare=False)
    canceled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.canceled = True


class TimerService:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[TimerHandle] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        handle = TimerHandle(self._clock() + max(0.0, delay), next(self._seq), fn)
        with self._cond:
            heapq.heappush(self._heap, handle)
            if self._heap[0] is handle:
                self._cond.notify()
        return handle

    def tell_later(self, delay: float, ref: Any, message: object) -> TimerHandle:
        """Tell `message` to an actor after `delay`; an actor that died meanwhile is skipped."""

        def deliver() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)

        return self.call_later(delay, deliver)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        self._thread.join(timeout)

    def __len__(self) -> int:
        with self._cond:
            return sum(1 for h in self._heap if not h.canceled)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap and self._heap[0].canceled:
                        heapq.heappop(self._heap)
                        continue
                    wait = self._heap[0].due - self._clock() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopped:
                    return
                handle = heapq.heappop(self._heap)
            try:
                handle.fn()
            except Exception:  # a timer callback must never kill the timer thread
                log.exception("timer callback failed")
